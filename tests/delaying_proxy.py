"""A TCP proxy in front of a simulator that can hold a reply back.

Every byte is forwarded as it comes, both ways; `hold_next(prefix, seconds)` makes the
next connection whose request starts with `prefix` (b"POST ") have its reply held for
`seconds` before it is forwarded: the upstream did the work, its caller hears nothing in
time. That is the unknown outcome of a write (a timeout after sending).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class DelayingProxy:
    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = target
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._hold: tuple[bytes, float] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.held = 0

    @property
    def url(self) -> str:
        """The target's URL with the proxy's address in it."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self.target)
        return parts._replace(netloc=f"127.0.0.1:{port}").geturl()

    def hold_next(self, prefix: bytes, seconds: float) -> None:
        self._hold = (prefix, seconds)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A connection cancelled by `close` ends quietly (asyncio logs a callback's error).
        with contextlib.suppress(asyncio.CancelledError):
            await self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        delay: list[float] = []  # set once this connection's reply is to be held

        async def upstream() -> None:
            while data := await reader.read(65536):
                hold = self._hold
                if hold is not None and data.startswith(hold[0]):
                    self._hold = None
                    delay.append(hold[1])
                    self.held += 1
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                if delay:
                    await asyncio.sleep(delay.pop())
                writer.write(data)
                await writer.drain()

        try:
            pumps = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(BaseException):
                    await pump
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()
            self._tasks.discard(task)


@contextlib.asynccontextmanager
async def delaying_proxy(target: str) -> AsyncIterator[DelayingProxy]:
    proxy = DelayingProxy(target)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
