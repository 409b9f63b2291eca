"""The replica topology as shipped (docker-compose.yml, deploy/gateway.yaml, Dockerfile).
No container engine runs here, so these check what can be checked without one: the
replicas' configuration loads with the environment compose gives it, every image is
pinned, and the gateway image runs as an unprivileged user."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.config import load_config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_three_replicas_on_one_redis_and_one_postgresql():
    services = COMPOSE["services"]
    replicas = [name for name in services if name.startswith("gateway-")]
    assert len(replicas) == 3
    ports = {services[name]["ports"][0] for name in replicas}
    assert len(ports) == 3
    for name in replicas:
        environment = services[name]["environment"]
        assert environment["GATEWAY_REDIS_URL"] == "redis://redis:6379/0"
        assert environment["GATEWAY_STATE"].startswith("postgresql://")
        assert "/config/gateway.yaml" in services[name]["command"]
    assert {"redis", "postgres", "upstreams"} <= set(services)


def test_the_replicas_configuration_loads_with_the_compose_environment():
    environment = COMPOSE["services"]["gateway-1"]["environment"]
    config = load_config(ROOT / "deploy" / "gateway.yaml", dict(environment))
    assert config.redis_url == "redis://redis:6379/0"
    assert config.state == "postgresql://gateway:gateway@postgres:5432/gateway"
    assert [source.name for source in config.sources] == ["ap", "erp", "billing", "cloud"]
    assert config.source("cloud").request_budget == 20


def test_images_are_pinned_and_the_gateway_runs_unprivileged():
    for name in ("redis", "postgres"):
        image = COMPOSE["services"][name]["image"]
        assert re.fullmatch(r"[a-z]+:\d+\.\d+(\.\d+)?-[a-z0-9.]+", image), image
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base is not None and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1))
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001:10001$", final_stage, re.MULTILINE)
    assert "COPY --from=build /opt/venv /opt/venv" in final_stage
    assert "apt-get" not in final_stage and "pip install" not in final_stage
