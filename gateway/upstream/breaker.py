"""A circuit breaker per source: stop calling an upstream that keeps failing.

Closed: calls go through; `failures` failed calls in a row open it. Open: calls are
refused at once for `open_seconds`. Then it half-opens: exactly one probe call goes
through; its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        open_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self.threshold = failures
        self.open_seconds = open_seconds
        self._clock = clock
        self._on_change = on_change
        self.state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open state: only the one probe)."""
        if self.state == "closed":
            return True
        if self.state == "open":
            if self._clock() < self._opened_at + self.open_seconds:
                return False
            self._set("half_open")
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_in(self) -> float:
        """Seconds until the next probe may go out."""
        return max(0.0, self._opened_at + self.open_seconds - self._clock())

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        if self.state != "closed":
            self._set("closed")

    def failure(self) -> None:
        self._probing = False
        self._failures += 1
        if self.state == "half_open" or self._failures >= self.threshold:
            self._opened_at = self._clock()
            if self.state != "open":
                self._set("open")

    def abandon(self) -> None:
        """A call that ended with neither verdict (cancelled): let another probe go."""
        self._probing = False

    def _set(self, state: State) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)
