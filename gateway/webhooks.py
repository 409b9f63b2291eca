"""`POST /webhooks/{source}`: upstream webhooks in, invoice events out.

The adapter of the source verifies and parses the delivery (signature, for Invoicematic
the timestamp tolerance and delivery id); the state store's replay guard turns a delivery
id seen before into `200 {"duplicate": true}`; the event hub drops cached reads, keeps the
MakersHub index and publishes. A refused delivery changes nothing and is answered with the
status the contract names and a message saying what was wrong (never the secret).
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.bodies import CLOSE, BodyTooLarge, read_capped
from gateway.errors import WebhookRefused

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
        delivery = adapter.read_webhook(headers, body, time.time())
    except WebhookRefused as exc:
        return _refuse(source, exc)
    if delivery.delivery_id is not None and not await request.app.state.store.remember_delivery(
        source, delivery.delivery_id
    ):
        logger.info("webhook %s delivery %s: duplicate, ignored", source, delivery.delivery_id)
        return JSONResponse({"duplicate": True}, 200)
    published = await request.app.state.events.accept(source, delivery.events)
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
