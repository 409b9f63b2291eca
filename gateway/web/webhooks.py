"""`POST /webhooks/{source}`: upstream webhooks in, invoice events out.

The body is read with a ceiling (`limits.max_webhook_bytes`, gateway.web.bodies). The adapter
of the source verifies and parses the delivery (signature; for Invoicematic the timestamp
header's tolerance and the delivery id). The replay guard rests on what the signature
covers: the event time inside the body must be within `SIGNED_TIME_TOLERANCE` of now, and
the body's event id (or its SHA-256 digest, where it carries no id) must not have been
accepted before; the state store remembers both these and delivery ids, and anything seen
before is `200 {"duplicate": true}` with no effect. The event hub drops cached reads, keeps
the MakersHub index and publishes. A refused delivery changes nothing and is answered with the
status the contract names and a message saying what was wrong (never the secret).
While the state store is unavailable a delivery is answered 503 with `Retry-After`, so
that the sender retries it: its changes reach the change feed (`invoiceChanges`) before
the delivery counts as accepted.
"""

from __future__ import annotations

import hashlib
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.adapters.base import SIGNED_TIME_TOLERANCE
from gateway.errors import BodyTooLarge, StateUnavailable, WebhookRefused
from gateway.web.bodies import CLOSE, read_capped

logger = logging.getLogger("invoice_gateway.webhooks")

router = APIRouter()


@router.post("/webhooks/{source}")
async def receive_webhook(source: str, request: Request) -> JSONResponse:
    adapter = request.app.state.adapters.get(source)
    if adapter is None:
        return _refuse(source, WebhookRefused(404, f"unknown source {source[:60]!r}"))
    limit: int = request.app.state.config.limits.max_webhook_bytes
    try:
        # Streamed: a body over the cap is abandoned there, never read whole.
        body = await read_capped(request.receive, limit, request.scope["headers"])
    except BodyTooLarge:
        refused = WebhookRefused(413, f"body larger than max_webhook_bytes ({limit} bytes)",
                                 code="PAYLOAD_TOO_LARGE")
        return _refuse(source, refused, close=True)
    try:
        headers = {key.lower(): value for key, value in request.headers.items()}
        now = time.time()
        delivery = adapter.read_webhook(headers, body, now)
        skew = abs(now - delivery.signed_at.timestamp())
        if skew > SIGNED_TIME_TOLERANCE:
            raise WebhookRefused(401, f"stale event: the time in its signed body is {skew:.0f}s "
                                 f"away from now (tolerance {SIGNED_TIME_TOLERANCE}s)")
    except WebhookRefused as exc:
        return _refuse(source, exc)
    store = request.app.state.store
    content = delivery.event_id or "sha256:" + hashlib.sha256(body).hexdigest()
    try:
        # The feed first: were it recorded after the replay guard, a store failing in
        # between would leave a delivery remembered but its changes lost. A redelivery
        # records the same changes again, which the feed keeps once (docs/changes.md).
        await request.app.state.events.record_delivery(source, delivery.events, content)
        seen = [key for key in (delivery.delivery_id, f"event:{content}")
                if key is not None and not await store.remember_delivery(source, key)]
        if seen:
            logger.info("webhook %s: %s seen before, ignored", source, seen[0][:80])
            return JSONResponse({"duplicate": True}, 200)
        published = await request.app.state.events.accept(source, delivery.events)
    except StateUnavailable as exc:
        # The change feed, the replay guard or the index could not be kept: 503, so the
        # sender delivers it again later.
        logger.warning("webhook %s not accepted: %s", source, exc)
        return JSONResponse({"error": str(exc.message), "code": exc.code}, 503,
                            headers={"Retry-After": "5"})
    logger.info("webhook %s accepted: %d event(s), %d published",
                source, len(delivery.events), published)
    return JSONResponse(
        {"accepted": True, "events": len(delivery.events), "published": published}, 202
    )


def _refuse(source: str, exc: WebhookRefused, *, close: bool = False) -> JSONResponse:
    logger.warning("webhook %s refused (%d): %s", source[:60], exc.status, exc.message)
    response = JSONResponse({"error": exc.message, "code": exc.code}, exc.status)
    if close:  # the rest of an oversized body is not read: the connection ends here
        response.headers[CLOSE[0].decode()] = CLOSE[1].decode()
    return response
