"""The soak benchmark (benchmarks/soak.py) runs and reports; the long run is not a test.

Twenty seconds of reads, keyed writes and subscriptions against a gateway process, faults
injected, Cloud Billing creates made upstream and answered too late, and the gateway killed
mid-write and started again, the upstreams keeping 50 of the run's invoices each: no
non-200 answer, every acknowledged write is exactly one
upstream record (no duplicate, none unacknowledged), the late creates were answered
WRITE_OUTCOME_UNKNOWN, every subscription received every event published once all were
subscribed again, and the RSS figures are printed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys


def test_a_short_soak_with_unknown_outcomes_and_a_kill_runs_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.35", "--report-every", "6",
         "--readers", "2", "--writers", "2", "--subscriptions", "3", "--fault-every", "4",
         "--fault-seconds", "2", "--unknown-every", "3", "--kill-at", "4",
         "--cloud-timeout", "1", "--ledger", "50"],
        capture_output=True, text=True, timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert re.search(r"non-200 0,", out), out
    injected = re.search(r"unknown outcomes injected (\d+), gateway kills (\d+); write answers "
                         r"by error code (\{.*\})", out)
    assert injected and int(injected.group(1)) >= 1 and injected.group(2) == "1", out
    assert ast.literal_eval(injected.group(3)).get("WRITE_OUTCOME_UNKNOWN", 0) >= 1, out
    acknowledged = re.search(r"writes acknowledged (\{.*?\}) in", out)
    records = re.search(r"upstream records (\{.*?\}) \(with those archived\); duplicates 0, "
                        r"records never acknowledged 0", out)
    assert acknowledged and records and acknowledged.group(1) == records.group(1), out
    assert "'cloud': 0" not in acknowledged.group(1), out
    seen = re.search(r"events: (\d+) published once all were subscribed, missed per "
                     r"subscription max 0;", out)
    assert seen and int(seen.group(1)) > 0, out
    assert out.count(" MB") >= 3, out  # RSS at start, during, at the end
