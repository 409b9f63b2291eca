"""Three gateway processes on one Redis and one PostgreSQL, as replicas behind a load
balancer would run: a read cached by one is a hit on the others (the upstream's request
counters do not move), a webhook accepted by one drops the cached reads of all, an
idempotency key used on one is honoured on the others, the shared request budget holds for
all three together, and Redis stopped mid-run (a redis-server of
the test's own, on its own port) leaves every replica answering from its local cache with
no 5xx until it is back, when they share again."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.scaleout.replicas import RETRY_AFTER
from tests.conftest import request_counts, reset_simulator, sim_control, zero_counts
from tests.tools import GatewayProcess, free_port, postgres_schema, require_tool
from tests.writing import PAYLOADS, upstream_writes

SECRET = "whsec-replicas"
ERP = '{ invoices(first: 5, filter: {sources: ["erp"]}) { nodes { remoteId number total { amount } } } }'
ONE = '{ invoice(source: "erp", remoteId: "%s") { number total { amount } } }'
BILLING = '{ invoices(first: 5, filter: {sources: ["billing"]}) { nodes { id remoteId number } } }'
CLOUD = '{ invoices(first: 15, filter: {sources: ["cloud"]}) { nodes { remoteId number } } }'
CLOUD_ONE = '{ invoice(source: "cloud", remoteId: "%s") { number } }'


class RedisServer:
    """A redis-server of the test's own, on a free port, that the test can stop and restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                subprocess.run(["redis-cli", "-p", str(self.port), "ping"], check=True,
                               capture_output=True, timeout=2)
                return
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_tool(shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None,
                 "redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(simulators, redis_server, tmp_path_factory) -> Iterator[list[GatewayProcess]]:
    """Started once for this module's tests (three processes take a while on two cores)."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    with postgres_schema() as database:
        blocks = []
        for block in simulators.source_blocks():
            block = {**block, "cache_ttl": 60, "webhook_secret": SECRET}
            if block["name"] == "cloud":
                block.update(cache_ttl=0, request_budget=5)
            blocks.append(block)
        config = {"sources": blocks, "redis_url": redis_server.url, "state": database}
        gateways = [GatewayProcess(config, tmp_path, f"replica{n}") for n in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda gateway: gateway.start(), gateways))
        try:
            yield gateways
        finally:
            for gateway in gateways:
                gateway.stop()


def ask(gateway: GatewayProcess, query: str) -> dict:
    response = httpx.post(gateway.url + "/graphql", json={"query": query}, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text, gateway.log())
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def calls(simulators, kind: str) -> int:
    return sum(request_counts(simulators)[kind].values())


def signed_webhook(gateway: GatewayProcess, remote_id: str) -> httpx.Response:
    body = json.dumps({"event": "invoice.updated",
                       "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                       "data": {"id": int(remote_id)}}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(gateway.url + "/webhooks/billing", content=body, timeout=30, headers={
        "X-Webhook-Signature": signature, "X-Webhook-Event": "invoice.updated",
        "X-Webhook-Delivery-Id": uuid.uuid4().hex, "X-Webhook-Timestamp": str(int(time.time())),
        "content-type": "application/json",
    })


def assert_shared(replicas, simulators, query: str) -> dict:
    """The first replica asks the upstream; the others answer the same from the shared cache."""
    zero_counts(simulators)
    answer = ask(replicas[0], query)
    fetched = calls(simulators, "makini")
    assert fetched > 0
    assert all(ask(gateway, query) == answer for gateway in replicas[1:])
    assert calls(simulators, "makini") == fetched, "a read cached by one replica is a hit on the others"
    return answer


def test_replicas_share_cache_and_invalidation_and_survive_redis_loss(
    replicas, redis_server, simulators
):
    one, two, three = replicas
    first = assert_shared(replicas, simulators, ERP)

    billing = ask(one, BILLING)
    assert ask(two, BILLING) == billing and ask(three, BILLING) == billing
    before = calls(simulators, "invoicematic")
    accepted = signed_webhook(three, billing["invoices"]["nodes"][0]["remoteId"])
    assert accepted.status_code in (200, 202), accepted.text
    time.sleep(0.3)  # the drop reaches the other replicas over Redis pub/sub
    assert ask(two, BILLING) == billing
    refetched = calls(simulators, "invoicematic") - before
    assert refetched > 0, "a webhook on one replica drops the cached reads of the others"
    assert ask(one, BILLING) == billing
    assert calls(simulators, "invoicematic") - before == refetched, "shared again after the drop"

    # Redis goes away: every replica keeps answering, cached reads from its local cache.
    redis_server.stop()
    zero_counts(simulators)
    for gateway in replicas:
        assert ask(gateway, ERP) == first
    assert calls(simulators, "makini") == 0, "cached reads come from each replica's local cache"
    ids = [node["remoteId"] for node in first["invoices"]["nodes"]]
    alone = ONE % ids[0]
    answers = [ask(gateway, alone) for gateway in replicas]
    assert answers[0] == answers[1] == answers[2]
    per_replica = calls(simulators, "makini")
    assert per_replica >= 3, "without Redis each replica fetches for itself"

    # Redis comes back: the replicas share again.
    redis_server.start()
    time.sleep(RETRY_AFTER + 0.5)
    assert_shared(replicas, simulators, ONE % ids[1])
    for gateway in replicas:
        assert "Traceback" not in gateway.log()


def test_request_budget_holds_for_all_replicas_together(replicas, simulators):
    listed = ask(replicas[0], CLOUD)["invoices"]["nodes"]
    assert len(listed) == 15
    time.sleep(2 - time.time() % 1)  # start just after a second begins: a whole first window
    zero_counts(simulators)
    first_window = int(time.time())
    with ThreadPoolExecutor(15) as pool:
        answers = list(pool.map(
            lambda n: ask(replicas[n % 3], CLOUD_ONE % listed[n]["remoteId"]), range(15)
        ))
    finished = time.time()
    assert [answer["invoice"]["number"] for answer in answers] == [
        node["number"] for node in listed
    ]
    assert calls(simulators, "cloudbilling") == 15
    # 5 requests a second for the three together: 15 requests take three one-second windows,
    # so the last one cannot leave before the third begins; were each replica counting
    # alone, all 15 would fit in the first window.
    assert finished >= first_window + 2, (first_window, finished)


def test_concurrent_reads_on_three_replicas_reach_the_upstream_once(replicas, simulators):
    ids = [node["remoteId"] for node in ask(replicas[0], ERP)["invoices"]["nodes"]]
    query = ONE % ids[3]
    sim_control(simulators.running["makini"], "PUT", "/_sim/latency", {"ms": 400})
    zero_counts(simulators)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: ask(replicas[n % 3], query), range(6)))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["invoice"]["number"]
    assert calls(simulators, "makini") == 1, "one replica fetched; the others waited for it"


def create_customer(gateway: GatewayProcess, input: dict) -> dict:
    document = ("mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { "
                f"{PAYLOADS['createCustomer']} userErrors {{ field message code }} }} }}")
    response = httpx.post(gateway.url + "/graphql", timeout=30,
                          json={"query": document, "variables": {"input": input}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]["createCustomer"]


def test_an_idempotency_key_used_on_one_replica_is_honoured_on_another(replicas, simulators):
    input = {"source": "erp", "name": "Replicated Customer",
             "idempotencyKey": f"replicas-{uuid.uuid4().hex}"}
    zero_counts(simulators)
    try:
        made = create_customer(replicas[0], input)
        assert made["userErrors"] == [] and made["customer"]["name"] == "Replicated Customer"
        assert create_customer(replicas[1], input) == made
        assert create_customer(replicas[2], input) == made
        assert upstream_writes(simulators, "makini") == {"POST /api/customers": 1}
        reused = create_customer(replicas[2], {**input, "name": "Another Customer"})
        assert [error["code"] for error in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
        assert upstream_writes(simulators, "makini") == {"POST /api/customers": 1}
    finally:
        reset_simulator(simulators.running["makini"])


async def test_a_webhook_accepted_by_one_replica_reaches_a_subscriber_on_another(
    replicas, simulators
):
    import asyncio

    import websockets

    one, two, _ = replicas
    remote_id = ask(one, BILLING)["invoices"]["nodes"][0]["remoteId"]
    query = ('subscription { invoiceEvents(sources: ["billing"]) '
             "{ type source remoteId origin } }")
    async with websockets.connect(two.url.replace("http", "ws") + "/graphql",
                                  subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        # The subscriber is registered on replica two once its stream starts, and the fan-out
        # listener may still be resubscribing after the Redis restart above: try a few times.
        event = None
        for _ in range(5):
            await asyncio.sleep(RETRY_AFTER)
            assert (await asyncio.to_thread(signed_webhook, one, remote_id)).status_code == 202
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 3))
            except TimeoutError:
                continue
            event = message["payload"]["data"]["invoiceEvents"]
            break
    assert event == {"type": "UPDATED", "source": "billing", "remoteId": remote_id,
                     "origin": "WEBHOOK"}, "replica one's webhook reached replica two's subscriber"
