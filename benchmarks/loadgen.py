"""Load generation with wrk (Debian's `wrk` package): bounded in time, 127.0.0.1 only."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
# Several bodies: each request takes the next one in turn (per wrk thread).
MANY = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{ {bodies} }}
local sent = 0
function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[(sent % #bodies) + 1])
end
"""
# A 200 answer whose body carries GraphQL errors is a failed response too (wrk itself counts
# only statuses); the total is printed as "GraphQL errors: N".
COUNT_ERRORS = """\
errors = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
sample = ""
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    if status == 200 then
      errors = errors + 1
    end
    if sample == "" then
      sample = status .. " " .. string.sub(string.gsub(body, "%s+", " "), 1, 300)
    end
  end
end
function done(summary, latency, requests)
  local total = 0
  local first = ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("errors")
    if first == "" then
      first = thread:get("sample")
    end
  end
  io.write(string.format("GraphQL errors: %d\\n", total))
  if first ~= "" then
    io.write("First failed answer: " .. first .. "\\n")
  end
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    failed_sample: str = ""  # the first failed answer: status and the start of its body


def lua_script(payload: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """The wrk script posting `payload` (or several payloads in turn), counting answers
    with GraphQL errors."""
    # A JSON string is also a valid Lua string literal for the ASCII bodies used here.
    if isinstance(payload, dict):
        head = SCRIPT.format(body=json.dumps(json.dumps(payload)))
    else:
        head = MANY.format(bodies=", ".join(json.dumps(json.dumps(p)) for p in payload))
    return head + COUNT_ERRORS


def parse_wrk(output: str) -> Load:
    """The figures of `wrk --latency` output."""

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if match is None:
            raise ValueError(f"wrk output has no {percent}% latency line:\n{output}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    done = re.search(r"^\s*(\d+) requests in", output, re.M)
    if rate is None or done is None:
        raise ValueError(f"wrk output has no request rate:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if socket is not None:
        errors += sum(int(n) for n in socket.groups())
    graphql = re.search(r"^GraphQL errors: (\d+)", output, re.M)
    if graphql is not None:
        errors += int(graphql.group(1))
    sample = re.search(r"^First failed answer: (.*)$", output, re.M)
    return Load(float(rate.group(1)), latency("50"), latency("99"), int(done.group(1)), errors,
                sample.group(1) if sample else "")


def run_wrk(wrk: str, url: str, payload: dict[str, Any] | Sequence[dict[str, Any]], *,
            seconds: float, clients: int, threads: int = 1) -> Load:
    """`clients` keep-alive connections posting `payload` (or several in turn) for
    `seconds`. `Load.errors` counts every failed response: non-2xx, socket errors and
    answers with GraphQL errors."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("load is only ever generated against 127.0.0.1")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(lua_script(payload))
        duration = max(1, round(seconds))
        result = subprocess.run(
            [wrk, f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--latency",
             "--timeout", "10s", "-s", str(script), url],
            capture_output=True, text=True, timeout=duration + 30,
        )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr.strip()}")
    return parse_wrk(result.stdout)
