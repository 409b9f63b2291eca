"""Issue 19 item 6: a webhook is authenticated by its signed body, and so is its freshness.

Invoicematic signs the body only; its delivery id and timestamp headers are outside the
signature. Before, a captured delivery resent with a new `X-Webhook-Delivery-Id` and a
current `X-Webhook-Timestamp` was published again, every time, and the body's own signed
timestamp (a month old) was never checked. MakersHub sends neither header."""

from __future__ import annotations

import asyncio
import time
import uuid

from gateway.support import signing
from tests.conftest import invoicematic_delivery, makershub_delivery

SECRET = "whsec-edge"
MONTH = 30 * 24 * 3600


async def published(subscriber) -> list:
    events = []
    while True:
        try:
            events.append(await asyncio.wait_for(anext(subscriber), 0.1))
        except TimeoutError:
            return events


def fresh_headers(headers: dict[str, str]) -> dict[str, str]:
    """The same signature over the same body, with the headers a replayer may change."""
    return {**headers, "X-Webhook-Delivery-Id": uuid.uuid4().hex,
            "X-Webhook-Timestamp": str(int(time.time()))}


async def test_a_signed_invoicematic_body_resent_with_new_headers_is_not_published(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 2})
    first = await gateway.http.post("/webhooks/billing", content=body, headers=headers)
    assert first.status_code == 202 and len(await published(subscriber)) == 1
    for _ in range(3):
        again = await gateway.http.post("/webhooks/billing", content=body,
                                        headers=fresh_headers(headers))
        assert again.status_code == 200 and again.json() == {"duplicate": True}
    assert await published(subscriber) == []


async def test_an_old_signed_body_is_refused_whatever_its_headers_say(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 2},
                                          signed_at=time.time() - MONTH)
    response = await gateway.http.post("/webhooks/billing", content=body,
                                       headers=fresh_headers(headers))
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert "stale event" in response.json()["error"]
    old, signed = makershub_delivery(SECRET, "Approved", 48219, signed_at=time.time() - MONTH)
    response = await gateway.http.post("/webhooks/ap", content=old, headers=signed)
    assert response.status_code == 401 and "stale event" in response.json()["error"]
    assert await published(subscriber) == []


async def test_a_makershub_body_is_published_once(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    subscriber = gateway.app.state.events.bus.subscribe()
    body, headers = makershub_delivery(SECRET, "Approved", 48219)
    statuses = [(await gateway.http.post("/webhooks/ap", content=body, headers=headers))
                .status_code for _ in range(3)]
    assert statuses == [202, 200, 200]
    assert len(await published(subscriber)) == 1


async def test_a_body_without_its_event_time_is_refused(make_gateway):
    gateway = await make_gateway(webhook_secret=SECRET)
    body, headers = makershub_delivery(SECRET, "Approved", 48219)
    undated = body.replace(b'"timestamp"', b'"time_stamp"')
    headers["X-Signature"] = signing.sign(SECRET, undated)
    response = await gateway.http.post("/webhooks/ap", content=undated, headers=headers)
    assert response.status_code == 400
    assert "eventNotification.timestamp is missing" in response.json()["error"]


async def test_the_replay_guard_lives_in_the_state_store(make_gateway, tmp_path):
    state = {"state": f"sqlite:///{tmp_path / 'state.sqlite3'}"}
    body, headers = invoicematic_delivery(SECRET, "invoice.paid", {"id": 2})
    one = await make_gateway(webhook_secret=SECRET, top=state)
    assert (await one.http.post("/webhooks/billing", content=body,
                                headers=headers)).status_code == 202
    other = await make_gateway(webhook_secret=SECRET, top=state)  # a replica, or a restart
    again = await other.http.post("/webhooks/billing", content=body,
                                  headers=fresh_headers(headers))
    assert again.status_code == 200 and again.json() == {"duplicate": True}
