"""Serving simulators over real HTTP: in the current event loop, or in a background thread.

Each simulator gets its own uvicorn server and port (its `/_sim/` controls are per server).
Listening sockets are created with `IPPROTO_TCP` so that asyncio sets TCP_NODELAY on them;
without it every keep-alive request after the first stalls about 40 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from gateway.registry import KINDS
from gateway.simulators.base import Simulator

T = TypeVar("T")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 takes a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever runs the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningSimulator:
    simulator: Simulator
    host: str
    port: int

    @property
    def url(self) -> str:
        """The server's root (where `/_sim/` lives)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API's base URL, as a source's `base_url` in the configuration holds it."""
        return self.url + self.simulator.api_prefix

    def source_block(self, name: str | None = None) -> dict[str, Any]:
        """A source block pointing here, named as in the demo unless `name` is given."""
        return self.simulator.source_block(
            self.base_url, name or KINDS[self.simulator.kind].demo_name
        )


class SimulatorGroup:
    """Simulators serving in the current event loop until `stop()`."""

    def __init__(self) -> None:
        self.running: dict[str, RunningSimulator] = {}
        self._servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        kinds: Sequence[str] | None = None,
        log_level: str = "warning",
        invoices: int | None = None,
    ) -> SimulatorGroup:
        """Start one server per kind (every registered kind unless `kinds` names some): on
        `port`, `port + 1`, ... or on free ports if 0; `invoices` per source where given
        (else each kind's own small data set)."""
        group = cls()
        try:
            for offset, kind in enumerate(tuple(KINDS) if kinds is None else kinds):
                sock = bind_socket(host, port + offset if port else 0)
                simulator = KINDS[kind].simulator(seed=seed, invoices=invoices)
                config = uvicorn.Config(
                    simulator.app(), log_level=log_level, lifespan="off",
                    access_log=False, timeout_graceful_shutdown=1,
                )
                server = EmbeddedServer(config)
                task = asyncio.create_task(server.serve(sockets=[sock]))
                group._servers.append((server, task))
                while not server.started:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.005)
                group.running[kind] = RunningSimulator(simulator, host, sock.getsockname()[1])
        except BaseException:
            await group.stop()
            raise
        return group

    def source_blocks(self) -> list[dict[str, Any]]:
        return [running.source_block() for running in self.running.values()]

    async def stop(self) -> None:
        for server, _ in self._servers:
            server.should_exit = True
        for _, task in self._servers:
            with contextlib.suppress(Exception):
                await task
        self._servers.clear()


class BackgroundSimulators:
    """Simulators in a thread of their own (for tests): start(), then stop()."""

    def __init__(
        self, seed: int = 7, host: str = "127.0.0.1", kinds: Sequence[str] | None = None,
        invoices: int | None = None,
    ) -> None:
        self.seed = seed
        self.host = host
        self.kinds = kinds
        self.invoices = invoices
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.group: SimulatorGroup | None = None

    def start(self) -> SimulatorGroup:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            SimulatorGroup.start(self.host, 0, self.seed, self.kinds, invoices=self.invoices),
            self._loop,
        )
        self.group = future.result(timeout=30)
        return self.group

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in the simulators' thread, between two of their requests (a change to
        their data that no request may see half done), awaited from another loop."""
        async def call() -> T:
            return work()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self._loop))

    def stop(self) -> None:
        if self.group is not None:
            asyncio.run_coroutine_threadsafe(self.group.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
