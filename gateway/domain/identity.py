"""The caller as the rest of the gateway sees it: a client name and the sources it may read
and write. Who the caller is gets decided at the front door (`gateway.web.access`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """The caller: a client name and the sources it may read and write."""

    client: str
    readable: frozenset[str]
    writable: frozenset[str]

    def may_read(self, source: str) -> bool:
        return source in self.readable

    def may_write(self, source: str) -> bool:
        return source in self.writable

    @classmethod
    def unrestricted(cls, sources: Iterable[str], client: str = "anonymous") -> Identity:
        names = frozenset(sources)
        return cls(client, names, names)
