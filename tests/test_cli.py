"""The command line as a user runs it: `simulate` and `demo` as real processes on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def test_simulate_prints_each_simulator_and_serves_documented_envelopes(process):
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "simulate", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    process.append(proc)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().split() for _ in range(4)]
    info = {line[0]: (line[1], dict(p.split("=", 1) for p in line[2:])) for line in lines}
    assert list(info) == ["makershub", "makini", "invoicematic", "cloudbilling"]
    assert info["cloudbilling"][1]["tenant_slug"] == "acme"
    assert info["invoicematic"][1]["webhook_secret"] == "whsec-sim-invoicematic"

    def get(kind: str, path: str, **headers: str) -> httpx.Response:
        base, extra = info[kind]
        return httpx.get(base + path, headers={"Authorization": f"Bearer {extra['token']}",
                                              **headers}, timeout=10)

    mh = get("makershub", "/v1/invoices/0").json()
    assert mh == {"status": "Error", "msg": "Invalid invoice ID", "result": None}
    mk = get("makini", "/api/invoices?per_page=2").json()
    assert set(mk) == {"data", "links", "meta"} and len(mk["data"]) == 2
    assert isinstance(mk["data"][0]["totalGrossValue"], str)
    im = get("invoicematic", "/api/invoices?limit=2").json()
    assert set(im["meta"]) == {"current_page", "from", "last_page", "per_page", "to", "total"}
    assert isinstance(im["data"][0]["total"], int)
    cb = get("cloudbilling", "/invoices?limit=2", **{"x-tenant-slug": "acme"}).json()
    assert cb["meta"]["limit"] == 2 and isinstance(cb["data"][0]["total"], int | float)


def test_demo_answers_the_readme_first_query(process):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    process.append(proc)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("demo did not become ready")
    query = re.search(r"Paste into GraphiQL:\n\n```graphql\n(.*?)```", README.read_text(),
                      re.S)
    assert query is not None
    body = httpx.post(base + "/graphql", json={"query": query.group(1)}, timeout=30).json()
    assert "errors" not in body
    first = body["data"]["invoices"]["nodes"][0]
    assert first["number"] == "INV-000007"
    assert first["amountDue"] == {"amount": "2767.50", "currency": "EUR"}
    assert len(first["payments"]) == 3
