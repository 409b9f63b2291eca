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
- A client's JSON (a GraphQL request body, `variables` or `extensions` of a GET) is read by
  `loads_request` alone: the same reading, but anything that is not JSON, not UTF-8, or
  nested deeper than `MAX_REQUEST_DEPTH` is one `RequestJSONError` naming what was wrong, so
  no parser's RecursionError or UnicodeDecodeError ever reaches the caller.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

from gateway.errors import RequestJSONError

_DECODER = msgspec.json.Decoder()
# Nesting a GraphQL request needs (input objects in variables) stays far below this; graphql-
# core's variable coercion and the parsers themselves recurse once per level.
MAX_REQUEST_DEPTH = 64
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


def loads_request(data: bytes | str, max_depth: int = MAX_REQUEST_DEPTH) -> Any:
    """Parse JSON a client sent; `RequestJSONError` for text that is not UTF-8, not JSON,
    or nested deeper than `max_depth` arrays and objects."""
    try:
        value = loads(data)
    except RecursionError:
        raise RequestJSONError(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise RequestJSONError(f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RequestJSONError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    # Only text with more openers than the cap can be nested that deep: most never walk.
    openers = (data.count(b"[") + data.count(b"{") if isinstance(data, bytes)
               else data.count("[") + data.count("{"))
    if openers > max_depth and _depth(value) > max_depth:
        raise RequestJSONError(f"JSON nested deeper than {max_depth} levels")
    return value


def _depth(value: Any) -> int:
    """How many arrays and objects deep `value` goes (without recursing)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children
                         if isinstance(child, dict | list))
    return deepest
