"""Garbage collection paced to the moments every request waits on an upstream (gateway.upstream.gcpace).

The unit tests drive a pacer of their own (the process-wide one is enabled only in serving
processes); the last test runs a served query in a child process with the real one."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import weakref

from gateway.upstream import gcpace
from gateway.upstream.gcpace import GcPacer
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


async def settle() -> None:
    await asyncio.sleep(gcpace.DELAY * 5)


async def test_collects_while_the_only_request_waits_on_its_upstream() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    gc.disable()  # only the pacer may collect here
    try:
        with pacer.request(scope):
            refs = cyclic_garbage(gcpace.WORTH_COLLECTING)
            with pacer.waiting(scope):
                assert pacer.serving == 0
                await settle()
            assert pacer.serving == 1
    finally:
        gc.enable()
    assert pacer.collections == 1
    assert all(ref() is None for ref in refs)


async def test_never_while_another_request_is_being_served() -> None:
    pacer, waiting, busy = enabled_pacer(), RequestScope(), RequestScope()
    gc.disable()
    try:
        with pacer.request(busy), pacer.request(waiting):
            refs = cyclic_garbage(gcpace.WORTH_COLLECTING)
            with pacer.waiting(waiting):
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
        with pacer.request(scope):
            cyclic_garbage(gcpace.WORTH_COLLECTING)
            with pacer.waiting(scope):
                pass  # the reply came back at once
            await settle()  # the scheduled collection finds the request busy
    finally:
        gc.enable()
    assert pacer.collections == 0


async def test_parallel_calls_of_one_request_count_it_waiting_once() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    with pacer.request(scope):
        with pacer.waiting(scope):
            with pacer.waiting(scope):
                assert (pacer.serving, scope.upstream_waits) == (0, 2)
            assert (pacer.serving, scope.upstream_waits) == (0, 1)
        assert (pacer.serving, scope.upstream_waits) == (1, 0)
    assert pacer.serving == 0


async def test_calls_outside_a_served_request_change_nothing() -> None:
    pacer = enabled_pacer()
    with pacer.request(RequestScope()):
        for scope in (None, RequestScope()):  # a background call; a scope not served here
            with pacer.waiting(scope):
                assert pacer.serving == 1
    assert pacer.serving == 0


async def test_too_little_garbage_is_not_worth_a_collection() -> None:
    pacer, scope = enabled_pacer(), RequestScope()
    gc.collect()
    with pacer.request(scope), pacer.waiting(scope):
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
    from gateway.upstream.gcpace import PACER
    from gateway.simulators.runner import BackgroundSimulators
    from tests.conftest import gateway_app, open_gateway, sim_control

    QUERY = '{ invoices(first: 50, filter: {sources: ["billing"]}) { nodes { number } } }'

    async def main(group):
        sim_control(group.running["invoicematic"], "PUT", "/_sim/latency", {"ms": 30})
        async with open_gateway(gateway_app(group)) as gateway:
            tune_gc(pacing=True)
            for _ in range(12):
                body = await gateway.query(QUERY)
                assert not body.get("errors"), body
            assert PACER.serving == 0, PACER.serving
            print("ok", PACER.collections)

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
