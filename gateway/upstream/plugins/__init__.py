"""Opt-in speed tricks at one seam of the upstream client: `UpstreamPlugin`.

A plug-in sees a served HTTP request begin and end (the front door), a GraphQL request let
in (its caller known, its body read), and each upstream read and call the request causes
(`SourceClient`). The app builds the list from the configuration at start-up
(`gateway.app.upstream_plugins`: `early_reads: true` adds `EarlyReads`, `gc_pacing: true`
adds `GcPacer`) and hands the same list to the front door and to every `SourceClient`; with
both switches off (the default) the list is empty and no hook runs. The plain path is that
empty list.

A plug-in keeps what it knows of one request in its own typed slot of the request's scope
(`RequestScope.slot`), and what it knows of the process on itself: none is a module-level
singleton, so two apps in one process (the tests) never share one.

Every hook has a default that does nothing: a plug-in overrides the ones it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.upstream.scope import RequestScope

# One read: source name, path and its parameters (in the order the adapter gave them).
Read = tuple[str, str, tuple[tuple[str, Any], ...]]
# A source's read, callable on its own (`SourceClient.read`): path and parameters.
Reader = Callable[[str, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Admission:
    """A GraphQL request let in by the front door: who sent it and what it asks."""

    client: str | None  # the caller's client name
    method: str  # POST (the body is the request) or GET (the query string is)
    payload: bytes
    readers: Mapping[str, Reader]  # the reads of the sources this caller may read


class UpstreamPlugin:
    """Hooks around requests and their upstream calls (all optional)."""

    def request_started(self, scope: RequestScope) -> None:
        """An HTTP request begins being served (not a WebSocket: it lives as long as its
        subscriptions)."""

    async def request_admitted(self, scope: RequestScope, admission: Admission) -> bool:
        """A GraphQL request was let in. True: work was started for it that should leave
        now (the front door then lets the event loop turn once)."""
        return False

    def request_finished(self, scope: RequestScope) -> None:
        """The HTTP request of `request_started` has been answered (or failed)."""

    def joined(self, scope: RequestScope, read: Read) -> asyncio.Future[Any] | None:
        """A read is about to be made for the request: a read already under way whose
        answer it should take instead, or None (the read is then made as usual)."""
        return None

    def replied(self, scope: RequestScope) -> None:
        """An upstream read of the request has been answered, or a write made."""

    def before_call(self, scope: RequestScope | None) -> None:
        """An upstream call starts waiting on the network (for `scope`'s request, if any)."""

    def after_call(self, scope: RequestScope | None) -> None:
        """The wait of `before_call` is over (answered, failed or cancelled)."""


__all__ = ["Admission", "Read", "Reader", "UpstreamPlugin"]
