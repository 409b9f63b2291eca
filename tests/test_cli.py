"""The command line as a user runs it: `simulate` and `demo` as real processes on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.registry import KINDS
from tests.conftest import wait_ready

README = Path(__file__).resolve().parent.parent / "README.md"
WRITES = README.parent / "docs" / "writes.md"


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
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "simulate", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    process.append(proc)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().split() for _ in KINDS]
    info = {line[0]: (line[1], dict(p.split("=", 1) for p in line[2:])) for line in lines}
    assert list(info) == list(KINDS)
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
        [sys.executable, "-m", "gateway.cli.main", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    process.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    query = re.search(r"Paste into GraphiQL:\n\n```graphql\n(.*?)```", README.read_text(),
                      re.S)
    assert query is not None
    body = httpx.post(base + "/graphql", json={"query": query.group(1)}, timeout=30).json()
    assert "errors" not in body
    first = body["data"]["invoices"]["nodes"][0]
    assert first["number"] == "INV-000007"
    assert first["amountDue"] == {"amount": "2767.50", "currency": "EUR"}
    assert len(first["payments"]) == 3
    # The ids the README shows are the demo's own: each "Then try" query answers them.
    tries = re.search(r"Then try:\n\n```graphql\n(.*?)```", README.read_text(), re.S)
    assert tries is not None
    for line in tries.group(1).splitlines():
        answer = httpx.post(base + "/graphql", json={"query": line}, timeout=30).json()
        assert "errors" not in answer and all(answer["data"].values()), (line, answer)


def _documents(text: str) -> list[object]:
    """The JSON documents of a block, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


def test_demo_answers_the_worked_examples_of_docs_writes(process):
    """docs/writes.md's worked examples, run in order on a fresh demo: each JSON block is
    what the operations of the GraphQL block before it answer (run again when two JSON
    blocks follow one GraphQL block), so every id shown can be pasted."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    process.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base)
    section = WRITES.read_text().split("## Worked examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(graphql|json)\n(.*?)```", section, re.S)
    assert [kind for kind, _ in blocks].count("json") >= 10
    operations: list[str] = []
    for kind, text in blocks:
        if kind == "graphql":
            operations = [op for op in re.split(r"(?m)^(?=mutation )", text) if op.strip()]
            continue
        shown = _documents(text)
        assert len(shown) == len(operations), text
        for operation, expected in zip(operations, shown, strict=True):
            answer = httpx.post(base + "/graphql", json={"query": operation}, timeout=30).json()
            assert answer == expected, operation


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_serve_with_workers_answers_from_several_processes(process, simulators, tmp_path):
    config = tmp_path / "gateway.yaml"
    block = simulators.running["invoicematic"].source_block()
    config.write_text(yaml.safe_dump({"sources": [block]}))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config),
         "--port", str(port), "--workers", "2", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    process.append(proc)
    url = f"http://127.0.0.1:{port}/graphql"
    query = '{ invoices(first: 3, filter: {sources: ["billing"]}) { nodes { number } } }'
    for _ in range(300):
        try:
            if httpx.post(url, json={"query": query}, timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        pytest.fail("serve --workers 2 did not answer")
    for _ in range(5):
        body = httpx.post(url, json={"query": query}, timeout=30).json()
        assert [n["number"] for n in body["data"]["invoices"]["nodes"]] == [
            "INV-000001", "INV-000002", "INV-000003"]
    # uvicorn's supervisor spawns the workers (multiprocessing's resource tracker aside)
    commands = [Path(f"/proc/{pid}/cmdline").read_text() for pid in _children(proc.pid)]
    workers = [c for c in commands if "spawn_main" in c and "resource_tracker" not in c]
    assert len(workers) == 2, commands


def test_serve_refuses_zero_workers(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"sources": []}))
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config),
         "--workers", "0"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr
