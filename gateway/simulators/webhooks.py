"""Signed webhook deliveries from a simulator to the target URL set through `/_sim/webhook`.

Deliveries go out in order, from a queue, shortly after the write that caused them (as
upstreams deliver: after the write's reply, from a delivery queue). Each simulator builds
the body and headers in its upstream's documented format and signs with `sign`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

import aiohttp

from gateway.support import signing

logger = logging.getLogger("invoice_gateway.simulators")
DELIVERY_DELAY = 0.05
KEEP_DELIVERIES = 20


class WebhookSender:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.url: str | None = None
        self.deliveries: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=KEEP_DELIVERIES
        )
        self._pending: collections.deque[tuple[str, bytes, dict[str, str]]] = (
            collections.deque()
        )
        self._worker: asyncio.Task[None] | None = None

    def target(self, url: str | None, secret: str | None = None) -> None:
        """Send to `url` from now on (None: stop sending), signing with `secret`."""
        self.url = url
        if secret is not None:
            self.secret = secret

    def sign(self, body: bytes) -> str:
        return signing.sign(self.secret, body)

    def send(self, body: bytes, headers: dict[str, str]) -> None:
        """Queue one delivery (dropped when no target is set); never waits."""
        if self.url is None:
            return
        self._pending.append((self.url, body, headers))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "deliveries": list(self.deliveries)}

    async def _drain(self) -> None:
        await asyncio.sleep(DELIVERY_DELAY)
        timeout = aiohttp.ClientTimeout(total=5.0)
        # The outer loop: a delivery queued while the session closes (closing yields to the
        # event loop) sees this task still running and starts none of its own, so it is
        # sent in the next round.
        while self._pending:
            async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as client:
                while self._pending:
                    url, body, headers = self._pending.popleft()
                    entry: dict[str, Any] = {"url": url, "headers": headers}
                    try:
                        async with client.post(
                            url, data=body,
                            headers={**headers, "Content-Type": "application/json"},
                        ) as response:
                            await response.read()
                            entry["status"] = response.status
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        entry["error"] = type(exc).__name__
                        logger.warning("webhook delivery to %s failed: %s", url,
                                       type(exc).__name__)
                    self.deliveries.append(entry)
