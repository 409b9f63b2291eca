"""The soak benchmark (benchmarks/soak.py) runs and reports; the long run is not a test.

Fifteen seconds of reads, keyed writes and subscriptions against a gateway process, faults
injected: no non-200 answer, every acknowledged write is exactly one upstream record, every
subscription received every event, and the RSS figures are printed."""

from __future__ import annotations

import re
import subprocess
import sys


def test_a_short_soak_runs_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.25", "--report-every", "5",
         "--readers", "2", "--writers", "1", "--subscriptions", "3", "--fault-every", "4",
         "--fault-seconds", "2"],
        capture_output=True, text=True, timeout=180,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert re.search(r"non-200 0,", out), out
    acknowledged = re.search(r"writes acknowledged (\{.*?\}) in", out)
    records = re.search(r"upstream records (\{.*?\})", out)
    assert acknowledged and records and acknowledged.group(1) == records.group(1), out
    assert "'billing': 0" not in acknowledged.group(1), out
    seen = re.search(r"events: (\d+) published and seen; received per subscription min "
                     r"(\d+), max (\d+)", out)
    assert seen and int(seen.group(1)) > 0 and len(set(seen.groups())) == 1, out
    assert out.count(" MB") >= 3, out  # RSS at start, during, at the end
