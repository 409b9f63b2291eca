"""Helpers for tests that drive the gateway as a real process, or tools outside Python.

`GatewayProcess` runs `invoice-gateway serve` on a free 127.0.0.1 port with a configuration
the test writes; `serve_live` serves an app in the test's own event loop on a real port. `require_tool` skips a test outside CI when a tool is missing (saying why)
and fails it under CI=true, where `scripts/test-tools` must have installed the tool.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from gateway.simulators.runner import EmbeddedServer, bind_socket

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / ".cache" / "node" / "node_modules"
NODE_SCRIPTS = ROOT / "tests" / "node"
TEST_OUTPUT = ROOT / ".cache" / "test-output"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(
    available: bool, reason: str, provider: str = "scripts/test-tools installs it"
) -> None:
    """Skip (outside CI) or fail (CI=true) when a tool the test needs is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: {provider}; such tests never skip in CI)")
    pytest.skip(f"{reason}; {provider} when CI=true")


@asynccontextmanager
async def serve_live(app: Any, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve `app` (lifespan included) on `sock`, or a free 127.0.0.1 port, until the block
    ends; yields its root URL (`http://127.0.0.1:PORT`)."""
    sock = sock or bind_socket("127.0.0.1", 0)
    server = EmbeddedServer(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_node(script: str, *args: str, timeout: float = 180) -> dict[str, Any]:
    """Run one of tests/node's scripts with the cached npm packages; its last line is JSON."""
    require_tool((NODE_MODULES / "graphql-http").is_dir(), "npm test tools not in .cache/node")
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    done = subprocess.run(
        ["node", str(NODE_SCRIPTS / script), *args], capture_output=True, text=True,
        timeout=timeout, env=env, check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing; stderr: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["output"] = lines[:-1]
    result["returncode"] = done.returncode
    return result


class GatewayProcess:
    """`invoice-gateway serve` in a process of its own, on a free port of 127.0.0.1."""

    def __init__(self, config: dict[str, Any], workdir: Path, name: str = "gateway") -> None:
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log_path = workdir / f"{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(self.config_path),
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited at start-up: {self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway not up within {timeout}s: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]


# The machines' own servers (the guide: started before every session and CI run); used
# when the variable is unset and they answer.
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _service_url(variable: str, local: str, port: int, schemes: tuple[str, ...]) -> str:
    """`variable`'s URL (`.ci/run` sets it), else `local` where its server answers on
    `port`; skip outside CI when there is neither."""
    url = os.environ.get(variable, "") or (local if _answers(port) else "")
    require_tool(url.startswith(schemes), f"{variable} is not set to a {schemes[0]} URL and "
                 f"nothing answers on 127.0.0.1:{port}", ".ci/run sets it")
    return url


def database_url() -> str:
    """The PostgreSQL the tests use: DATABASE_URL, else the local server."""
    return _service_url("DATABASE_URL", LOCAL_DATABASE_URL, 5432,
                        ("postgresql://", "postgres://"))


def redis_url() -> str:
    """The Redis the tests use: REDIS_URL, else the local server."""
    return _service_url("REDIS_URL", LOCAL_REDIS_URL, 6379, ("redis://",))


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test: the DATABASE_URL that uses only it."""
    import psycopg

    url = database_url()
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        require_tool(False, f"PostgreSQL at DATABASE_URL is not reachable ({exc})",
                     ".ci/run points it at the local server")
        raise
    with admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            separator = "&" if "?" in url else "?"
            yield f"{url}{separator}options=-csearch_path%3D{name}"
        finally:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')
