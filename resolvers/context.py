"""The per-request context: the caller's identity, the adapters it may read, and this
request's loaders and errors."""

from __future__ import annotations

from collections.abc import Mapping

import strawberry
from graphql import GraphQLError
from strawberry.fastapi import BaseContext

from gateway.adapters import Adapter
from gateway.config import LimitsConfig
from gateway.domain.identity import Identity
from gateway.errors import SourceForbidden, UnknownSource
from gateway.events.hub import EventHub
from gateway.lists.loaders import Loaders
from gateway.upstream.scope import current_scope
from gateway.writes.exactly_once import ANONYMOUS, Writes


class Context(BaseContext):
    """Made fresh for every request by the app's context getter.

    `adapters` holds only the sources the caller may read, so lists and `sources` cover
    just those; `adapter(name)` tells an unknown source (bad input) from one the caller
    may not use (`FORBIDDEN`). Writes check `identity.may_write` (resolvers/mutations.py).
    """

    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        writes: Writes | None = None,
        identity: Identity | None = None,
        limits: LimitsConfig | None = None,
        events: EventHub | None = None,
    ) -> None:
        super().__init__()
        self.configured = adapters
        self.writes = writes
        self.limits = limits or LimitsConfig()
        # Process-wide: where subscriptions subscribe (None where events are not wired).
        self.events = events
        self.use_identity(identity or Identity.unrestricted(adapters, ANONYMOUS))
        # Errors from parts of a field that failed while the rest succeeded (one source of
        # a list); the error extension adds them to the response.
        self.partial_errors: list[GraphQLError] = []

    def use_identity(self, identity: Identity) -> None:
        """Act for `identity` (a WebSocket learns its caller only from `connection_init`)."""
        self.identity = identity
        self.adapters = {
            name: adapter
            for name, adapter in self.configured.items()
            if identity.may_read(name)
        }
        # Who is asking: scopes idempotency keys per client.
        self.caller = identity.client
        previous = getattr(self, "loaders", None)
        self.loaders = Loaders(self.adapters)
        if previous is not None:
            previous.release()
        # Released when the request has been answered (for a WebSocket: when it closes).
        scope = current_scope()
        if scope is not None:
            scope.at_end(self.release)

    def release(self) -> None:
        """Drop the records this request's loaders hold (gateway.lists.loaders.Loaders.release)."""
        self.loaders.release()

    def adapter(self, source: str) -> Adapter:
        """The adapter of a source the caller may read; `SourceForbidden` for a configured
        source it may not, `UnknownSource` otherwise."""
        adapter = self.adapters.get(source)
        if adapter is not None:
            return adapter
        if source in self.configured:
            raise SourceForbidden(
                f"client {self.identity.client!r} may not read source {source!r}"
            )
        known = ", ".join(self.adapters) or "none"
        raise UnknownSource(f"unknown source {source!r}; configured: {known}")


# What every resolver receives (strawberry.Info with our context).
Info = strawberry.Info[Context, None]
