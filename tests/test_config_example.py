"""docs/configuration.md stays true: its complete production configuration loads with the
gateway's own loader, and every key the configuration models accept is named on the page."""

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from gateway.config import GatewayConfig, load_config
from gateway.registry import KINDS

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# What the example reads from the environment: made-up values of the right shape.
ENVIRON = {
    "PGPASSWORD": "pg-secret",
    "REDIS_PASSWORD": "redis-secret",
    "MAKERSHUB_TOKEN": "mh-token",
    "MAKERSHUB_WEBHOOK_SECRET": "mh-webhook-secret",
    "MAKINI_TOKEN": "makini-token",
    "INVOICEMATIC_KEY": "im-key",
    "INVOICEMATIC_WEBHOOK_SECRET": "im-webhook-secret",
    "CLOUD_JWT": "cloud.jwt.token",
    "FINANCE_WEB_KEY_SHA256": "ab" * 32,
    "BI_EXPORT_KEY": "bi-export-key-0123456789",
    "METRICS_KEY": "metrics-key-0123456789",
}


def production_example() -> str:
    section = PAGE.read_text().split("## A complete production configuration", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one YAML block in the production section"
    return blocks[0]


def test_the_production_example_loads_with_the_gateways_loader(tmp_path):
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(production_example())
    (tmp_path / "operations.json").write_text(
        '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": []}')

    config = load_config(config_file, environ=ENVIRON)

    assert [(s.name, s.kind) for s in config.sources] == [
        ("ap", "makershub"), ("erp", "makini"), ("billing", "invoicematic"),
        ("cloud", "cloudbilling")]
    assert config.source("ap").token.get_secret_value() == "mh-token"
    assert getattr(config.source("cloud").settings, "tenant_slug", None) == "acme"
    assert config.state == "postgresql://gateway:pg-secret@db.internal:5432/gateway"
    assert config.redis_url == "rediss://:redis-secret@cache.internal:6380/0"
    assert [c.name for c in config.clients] == ["finance-web", "bi-export"]
    assert config.clients[0].key_sha256 == "ab" * 32
    assert config.jwt is not None and config.jwt.jwks_url is not None
    assert config.cors.origins == ["https://finance.example.com"]
    assert config.metrics.key is not None
    assert config.metrics.key.get_secret_value() == ENVIRON["METRICS_KEY"]
    assert config.persisted_queries is not None
    assert not config.allow_anonymous and config.has_credentials


def test_the_production_example_names_every_variable_it_needs():
    named = set(re.findall(r"\$\{(\w+)\}", production_example()))
    assert named == set(ENVIRON), "the test's environment and the example agree"
    listed = PAGE.read_text().split("The environment it needs:", 1)[1]
    assert all(f"`{name}`" in listed for name in named)


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    """Every pydantic model reachable from `model`'s fields (lists, unions, optionals)."""
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        pending: list[typing.Any] = [field.annotation]
        while pending:
            annotation = pending.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models(annotation, seen)
            elif isinstance(annotation, types.UnionType) or typing.get_origin(annotation):
                pending.extend(typing.get_args(annotation))


def test_every_configuration_key_is_on_the_page():
    text = PAGE.read_text()
    models: set[type[BaseModel]] = set()
    _models(GatewayConfig, models)
    for kind in KINDS:  # a kind's own keys stand beside the common ones in a source block
        _models(KINDS[kind].settings_model, models)
    missing = sorted(
        f"{model.__name__}.{name}"
        for model in models for name in model.model_fields
        if name != "settings"  # SourceConfig holds the kind's own keys there, not the file
        and f"`{name}`" not in text and not re.search(rf"^\s*(- )?{name}:", text, re.M)
    )
    assert missing == []
