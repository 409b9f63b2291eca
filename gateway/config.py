"""The configuration file: YAML, one block per source, `${VAR}` read from the environment.

A bad file stops start-up with a `ConfigError` naming the source and the key. Secrets are
held as `SecretStr` and never appear in a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gateway.errors import ConfigError

Kind = Literal["makershub", "makini", "invoicematic", "cloudbilling"]
KINDS: tuple[str, ...] = ("makershub", "makini", "invoicematic", "cloudbilling")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Keys that only one kind understands; any other kind refuses them.
_KIND_KEYS: dict[str, str] = {
    "tenant_slug": "cloudbilling",
    "path_prefix": "makini",
    "currency_ids": "invoicematic",
}
_SECRET_KEYS = frozenset({"token", "webhook_secret"})


class SourceConfig(BaseModel):
    """One upstream connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    kind: Kind
    base_url: str = Field(pattern=r"^https?://[^\s]+$")
    token: SecretStr
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    webhook_secret: SecretStr | None = None
    tenant_slug: str | None = None
    path_prefix: str | None = None
    currency_ids: dict[int, str] | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)
    cache_ttl: float = Field(default=5.0, ge=0, le=3600)
    cache_size: int = Field(default=2048, ge=1)
    max_concurrency: int = Field(default=10, ge=1, le=200)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("token")
    @classmethod
    def _non_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig]

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> GatewayConfig:
    """Read and validate a configuration file; raise `ConfigError` with a precise message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(raw, os.environ if environ is None else environ, origin=str(path))


def parse_config(raw: Any, environ: Any, origin: str = "configuration") -> GatewayConfig:
    """Validate an already-parsed YAML document."""
    if not isinstance(raw, dict) or set(raw) - {"sources"}:
        extra = sorted(set(raw) - {"sources"}) if isinstance(raw, dict) else []
        detail = f"unknown top-level key {extra[0]!r}" if extra else "expected a 'sources' list"
        raise ConfigError(f"{origin}: {detail}")
    blocks = raw.get("sources")
    if not isinstance(blocks, list) or not blocks:
        raise ConfigError(f"{origin}: 'sources' must be a non-empty list")
    sources = [_parse_source(index, block, environ, origin) for index, block in enumerate(blocks)]
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ConfigError(f"{origin}: source {source.name!r}: key 'name': used twice")
        seen.add(source.name)
    return GatewayConfig(sources=sources)


def _parse_source(index: int, block: Any, environ: Any, origin: str) -> SourceConfig:
    if not isinstance(block, dict):
        raise ConfigError(f"{origin}: source #{index + 1}: expected a mapping")
    label = f"source {block['name']!r}" if isinstance(block.get("name"), str) else (
        f"source #{index + 1}"
    )
    values: dict[str, Any] = {}
    for key, value in block.items():
        values[key] = _expand(value, environ, f"{origin}: {label}: key {key!r}")
    kind = values.get("kind")
    for key, owner in _KIND_KEYS.items():
        if key in values and kind in KINDS and kind != owner:
            raise ConfigError(f"{origin}: {label}: key {key!r}: only a {owner} source takes it")
    if kind == "cloudbilling" and not values.get("tenant_slug"):
        raise ConfigError(f"{origin}: {label}: key 'tenant_slug': required for cloudbilling")
    try:
        return SourceConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        elif first["type"] == "missing":
            reason = "required"
        elif first["type"] == "literal_error":
            reason = f"unknown kind; expected one of {', '.join(KINDS)}"
        else:
            reason = first["msg"]
            if key.split(".")[0] not in _SECRET_KEYS and "input" in first:
                reason += f" (got {first['input']!r})"
        raise ConfigError(f"{origin}: {label}: key {key!r}: {reason}") from None


def _expand(value: Any, environ: Any, where: str) -> Any:
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return str(environ[name])

        return _VAR.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, environ, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, where) for v in value]
    return value
