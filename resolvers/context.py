"""The per-request context: process-wide adapters, and this request's loaders and errors."""

from __future__ import annotations

from collections.abc import Mapping

from graphql import GraphQLError
from strawberry.fastapi import BaseContext

from gateway.adapters import Adapter
from gateway.event_hub import EventHub
from gateway.loaders import Loaders
from gateway.writes import ANONYMOUS, Writes


class Context(BaseContext):
    """Made fresh for every request by the app's context getter."""

    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        writes: Writes | None = None,
        caller: str = ANONYMOUS,
        events: EventHub | None = None,
    ) -> None:
        super().__init__()
        self.adapters = adapters
        self.writes = writes
        # Who is asking: scopes idempotency keys (the access layer names the client).
        self.caller = caller
        # Process-wide: where subscriptions subscribe (None where events are not wired).
        self.events = events
        self.loaders = Loaders(adapters)
        # Errors from parts of a field that failed while the rest succeeded (one source of
        # a list); the error extension adds them to the response.
        self.partial_errors: list[GraphQLError] = []

    def adapter(self, source: str) -> Adapter:
        """The adapter of a configured source; `UnknownSource` otherwise."""
        try:
            return self.adapters[source]
        except KeyError:
            known = ", ".join(self.adapters) or "none"
            raise UnknownSource(f"unknown source {source!r}; configured: {known}") from None


class UnknownSource(LookupError):
    """A source name that is not in the configuration."""
