"""The demo gateway on a real port of 127.0.0.1, its own simulators sending signed webhooks to
it, for tests that subscribe with real clients; and the two ways they cause an event: a
mutation through the gateway, and a write straight on the Invoicematic simulator (whose
webhook the gateway receives)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.app import create_app
from gateway.domain.ids import encode_id
from gateway.simulators.runner import bind_socket
from tests.tools import serve_live

UPDATE_NUMBER = """mutation($id: ID!, $number: String!) {
  updateInvoice(input: {id: $id, number: $number}) { invoice { number } userErrors { message } }
}"""


@dataclass
class LiveGateway:
    app: Any
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/graphql"

    @property
    def hub(self) -> Any:
        return self.app.state.events

    def simulator(self, kind: str) -> Any:
        return self.app.state.simulators.running[kind]

    async def subscribers(self, more_than: int = 0, timeout: float = 30) -> int:
        """Wait until more than `more_than` subscriptions are running; their number."""
        for _ in range(int(timeout / 0.02)):
            if self.hub.bus.subscriber_count > more_than:
                return int(self.hub.bus.subscriber_count)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no subscription started within {timeout}s")

    async def mutate_number(self, remote_id: int, number: str,
                            headers: dict[str, str] | None = None) -> None:
        """Renumber billing's invoice through the gateway (an event of origin GATEWAY)."""
        variables = {"id": encode_id("Invoice", "billing", str(remote_id)), "number": number}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            done = (await http.post("/graphql", headers=headers, json={
                "query": UPDATE_NUMBER, "variables": variables})).json()
        assert done["data"]["updateInvoice"] == {"invoice": {"number": number},
                                                 "userErrors": []}, done

    async def put_invoice(self, remote_id: int, number: str) -> None:
        """Renumber an invoice straight on the Invoicematic simulator: the gateway hears of it
        only by the simulator's signed webhook (an event of origin WEBHOOK)."""
        running = self.simulator("invoicematic")
        api = f"{running.base_url}/api/invoices/{remote_id}"
        auth = {"Authorization": f"Bearer {running.simulator.token}"}
        async with httpx.AsyncClient(headers=auth, timeout=10) as http:
            record = (await http.get(api)).json()["data"]
            body = {key: record[key] for key in ("invoice_date", "customer_id", "discount",
                                                  "discount_val", "sub_total", "total", "tax",
                                                  "template_name")}
            body["invoice_number"] = number
            body["items"] = [{"name": i["name"], "quantity": i["quantity"], "price": i["price"]}
                             for i in record["items"]]
            response = await http.put(api, json=body)
            assert response.status_code == 200, response.text


@asynccontextmanager
async def live_gateway(**create: Any) -> AsyncIterator[LiveGateway]:
    """The demo gateway (seed 7) served until the block ends."""
    sock = bind_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(demo_seed=7, demo_url=url, **create)
    async with serve_live(app, sock):
        yield LiveGateway(app, url)
