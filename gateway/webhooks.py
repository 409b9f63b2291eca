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

from gateway.errors import WebhookRefused

logger = logging.getLogger("invoice_gateway.webhooks")
MAX_BODY_BYTES = 1_000_000

router = APIRouter()


@router.post("/webhooks/{source}")
async def receive_webhook(source: str, request: Request) -> JSONResponse:
    adapter = request.app.state.adapters.get(source)
    if adapter is None:
        return _refuse(source, WebhookRefused(404, f"unknown source {source[:60]!r}"))
    too_big = WebhookRefused(413, f"body larger than {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _refuse(source, too_big)  # refused before reading it
    body = await request.body()
    try:
        if len(body) > MAX_BODY_BYTES:
            raise too_big
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


def _refuse(source: str, exc: WebhookRefused) -> JSONResponse:
    logger.warning("webhook %s refused (%d): %s", source[:60], exc.status, exc.message)
    return JSONResponse({"error": exc.message}, exc.status)
