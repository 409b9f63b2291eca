"""httpx's client as an upstream wire: the baseline `benchmarks/fanout.py` measures the
product's wire (`gateway.upstream.wire.AiohttpWire`) against. Not used by the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from gateway.errors import WireError, WireTimeout
from gateway.upstream.wire import Reply, describe


class HttpxWire:
    """An `httpx.AsyncClient` over `transport` (httpx's own when None)."""

    def __init__(
        self, headers: Mapping[str, str], *, timeout: float, max_concurrency: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        self._http = httpx.AsyncClient(
            headers=dict(headers),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            limits=limits,
            trust_env=False,
        )

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Reply:
        try:
            response = await self._http.request(method, url, headers=headers, content=body)
        except httpx.TimeoutException as exc:
            unsent = isinstance(exc, httpx.ConnectTimeout)
            if isinstance(exc.__cause__, asyncio.TimeoutError) or exc.__cause__ is None:
                raise WireTimeout(describe(exc), unsent=unsent) from None
            raise WireError(describe(exc), unsent=unsent) from None
        except httpx.ConnectError as exc:
            raise WireError(describe(exc), unsent=True) from None
        except httpx.HTTPError as exc:
            raise WireError(describe(exc)) from None
        return Reply(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()
