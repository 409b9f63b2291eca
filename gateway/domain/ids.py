"""Opaque global ids and cursors.

A global id names a type, a source and the upstream's own id:
base64url("Invoice:erp:02000274112739"). A cursor names a position in a paged list:
base64url("c1|<source>|<offset>|<query fingerprint>"); in an ordered list
base64url("o1|<JSON of the record's total-order key>|<fingerprint>"). Both are opaque to
clients; a forged or malformed one raises `InvalidGlobalId` / `InvalidCursor`
(gateway/errors.py) with a message saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gateway.errors import InvalidCursor, InvalidGlobalId

TYPE_NAMES = frozenset({"Invoice", "Customer", "Vendor", "Payment"})
# An ordered cursor holds a sort key: a descending NUMBER is one integer per character,
# so it may be longer than an id or an offset cursor.
ORDERED_CURSOR_LIMIT = 8192


@dataclass(frozen=True)
class GlobalId:
    type_name: str
    source: str
    remote_id: str

    def encode(self) -> str:
        return _b64(f"{self.type_name}:{self.source}:{self.remote_id}")


@lru_cache(maxsize=4096)
def encode_id(type_name: str, source: str, remote_id: str) -> str:
    # Every record served gets its id encoded (whether or not `id` is selected); the same
    # records are served again and again, so the encodings are kept. 4,096 holds several
    # largest pages (500) of every type; 16,384 held 6 MB when full and filled slowly at a
    # write rate, which read as growth over a 30-minute soak (docs/performance.md).
    return _b64(f"{type_name}:{source}:{remote_id}")


def decode_id(value: str, expect: str | None = None) -> GlobalId:
    """Decode a global id; `expect` names the type it must be."""
    text = _unb64(value)
    parts = text.split(":", 2) if text is not None else []
    if len(parts) != 3 or parts[0] not in TYPE_NAMES or not parts[1] or not parts[2]:
        raise InvalidGlobalId(f"{value!r} is not a valid id")
    gid = GlobalId(*parts)
    if expect is not None and gid.type_name != expect:
        raise InvalidGlobalId(f"{value!r} is the id of a {gid.type_name}, not of a {expect}")
    return gid


@dataclass(frozen=True)
class Cursor:
    source: str
    offset: int
    fingerprint: str

    def encode(self) -> str:
        return _b64(f"c1|{self.source}|{self.offset}|{self.fingerprint}")


def decode_cursor(value: str, fingerprint: str) -> Cursor:
    """Decode an `after` cursor issued for the list whose query has `fingerprint`."""
    text = _unb64(value)
    parts = text.split("|") if text is not None else []
    if len(parts) != 4 or parts[0] != "c1" or not parts[2].isdigit():
        raise InvalidCursor(f"{value!r} is not a valid cursor")
    if parts[3] != fingerprint:
        raise InvalidCursor(
            f"cursor {value!r} belongs to a different list or filter; "
            "page with the same arguments that produced it"
        )
    return Cursor(parts[1], int(parts[2]), parts[3])


def encode_ordered_cursor(key: Sequence[Any], fingerprint: str) -> str:
    """A cursor of an ordered list: the total-order key of the record it follows (its
    sort key, its source's place, its place in that source's stable order), as JSON."""
    return _b64(f"o1|{json.dumps(key, separators=(',', ':'))}|{fingerprint}")


def decode_ordered_cursor(value: str, fingerprint: str) -> tuple[Any, ...]:
    """The key an ordered cursor carries (JSON arrays back as tuples, so that it compares
    with the keys of records); `InvalidCursor` for anything this gateway did not issue."""
    text = _unb64(value, ORDERED_CURSOR_LIMIT)
    head, _, rest = (text or "").partition("|")
    body, _, given = rest.rpartition("|")
    try:
        key = _frozen(json.loads(body)) if head == "o1" else None
    except ValueError:
        key = None
    if not isinstance(key, tuple):
        raise InvalidCursor(f"{value!r} is not a valid cursor of an ordered list")
    if given != fingerprint:
        raise InvalidCursor(
            f"cursor {value!r} belongs to a different list, filter or order; "
            "page with the same arguments that produced it"
        )
    return key


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError("a cursor key holds only arrays, integers and strings")


def fingerprint(*parts: object) -> str:
    """A short, stable digest of what defines a list (its resource and filter)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(value: str, limit: int = 1024) -> str | None:
    if not value or len(value) > limit:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
