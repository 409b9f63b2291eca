"""The upstream registry is the one seam for a new kind (docs/architecture.md, "Adding an
upstream kind"): a fifth kind, its adapter and simulator written here and nowhere else, is
registered with one line, configured with a key of its own, served by its simulator over
real HTTP on 127.0.0.1, and its invoices come back in an `invoices` list, its errors in its
own words. Any list of kinds kept outside the registry (configuration, adapter builder,
simulator runner, the client's error bodies) makes this test fail."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.adapters.base import (
    Adapter,
    Capability,
    Page,
    error_message,
    error_object,
)
from gateway.app import create_app
from gateway.config import parse_config
from gateway.domain.ids import encode_id
from gateway.domain.records import Invoice, InvoiceQuery, InvoiceStatus, InvoiceType, Money
from gateway.errors import ConfigError
from gateway.registry import KINDS, UpstreamKind
from gateway.simulators.base import Simulator, json_response
from gateway.simulators.runner import SimulatorGroup
from gateway.source_config import KindSettings, SourceConfig
from gateway.upstream.client import ErrorDetail
from gateway.upstream.routes import IdShape
from tests.conftest import open_gateway

BILLS = 5


# --- the fifth kind: Ledgerly, an invented upstream ---------------------------------------
# Wire: GET /bills?page=N&per=M -> {"bills": [...], "more": bool}; GET /bills/{ref} -> a bill;
# amounts in thousandths; every request names its `x-region`; errors are
# {"problem": {"title": "..."}}, a shape no other kind's parser reads.
def bill(number: int) -> dict[str, Any]:
    return {"ref": f"L-{number}", "amount_milli": 1000 * number + 250, "ccy": "EUR",
            "issued": f"2026-10-{number:02d}", "state": "due" if number % 2 else "settled"}


class LedgerlySettings(KindSettings):
    region: str


class LedgerlyAdapter(Adapter):
    kind = "ledgerly"
    settings_model = LedgerlySettings
    capabilities = frozenset({Capability.LIST_INVOICES, Capability.GET_INVOICE})
    page_size = 2
    routes = frozenset({"/bills", "/bills/{ref}"})
    id_shape = IdShape.of(r"L-[0-9]+", "Ledgerly refs are L-<number>")

    @classmethod
    def headers(cls, config: SourceConfig) -> dict[str, str]:
        return {**super().headers(config),
                "x-region": config.settings_as(LedgerlySettings).region}

    @staticmethod
    def error_detail(body: bytes) -> ErrorDetail:
        problem = error_object(body).get("problem")
        return error_message(problem.get("title") if isinstance(problem, dict) else None), {}

    async def list_invoices(
        self, query: InvoiceQuery, page: int, size: int | None = None  # no windows
    ) -> Page[Invoice]:
        body = await self.client.get_json("/bills", {"page": page, "per": self.page_size})
        return Page([self._invoice(b) for b in body["bills"]], None, body["more"])

    async def get_invoice(self, remote_id: str) -> Invoice:
        return self._invoice(await self.client.get_json("/bills/{ref}", ref=remote_id))

    def _invoice(self, raw: dict[str, Any]) -> Invoice:
        total = Money.of(Decimal(raw["amount_milli"]) / 1000, raw["ccy"])
        due = raw["state"] == "due"
        return Invoice(
            source=self.name, remote_id=raw["ref"], type=InvoiceType.RECEIVABLE,
            number=raw["ref"], status=InvoiceStatus.OPEN if due else InvoiceStatus.PAID,
            status_raw=raw["state"], currency=raw["ccy"],
            issue_date=date.fromisoformat(raw["issued"]), total=total,
            amount_due=total if due else Money.of(0, raw["ccy"]),
        )


class LedgerlySimulator(Simulator):
    kind = "ledgerly"
    region = "eu"

    def seed_data(self, rng: random.Random) -> None:
        self.bills = {f"L-{n}": bill(n) for n in range(1, BILLS + 1)}

    def api_routes(self) -> list[BaseRoute]:
        return [Route("/bills", self._list, methods=["GET"]),
                Route("/bills/{ref}", self._get, methods=["GET"])]

    def unauthorized(self) -> Response:
        return problem(401, "who are you?")

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("x-region") != self.region:
            return problem(400, "x-region must name your region")
        return super().authenticate(request)

    def source_block(self, base_url: str, name: str) -> dict[str, Any]:
        return {**super().source_block(base_url, name), "region": self.region}

    def remote_ids(self, resource: str) -> list[str]:
        return list(self.bills) if resource == "invoices" else []

    def missing_id(self, resource: str) -> str:
        return "L-999"

    async def _list(self, request: Request) -> Response:
        page, per = int(request.query_params["page"]), int(request.query_params["per"])
        bills = list(self.bills.values())
        return json_response({"bills": bills[page * per:(page + 1) * per],
                              "more": (page + 1) * per < len(bills)})

    async def _get(self, request: Request) -> Response:
        found = self.bills.get(request.path_params["ref"])
        if found is None:
            return problem(404, f"no bill {request.path_params['ref']} in this ledger")
        return json_response(found)


def problem(status: int, title: str) -> Response:
    return json_response({"problem": {"title": title}}, status)


# --- the tests -------------------------------------------------------------------------------
@pytest.fixture
def fifth_kind() -> Iterator[UpstreamKind]:
    """Ledgerly in the registry for one test; the four real kinds alone before and after."""
    four = list(KINDS)
    with KINDS.added(UpstreamKind(LedgerlyAdapter, LedgerlySimulator, demo_name="ledger")) as kind:
        yield kind
    assert list(KINDS) == four


async def test_a_fifth_kind_is_served_in_a_list_through_the_registry_alone(simulators,
                                                                            fifth_kind):
    group = await SimulatorGroup.start(kinds=["ledgerly"])  # 127.0.0.1, a free port
    try:
        block = {**group.running["ledgerly"].source_block(), "cache_ttl": 0}
        assert (block["name"], block["region"]) == ("ledger", "eu")
        config = parse_config({"sources": [*simulators.source_blocks(), block]}, {})
        assert config.source("ledger").settings == LedgerlySettings(region="eu")
        async with open_gateway(create_app(config)) as gateway:
            data = await gateway.data("""{
              sources { name kind capabilities }
              invoices(first: 10, filter: {sources: ["ledger"]}) {
                nodes { id number status total { amount currency } amountDue { amount } }
              }
            }""")
            missing = await gateway.query('query($id: ID!) { node(id: $id) { id } }',
                                          {"id": encode_id("Invoice", "ledger", "L-999")})
    finally:
        await group.stop()

    assert [s["name"] for s in data["sources"]] == list(KINDS.demo_names().values())
    assert data["sources"][-1] == {"name": "ledger", "kind": "ledgerly",
                                   "capabilities": ["invoices.get", "invoices.list"]}
    nodes = data["invoices"]["nodes"]
    # Five bills over three upstream pages of two, in the upstream's order, normalized.
    assert [n["number"] for n in nodes] == [f"L-{n}" for n in range(1, BILLS + 1)]
    assert nodes[0] == {"id": encode_id("Invoice", "ledger", "L-1"), "number": "L-1",
                        "status": "OPEN", "total": {"amount": "1.25", "currency": "EUR"},
                        "amountDue": {"amount": "1.25"}}
    assert nodes[1]["status"] == "PAID" and nodes[1]["amountDue"] == {"amount": "0.00"}
    # The upstream's own words, read by the kind's error-body parser.
    [error] = missing["errors"]
    assert error["extensions"]["source"] == "ledger"
    assert "no bill L-999 in this ledger" in error["message"]


def test_a_fifth_kinds_own_key_is_checked_like_the_others(fifth_kind):
    block = {"name": "ledger", "kind": "ledgerly", "base_url": "http://127.0.0.1:9",
             "token": "t"}
    cloud = {"name": "cloud", "kind": "cloudbilling", "base_url": "http://127.0.0.1:9",
             "token": "t", "tenant_slug": "acme"}
    with pytest.raises(ConfigError, match="source 'ledger': key 'region': required for ledgerly"):
        parse_config({"sources": [block]}, {})
    with pytest.raises(ConfigError, match="source 'ledger': key 'tenant_slug': only a "
                                          "cloudbilling source takes it"):
        parse_config({"sources": [{**block, "region": "eu", "tenant_slug": "acme"}]}, {})
    with pytest.raises(ConfigError, match="source 'cloud': key 'region': only a ledgerly "
                                          "source takes it"):
        parse_config({"sources": [{**cloud, "region": "eu"}]}, {})
    with pytest.raises(ConfigError, match="expected one of makershub, makini, invoicematic, "
                                          "cloudbilling, ledgerly"):
        parse_config({"sources": [{**block, "kind": "ledgerlee"}]}, {})


def test_outside_the_block_the_fifth_kind_is_unknown():
    assert "ledgerly" not in KINDS
    block = {"name": "ledger", "kind": "ledgerly", "base_url": "http://127.0.0.1:9",
             "token": "t", "region": "eu"}
    with pytest.raises(ConfigError, match="key 'kind': unknown kind"):
        parse_config({"sources": [block]}, {})


def test_a_kind_is_registered_once_and_its_simulator_must_match():
    with pytest.raises(ValueError, match="registered already"):
        KINDS.add(KINDS["makini"])

    class Mismatched(LedgerlySimulator):
        kind = "makini"

    with pytest.raises(ValueError, match="simulates 'makini'"):
        UpstreamKind(LedgerlyAdapter, Mismatched, demo_name="x")


def test_no_module_outside_the_kinds_own_names_a_kind() -> None:
    """What depends on a kind is declared on its adapter (`lists_from_index`, capabilities,
    windows...), so that a new kind needs no edit elsewhere: no module but the registry,
    the adapters and the simulators spells a kind's name."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    own = (root / "gateway" / "adapters", root / "gateway" / "simulators")
    named = []
    for path in [*(root / "gateway").rglob("*.py"), *(root / "resolvers").rglob("*.py")]:
        if path.name == "registry.py" or any(path.is_relative_to(folder) for folder in own):
            continue
        text = path.read_text(encoding="utf-8")
        named += [f"{path.relative_to(root)}: {kind}" for kind in KINDS
                  if f'"{kind}"' in text or f"'{kind}'" in text]
    assert named == []
