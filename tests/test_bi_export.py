"""The export (HTTP and CLI) against a full paged read of the same data; bounded memory."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import subprocess
import sys
import tracemalloc
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.build import build_adapters, close_adapters
from gateway.bi.export import INVOICE_COLUMNS, LINE_COLUMNS, Export
from gateway.config import parse_config
from gateway.lists.selection import InvoiceSelection, invoice_request
from gateway.simulators.cloudbilling_data import COMPANIES, Tenant, seed_tenant
from gateway.simulators.runner import SimulatorGroup
from tests.conftest import read_all_invoices, sim_control

FIELDS = """id source remoteId number status type currency issueDate dueDate createdAt
            total { amount } amountDue { amount } customer { id } vendor { id }
            lineItems { description quantity total { amount } }"""


async def read_all(gateway, filter: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return await read_all_invoices(gateway, FIELDS, filter)


def amount(money: dict[str, str] | None) -> str | None:
    return money and money["amount"]


# One format for every instant of the export: UTC, six fractional digits, Z.
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def test_ndjson_export_matches_the_paged_read_row_for_row(gateway):
    nodes = await read_all(gateway)
    response = await gateway.http.get("/export/invoices", params={"format": "ndjson"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert len(rows) == len(nodes) > 200
    assert int(response.headers["x-total-count"]) == len(nodes)
    for row, node in zip(rows, nodes, strict=True):
        assert list(row) == [*INVOICE_COLUMNS, "line_items"]
        assert row["id"] == node["id"] and row["remote_id"] == node["remoteId"]
        assert (row["status"], row["type"], row["currency"]) == (
            node["status"], node["type"], node["currency"])
        assert (row["issue_date"], row["due_date"]) == (node["issueDate"], node["dueDate"])
        assert row["total"] == amount(node["total"])
        assert instant(row["created_at"]) == instant(node["createdAt"])
        assert row["created_at"] is None or INSTANT.fullmatch(row["created_at"])
        assert row["updated_at"] is None or INSTANT.fullmatch(row["updated_at"])
        assert row["amount_due"] == amount(node["amountDue"])
        assert row["customer_id"] == (node["customer"] and node["customer"]["id"])
        assert [(line["description"], line["quantity"], line["total"])
                for line in row["line_items"]] == [
            (line["description"], line["quantity"], amount(line["total"]))
            for line in node["lineItems"]]


async def test_csv_export_and_lines_csv_with_a_filter(gateway):
    where = {"sources": ["billing", "cloud"], "status": ["OPEN", "PARTIALLY_PAID"],
             "issuedFrom": "2026-01-01"}
    nodes = await read_all(gateway, where)
    params = {"format": "csv", "sources": "billing,cloud", "status": ["OPEN", "PARTIALLY_PAID"],
              "issuedFrom": "2026-01-01"}
    response = await gateway.http.get("/export/invoices", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == INVOICE_COLUMNS
    rows = list(reader)
    assert [row["id"] for row in rows] == [node["id"] for node in nodes]
    assert len(nodes) > 10
    assert [row["total"] for row in rows] == [amount(node["total"]) or "" for node in nodes]
    assert [row["amount_due"] for row in rows] == [amount(n["amountDue"]) or "" for n in nodes]
    assert {row["is_overdue"] for row in rows} <= {"true", "false"}

    lines = await gateway.http.get("/export/invoices", params={**params, "lines": "true"})
    line_rows = list(csv.DictReader(io.StringIO(lines.text)))
    assert tuple(line_rows[0]) == LINE_COLUMNS
    expected = [(node["id"], line["description"], amount(line["total"]) or "")
                for node in nodes for line in node["lineItems"]]
    assert [(r["invoice_id"], r["description"], r["total"]) for r in line_rows] == expected


async def test_pandas_reads_the_csv_export_with_typed_dates_and_exact_amounts(gateway):
    import pandas as pd

    nodes = await read_all(gateway)
    response = await gateway.http.get("/export/invoices", params={"format": "csv"})
    assert response.status_code == 200
    amounts = ["subtotal", "tax_total", "total", "amount_due"]
    frame = pd.read_csv(io.StringIO(response.text), parse_dates=["created_at", "updated_at"],
                        dtype=dict.fromkeys(amounts, str), keep_default_na=False,
                        na_values={"created_at": [""], "updated_at": [""]})
    for column in ("created_at", "updated_at"):
        assert pd.api.types.is_datetime64_any_dtype(frame[column]), frame[column].dtype
        assert str(frame[column].dt.tz) == "UTC"
    assert len(frame) == len(nodes)
    # Every source's instants, Cloud Billing's microseconds included, are read exactly.
    assert {node["source"] for node in nodes if node["createdAt"]} >= {"cloud", "billing"}
    for stamp, node in zip(frame["created_at"], nodes, strict=True):
        if node["createdAt"] is None:
            assert pd.isna(stamp)
        else:
            assert stamp.to_pydatetime() == datetime.fromisoformat(node["createdAt"])
    # Amounts are decimal strings: read as text, they are exactly GraphQL's Decimal.
    assert [Decimal(t) if t else None for t in frame["total"]] == [
        Decimal(node["total"]["amount"]) if node["total"] else None for node in nodes]


async def test_bad_export_parameters_are_named(gateway):
    cases = {
        (("format", "xml"),): "format: expected csv or ndjson",
        (("format", "csv"), ("sources", "nope")): "unknown source 'nope'",
        (("format", "csv"), ("status", "LATE")): "status: 'LATE' is not one of",
        (("format", "csv"), ("issuedFrom", "May 1")): "issuedFrom: 'May 1' is not a date",
        (("format", "csv"), ("colour", "red")): "unknown parameter 'colour'",
        (("format", "ndjson"), ("lines", "true")): "lines: only with format=csv",
    }
    for params, message in cases.items():
        response = await gateway.http.get("/export/invoices", params=list(params))
        assert response.status_code == 400, params
        error = response.json()["errors"][0]
        assert message in error["message"] and error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_source_down_at_the_start_refuses_the_export_naming_it(gateway, simulators):
    sim_control(simulators.running["makini"], "POST", "/_sim/faults",
                {"mode": "503", "times": 5, "path": "/invoices"})
    response = await gateway.http.get("/export/invoices", params={"format": "csv"})
    assert response.status_code == 502
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "erp",
                                   "status": 503}


MANY = 3000


async def test_export_of_thousands_of_invoices_holds_one_page_at_a_time():
    group = await SimulatorGroup.start(kinds=("cloudbilling",))
    try:
        running = group.running["cloudbilling"]
        old = running.simulator.tenants["acme"]  # type: ignore[attr-defined]
        tenant = Tenant("acme", old.name, "USD", old.members, "INV")
        seed_tenant(random.Random(1), tenant, COMPANIES[:25], ["USD", "EUR"], MANY)
        running.simulator.tenants["acme"] = tenant  # type: ignore[attr-defined]
        expected = len(tenant.invoices)
        assert expected == MANY
        config = parse_config({"sources": [{**running.source_block(), "cache_ttl": 0}]}, {})
        adapters = build_adapters(config.sources)
        request = invoice_request(adapters, InvoiceSelection())

        async def streamed() -> int:
            export = Export(adapters, request)
            await export.start()
            size = 0
            async for data in export.stream("ndjson"):
                size += data.count(b"\n")
            return size

        async def held() -> int:
            export = Export(adapters, request)
            await export.start()
            everything = [record async for chunk in export.chunks() for record in chunk.records]
            # As exported (NDJSON nests the lines): every invoice with its lines normalized,
            # which reading them does (they are normalized when first read).
            lines = [line for record in everything for line in record.line_items]
            assert lines
            return len(everything)

        peaks = {}
        for name, run in (("streamed", streamed), ("held", held)):
            tracemalloc.start()
            try:
                assert await run() == expected
                peaks[name] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        await close_adapters(adapters.values())
        # Holding every invoice costs many times what streaming them a page at a time does.
        print(f"tracemalloc peaks for {expected} invoices: {peaks}")
        assert peaks["streamed"] * 5 < peaks["held"], peaks
    finally:
        await group.stop()


def write_config(tmp_path: Path, simulators, **overrides: Any) -> Path:
    blocks = [{**running.source_block(), **overrides} for running in simulators.running.values()]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"sources": blocks, "state": "sqlite:///:memory:"}))
    return path


async def test_cli_export_writes_both_files_with_progress(gateway, simulators, tmp_path):
    config = write_config(tmp_path, simulators)
    for flags, where in (
        (["--sources", "billing,cloud"], {"sources": ["billing", "cloud"]}),
        (["--type", "RECEIVABLE", "--issued-from", "2026-01-01"],
         {"type": "RECEIVABLE", "issuedFrom": "2026-01-01"}),
    ):
        nodes = await read_all(gateway, where)
        out, lines = tmp_path / "inv.ndjson", tmp_path / "lines.csv"
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli.main", "export", "--config", str(config),
             "--format", "ndjson", "--out", str(out), "--lines", str(lines), *flags],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
        assert ids == [node["id"] for node in nodes] and ids
        line_rows = list(csv.DictReader(io.StringIO(lines.read_text())))
        assert len(line_rows) == sum(len(node["lineItems"]) for node in nodes)
        assert "HTTP Request" not in result.stderr
        count = len(nodes)
        if flags[0] == "--sources":  # both sources can say how many: a bar
            assert result.stderr.endswith(f"export [{'#' * 30}] {count}/{count} invoices\n")
        else:  # Makini cannot count a type filter it applies itself: a count
            assert result.stderr.endswith(f"export {count} invoices\n"), result.stderr


def test_cli_export_failure_names_the_source_and_writes_nothing(simulators, tmp_path):
    config = write_config(tmp_path, simulators)
    sim_control(simulators.running["cloudbilling"], "POST", "/_sim/faults",
                {"mode": "503", "times": 20, "path": "/invoices"})
    out = tmp_path / "inv.csv"
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "export", "--config", str(config),
         "--format", "csv", "--out", str(out)], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "source 'cloud': UPSTREAM_UNAVAILABLE" in result.stderr
    assert "Traceback" not in result.stderr and "sim-token" not in result.stderr
    assert list(tmp_path.iterdir()) == [config]
    bad = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "export", "--config", str(config),
         "--format", "csv", "--out", str(out), "--status", "LATE"],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "status: 'LATE' is not one of" in bad.stderr


async def test_a_source_failing_part_way_ends_the_export_with_its_error(simulators):
    from gateway.app import demo_config
    from gateway.errors import ExportFailed

    config = demo_config(simulators, cache_ttl=0)
    adapters = build_adapters(config.sources)
    try:
        export = Export(adapters, invoice_request(adapters, InvoiceSelection(sources=["cloud"])))
        await export.start()  # the first page is read (and kept) before anything is sent
        sim_control(simulators.running["cloudbilling"], "POST", "/_sim/faults",
                    {"mode": "503", "times": 5, "path": "/invoices"})
        sent: list[bytes] = []
        try:
            async for data in export.stream("csv"):
                sent.append(data)
        except ExportFailed as exc:
            [error] = exc.errors
            assert (error.source, error.code) == ("cloud", "UPSTREAM_UNAVAILABLE")
        else:
            raise AssertionError("the export went on past a failing page")
        rows = list(csv.DictReader(io.StringIO(b"".join(sent).decode())))
        assert len(rows) == 100  # the first page only: the stream stops where the source failed
    finally:
        await close_adapters(adapters.values())
