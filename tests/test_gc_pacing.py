"""Garbage collection paced to the moments every request waits on an upstream
(gateway.upstream.plugins.gcpace).

The unit tests drive a pacer of their own through its plug-in hooks, without `enable()`
(which changes the process's thresholds); the last test serves queries in a child process
with the pacer the app builds for `gc_pacing: true`, enabled as the serving command does."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.upstream.plugins import gcpace
from gateway.upstream.plugins.gcpace import WAITS, GcPacer
from gateway.upstream.scope import RequestScope


class Node:
    other: Node


def cyclic_garbage(count: int) -> list[weakref.ref[Node]]:
    """`count` pairs of objects that only the cycle collector can free."""
    refs = []
    for _ in range(count):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
    return refs


def enabled_pacer() -> GcPacer:
    pacer = GcPacer()
    pacer.enabled = True  # without enable(): leave the test process's thresholds alone
    return pacer


@contextmanager
def served(pacer: GcPacer, scope: RequestScope) -> Iterator[None]:
    """One HTTP request served, as the front door reports it."""
    pacer.request_started(scope)
    try:
        yield
    finally:
        pacer.request_finished(scope)


@contextmanager
def waiting(pacer: GcPacer, scope: RequestScope | None) -> Iterator[None]:
    """One upstream call's network wait, as `SourceClient` reports it."""
    pacer.before_call(scope)
    try:
        yield
    finally:
        pacer.after_call(scope)


def waits(scope: RequestScope) -> int:
    slot = scope.slot(WAITS)
    assert slot is not None
    return slot.count


async def settle() -> None:
    await asyncio.sleep(gcpace.DELAY * 5)


async def test_collects_while_the_only_request_waits_on_its_upstream() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    gc.disable()  # only the pacer may collect here
    try:
        with served(pacer, scope):
            refs = cyclic_garbage(gcpace.WORTH_COLLECTING)
            with waiting(pacer, scope):
                assert pacer.serving == 0
                await settle()
            assert pacer.serving == 1
    finally:
        gc.enable()
    assert pacer.collections == 1
    assert all(ref() is None for ref in refs)


async def test_never_while_another_request_is_being_served() -> None:
    pacer, idle, busy = enabled_pacer(), RequestScope(), RequestScope()
    gc.disable()
    try:
        with served(pacer, busy), served(pacer, idle):
            refs = cyclic_garbage(gcpace.WORTH_COLLECTING)
            with waiting(pacer, idle):
                assert pacer.serving == 1
                await settle()
            assert all(ref() is not None for ref in refs)  # (automatic collection is off)
    finally:
        gc.enable()
    assert pacer.collections == 0


async def test_a_request_busy_again_before_the_delay_is_not_interrupted() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    gc.disable()
    try:
        with served(pacer, scope):
            cyclic_garbage(gcpace.WORTH_COLLECTING)
            with waiting(pacer, scope):
                pass  # the reply came back at once
            await settle()  # the scheduled collection finds the request busy
    finally:
        gc.enable()
    assert pacer.collections == 0


async def test_parallel_calls_of_one_request_count_it_waiting_once() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    with served(pacer, scope):
        with waiting(pacer, scope):
            with waiting(pacer, scope):
                assert (pacer.serving, waits(scope)) == (0, 2)
            assert (pacer.serving, waits(scope)) == (0, 1)
        assert (pacer.serving, waits(scope)) == (1, 0)
    assert pacer.serving == 0


async def test_calls_outside_a_served_request_change_nothing() -> None:
    pacer = enabled_pacer()
    with served(pacer, RequestScope()):
        for scope in (None, RequestScope()):  # a background call; a scope not served here
            with waiting(pacer, scope):
                assert pacer.serving == 1
    assert pacer.serving == 0


async def test_too_little_garbage_is_not_worth_a_collection() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    gc.collect()
    with served(pacer, scope), waiting(pacer, scope):
        await settle()
    assert pacer.collections == 0


def test_due_generation_follows_cpythons_policy() -> None:
    thresholds = gc.get_threshold()
    try:
        gc.collect()
        gc.set_threshold(100_000, 2, 1_000_000)
        assert gcpace.due_generation() == 0
        gc.collect(0)
        gc.collect(0)  # two young collections: the middle generation is due
        assert gcpace.due_generation() == 1
    finally:
        gc.set_threshold(*thresholds)


CHILD = textwrap.dedent("""
    import asyncio, gc
    from gateway.cli.main import tune_gc
    from gateway.upstream.plugins.gcpace import GcPacer
    from gateway.simulators.runner import BackgroundSimulators
    from tests.conftest import gateway_app, open_gateway, sim_control

    QUERY = '{ invoices(first: 50, filter: {sources: ["billing"]}) { nodes { number } } }'

    async def main(group):
        sim_control(group.running["invoicematic"], "PUT", "/_sim/latency", {"ms": 30})
        app = gateway_app(group, {"gc_pacing": True})
        [pacer] = [p for p in app.state.plugins if isinstance(p, GcPacer)]
        async with open_gateway(app) as gateway:
            tune_gc(app.state.plugins)
            assert pacer.enabled
            for _ in range(12):
                body = await gateway.query(QUERY)
                assert not body.get("errors"), body
            assert pacer.serving == 0, pacer.serving
            print("ok", pacer.collections)

    background = BackgroundSimulators()
    try:
        asyncio.run(main(background.start()))
    finally:
        background.stop()
""")


def test_a_served_query_is_collected_while_it_waits() -> None:
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    status, collections = result.stdout.split()
    assert status == "ok"
    assert int(collections) >= 1, result.stdout


def test_the_app_builds_a_pacer_only_when_switched_on(simulators) -> None:
    from tests.conftest import gateway_app

    thresholds = gc.get_threshold()
    assert not any(isinstance(p, GcPacer) for p in gateway_app(simulators).state.plugins)
    on = gateway_app(simulators, {"gc_pacing": True})
    [pacer] = [p for p in on.state.plugins if isinstance(p, GcPacer)]
    # Its own, per app (no process-wide singleton), and nothing process-wide changed yet:
    # only the serving command's `tune_gc` enables it.
    other = gateway_app(simulators, {"gc_pacing": True}).state.plugins
    assert pacer not in other and any(isinstance(p, GcPacer) for p in other)
    assert not pacer.enabled and gc.get_threshold() == thresholds
