"""JSON in and out of the gateway: fast libraries where they can, the standard library where
they cannot.

Decoding an upstream page of 100 invoices (~90 kB) took 0.54 ms with `json.loads` and about
0.23 ms with orjson or msgspec on the benchmark machine, on the critical path of every cold
query; encoding responses is cheaper in the same proportion.

- Reading is msgspec's (a maintained C library with wheels for every platform the gateway
  runs on). Up to 0.2.3 it was orjson's, which reads an integer beyond 64 bits as a float,
  silently losing digits (ijl/orjson#308), so every text was first searched for a run of 19
  or more digits (~0.07 ms per 90 kB page, a third of the decode). msgspec reads such an
  integer exactly. What it refuses and JSON as Python reads it allows (NaN and Infinity,
  numbers beyond a double, lone surrogates, text that is not UTF-8) goes to the standard
  library, so what the gateway reads is exactly what it was with `json` alone.
- Writing is orjson's, with the standard library for what it cannot encode (integers beyond
  64 bits, keys that are not strings).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

_DECODER = msgspec.json.Decoder()
_REFUSED = (msgspec.DecodeError, UnicodeDecodeError)  # ValidationError is a DecodeError


def loads(data: bytes | str) -> Any:
    """Parse JSON text; ValueError (json.JSONDecodeError) for text that is not JSON."""
    try:
        return _DECODER.decode(data)
    except _REFUSED:
        return json.loads(data)  # what msgspec refuses but JSON allows, or the same error


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of `value`."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a big int, a non-str key, a subclass it skips
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
