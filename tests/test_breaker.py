"""The circuit breaker's states on a fake clock: closed, open, one half-open probe, closed."""

from __future__ import annotations

from gateway.upstream.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_failures_in_a_row_and_probes_once():
    clock = Clock()
    changes: list[str] = []
    breaker = CircuitBreaker(3, 10, clock=clock, on_change=changes.append)
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success resets the run
    breaker.failure()
    breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.retry_in() == 10
    clock.now += 10
    assert breaker.allow(), "the probe"
    assert breaker.state == "half_open"
    assert not breaker.allow(), "only one probe at a time"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]


def test_an_abandoned_probe_lets_another_go():
    clock = Clock()
    breaker = CircuitBreaker(1, 5, clock=clock)
    breaker.failure()
    clock.now += 5
    assert breaker.allow()
    breaker.abandon()  # the probe was cancelled: no verdict
    assert breaker.allow()
