"""Shared fixtures: the four simulators over real HTTP on 127.0.0.1, and adapters for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from gateway.adapters import Adapter
from gateway.config import SourceConfig
from gateway.simulators.runner import BackgroundSimulators, RunningSimulator, SimulatorGroup
from gateway.sources import build_adapter

SEED = 7


@pytest.fixture(scope="session")
def simulators() -> Iterator[SimulatorGroup]:
    background = BackgroundSimulators(seed=SEED)
    group = background.start()
    yield group
    background.stop()


@pytest.fixture(autouse=True)
def _clean_controls(request: pytest.FixtureRequest) -> Iterator[None]:
    """Injected faults and latency never leak from one test into the next."""
    yield
    if "simulators" in request.fixturenames:
        group: SimulatorGroup = request.getfixturevalue("simulators")
        for running in group.running.values():
            controls = running.simulator.controls
            controls.faults.clear()
            controls.latency_ms = 0


def sim_control(running: RunningSimulator, method: str, path: str, body: Any = None) -> Any:
    """Call a simulator's `/_sim/` control over HTTP."""
    response = httpx.request(method, running.url + path, json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def reset_simulator(running: RunningSimulator) -> None:
    sim_control(running, "POST", "/_sim/reset")


AdapterFactory = Callable[..., Adapter]


@pytest.fixture
async def make_adapter(simulators: SimulatorGroup) -> AsyncIterator[AdapterFactory]:
    """`make_adapter(kind, **config_overrides)`: an adapter wired to that kind's simulator."""
    made: list[Adapter] = []

    def factory(kind: str, **overrides: Any) -> Adapter:
        block = simulators.running[kind].source_block()
        block.setdefault("cache_ttl", 0)
        block.update(overrides)
        adapter = build_adapter(SourceConfig.model_validate(block))
        made.append(adapter)
        return adapter

    yield factory
    for adapter in made:
        await adapter.client.aclose()
