"""`open_state(url)`: the state store a configured URL names."""

from __future__ import annotations

from gateway.state.base import STATE_TIMEOUT, StateStore
from gateway.state.sqlite import SqliteState


def open_state(url: str, timeout: float = STATE_TIMEOUT) -> StateStore:
    """The state store a configured URL names: `sqlite:///PATH` (or `sqlite:///:memory:`),
    or `postgresql://...` (`postgres://` too) for replicas sharing one database. `timeout`
    bounds each operation (connecting and waiting for a connection included)."""
    if url.startswith("sqlite:///"):
        return SqliteState(url.removeprefix("sqlite:///"), timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.state.postgres import PostgresState

        return PostgresState(url, timeout=timeout)
    scheme = url.split(":", 1)[0]
    raise ValueError(f"state store {scheme}:// is not supported by this build")
