"""The configuration file: YAML, one block per source, `${VAR}` read from the environment.

A bad file stops start-up with a `ConfigError` naming the source and the key. Secrets are
held as `SecretStr` and never appear in a message.

A source block's kinds and their own keys come from the upstream registry
(`gateway.registry`): the keys every source takes are `SourceConfig`'s
(`gateway.source_config`), the rest are validated by the kind's `settings_model`. That is
why this module sits above the adapters (docs/architecture.md), and the models the adapters
receive sit below them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import ConfigError
from gateway.registry import KINDS
from gateway.source_config import COMMON_KEYS
from gateway.source_config import BreakerConfig as BreakerConfig
from gateway.source_config import KindSettings as KindSettings
from gateway.source_config import SourceConfig as SourceConfig

# (`SourceConfig`, `BreakerConfig` and `KindSettings` live below the adapters, which are built
# from them; they are named here too, beside the file's other models.)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEYS = frozenset({"token", "webhook_secret", "key", "secret", "redis_url", "state"})
_TOP_KEYS = (
    "sources", "state", "clients", "jwt", "allow_anonymous", "limits", "redis_url",
    "persisted_queries", "request_timeout", "early_reads", "gc_pacing", "cors", "metrics",
    "state_timeout", "executor", "changes_retention_days", "list_windows",
)
STATE_FILE = "invoice-gateway-state.sqlite3"


class ClientConfig(BaseModel):
    """An API key (sent as `Authorization: Bearer <key>`) and what it may reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
    key: SecretStr | None = None
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    sources: list[str] | None = None  # None: every source
    access: Literal["read", "write"] = "read"

    @model_validator(mode="after")
    def _one_key(self) -> ClientConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of 'key' and 'key_sha256'")
        return self


class JwtConfig(BaseModel):
    """Bearer JWTs from an identity provider: a JWKS URL or an HS256 secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jwks_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    secret: SecretStr | None = None
    issuer: str | None = None
    audience: str | None = None
    sources_claim: str = "invoice_sources"
    write_scope: str = "invoices:write"
    # The claim naming the caller (with `iss`, its identity: idempotency keys are scoped by
    # it). A token without it is refused; `client_id`, say, for client-credential tokens.
    subject_claim: str = Field(default="sub", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_keyset(self) -> JwtConfig:
        if (self.jwks_url is None) == (self.secret is None):
            raise ValueError("give exactly one of 'jwks_url' and 'secret'")
        return self


class LimitsConfig(BaseModel):
    """Operation limits (contract "Operation limits (v2)")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=50, ge=0)
    max_tokens: int = Field(default=5000, ge=1)
    max_cost: int = Field(default=25000, ge=1)
    max_first: int = Field(default=500, ge=1, le=500)  # paging never serves more than 500
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    # Front-door limits (docs/security.md): what one caller can make the process hold.
    max_webhook_bytes: int = Field(default=1_000_000, ge=1)
    max_header_bytes: int = Field(default=65_536, ge=1024, le=16_777_216)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    introspection: bool = True
    # `__schema` / `__type` selections have their own budget (docs/limits.md): GraphiQL's
    # introspection query passes, an aliased introspection bomb does not.
    introspection_max_depth: int = Field(default=20, ge=1)
    introspection_max_cost: int = Field(default=50_000, ge=1)
    # An answer whose JSON is larger is replaced by one RESPONSE_TOO_LARGE error.
    max_response_bytes: int = Field(default=10_000_000, ge=1000)
    # Seconds a WebSocket may stay open without `connection_init` (both subprotocols).
    connection_init_timeout: float = Field(default=10.0, gt=0, le=3600)


class PersistedQueriesConfig(BaseModel):
    """Persisted operations: `only` serves nothing but the manifest's operations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    only: bool = False
    manifest: str | None = None

    @model_validator(mode="after")
    def _manifest_when_only(self) -> PersistedQueriesConfig:
        if self.only and not self.manifest:
            raise ValueError("'only: true' needs a 'manifest' file")
        return self


_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9*]([a-z0-9.*-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _check_origin(value: str) -> str:
    """A browser origin as browsers send it (`scheme://host[:port]`, lower case, no default
    port), with at most one `*` standing for a whole host label."""
    origin = value.strip().lower()
    if origin == "*":
        raise ValueError("'*' alone is not accepted: list the origins (a '*' may stand for "
                         "one host label, as in https://*.example.com)")
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{value!r} is not an origin: it must start with http:// or https://")
    if "/" in rest or "?" in rest or "#" in rest:
        raise ValueError(f"{value!r} is not an origin: no path, not even a trailing '/' "
                         "(an origin is scheme://host[:port])")
    match = _ORIGIN.match(origin)
    if match is None:
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])")
    host = match["host"]
    labels = host.split(".")
    if host.count("*") > 1 or any("*" in label and label != "*" for label in labels):
        raise ValueError(f"{value!r}: a '*' must stand alone for one host label, at most once")
    if "*" in host and (labels[0] != "*" or len(labels) < 3):
        raise ValueError(f"{value!r}: a '*' may only be the first label of a host with at "
                         "least two more (https://*.example.com)")
    if match["port"] == _DEFAULT_PORTS[match["scheme"]]:
        origin = f"{match['scheme']}://{host}"  # browsers leave the default port out
    return origin


class CorsConfig(BaseModel):
    """Browser apps on other origins (contract "Browser clients (v3)", docs/browser-clients.md).

    No origins (the default): no CORS headers at all, and a browser's WebSocket is accepted
    only from the gateway's own origin.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    origins: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age: int = Field(default=600, ge=0, le=86400)

    @field_validator("origins", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("must be a list of origins, not one string")
        return value

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        checked = [_check_origin(origin) for origin in value]
        return list(dict.fromkeys(checked))


class MetricsConfig(BaseModel):
    """Who may read `/metrics` (docs/operations.md). With `key`, exactly that bearer key
    (API keys and JWTs never); without it, only an open gateway's loopback callers (or any
    caller with `allow_anonymous: true`), and nobody once `clients` or `jwt` are set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: SecretStr | None = None

    @field_validator("key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (a random string, as for "
                             "API keys)")
        return value


MEMORY_STATE = "sqlite:///:memory:"


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig]
    # The state store (contract "State store (v2)"): sqlite:///PATH or postgresql://...
    state: str = Field(default=MEMORY_STATE, pattern=r"^(sqlite:///|postgres(ql)?://).+")
    # Seconds a state-store operation may take (waiting for a connection included) before
    # the request is answered STATE_UNAVAILABLE (docs/writes.md).
    state_timeout: float = Field(default=3.0, gt=0, le=60)
    clients: list[ClientConfig] = Field(default_factory=list)
    jwt: JwtConfig | None = None
    allow_anonymous: bool = False
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    redis_url: str | None = Field(default=None, pattern=r"^rediss?://.+")
    persisted_queries: PersistedQueriesConfig | None = None
    # One deadline per GraphQL request: every upstream call it causes ends by then.
    request_timeout: float = Field(default=30.0, gt=0, le=600)
    # A repeated request's first upstream reads start as soon as it is let in
    # (gateway.upstream.plugins.early).
    # Off by default: on varied traffic it did not earn its place (docs/performance.md).
    early_reads: bool = False
    # Young garbage collections paced to moments every HTTP request waits on an upstream,
    # with a larger automatic threshold as the backstop (gateway.upstream.plugins.gcpace).
    # Off by default: a saturated process is never idle, and the backstop's large young
    # generation then collects in single long pauses that stall every connection
    # (docs/performance.md).
    gc_pacing: bool = False
    # How GraphQL operations execute (resolvers/executor.py, docs/performance.md):
    # `plain-fields` completes plain fields in place, overriding graphql-core internals
    # (tested with the versions pinned in pyproject.toml); `graphql-core` is strawberry's
    # own executor, the plain path beside it.
    executor: Literal["plain-fields", "graphql-core"] = "plain-fields"
    # A list page serving few invoices reads only a window that holds them from an upstream
    # that pages by any size (`Adapter.window_sizes`, gateway.lists.paging); off: whole
    # pages of `page_size` always (docs/performance.md).
    list_windows: bool = True
    cors: CorsConfig = Field(default_factory=CorsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    # Days the change feed (`invoiceChanges`) keeps a change (docs/changes.md).
    changes_retention_days: float = Field(default=30.0, gt=0, le=3650)

    @property
    def has_credentials(self) -> bool:
        """Whether any client credential (API key or JWT) is configured."""
        return bool(self.clients) or self.jwt is not None

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def cors_origins(origins: list[str], origin: str = "--cors-origin") -> CorsConfig:
    """A `CorsConfig` for these origins (the demo's `--cors-origin`); `ConfigError` naming
    a bad one."""
    try:
        return CorsConfig(origins=origins)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe_error(exc)}") from None


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
    state_default = f"sqlite:///{(path.parent / STATE_FILE).resolve()}"
    return parse_config(
        raw, os.environ if environ is None else environ, origin=str(path),
        state_default=state_default,
    )


def parse_config(
    raw: Any, environ: Any, origin: str = "configuration", state_default: str | None = None
) -> GatewayConfig:
    """Validate an already-parsed YAML document.

    `state_default` is the state store used when the file names none (`load_config` puts a
    SQLite file beside the configuration file; otherwise the store lives in memory).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with a 'sources' list")
    extra = [key for key in raw if key not in _TOP_KEYS]
    if extra:
        raise ConfigError(
            f"{origin}: unknown top-level key {extra[0]!r}; expected one of {', '.join(_TOP_KEYS)}"
        )
    blocks = raw.get("sources")
    if not isinstance(blocks, list) or not blocks:
        raise ConfigError(f"{origin}: 'sources' must be a non-empty list")
    sources = [_parse_source(index, block, environ, origin) for index, block in enumerate(blocks)]
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ConfigError(f"{origin}: source {source.name!r}: key 'name': used twice")
        seen.add(source.name)
    top: dict[str, Any] = {"sources": sources}
    for key in _TOP_KEYS[1:]:
        if key in raw:
            top[key] = _expand(raw[key], environ, f"{origin}: key {key!r}")
    if "state" not in top and state_default is not None:
        top["state"] = state_default
    try:
        config = GatewayConfig.model_validate(top)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe_error(exc)}") from None
    names = {source.name for source in sources}
    for client in config.clients:
        unknown = sorted(set(client.sources or ()) - names)
        if unknown:
            raise ConfigError(
                f"{origin}: client {client.name!r}: key 'sources': unknown source {unknown[0]!r}"
            )
    client_names = [client.name for client in config.clients]
    for name in client_names:
        if client_names.count(name) > 1:
            raise ConfigError(f"{origin}: client {name!r}: key 'name': used twice")
    return config


def _describe_error(exc: ValidationError) -> str:
    """`key 'a.b': reason` for the first error, never echoing a secret's value."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "?"
    if first["type"] == "extra_forbidden":
        reason = "unknown key"
    elif first["type"] == "missing":
        reason = "required"
    elif first["type"] == "literal_error":
        reason = first["msg"]
    else:
        reason = first["msg"].removeprefix("Value error, ")
        secret = any(str(part) in _SECRET_KEYS for part in first["loc"])
        if not secret and "input" in first and not isinstance(first["input"], dict | list):
            reason += f" (got {first['input']!r})"
    return f"key {key!r}: {reason}"


def _parse_source(index: int, block: Any, environ: Any, origin: str) -> SourceConfig:
    if not isinstance(block, dict):
        raise ConfigError(f"{origin}: source #{index + 1}: expected a mapping")
    label = f"source {block['name']!r}" if isinstance(block.get("name"), str) else (
        f"source #{index + 1}"
    )
    values: dict[str, Any] = {}
    for key, value in block.items():
        values[key] = _expand(value, environ, f"{origin}: {label}: key {key!r}")
    return parse_source(values, f"{origin}: {label}")


def parse_source(block: Mapping[str, Any], where: str = "source") -> SourceConfig:
    """One source block (its `${VAR}`s already expanded) as a `SourceConfig`, the keys its
    kind alone takes validated by the kind's settings model; `ConfigError` prefixed with
    `where` otherwise."""
    kind = block.get("kind")
    own = {key: value for key, value in block.items() if key not in COMMON_KEYS}
    settings: KindSettings | None = None
    if isinstance(kind, str) and kind in KINDS:
        model = KINDS[kind].settings_model
        for key in own:
            owners = KINDS.taking(key)
            if key not in model.model_fields and owners:
                raise ConfigError(
                    f"{where}: key {key!r}: only a {' or '.join(owners)} source takes it"
                )
        try:
            settings = model.model_validate(own)
        except ValidationError as exc:
            reason = _describe_error(exc)
            if exc.errors()[0]["type"] == "missing":
                reason += f" for {kind}"
            raise ConfigError(f"{where}: {reason}") from None
    unknown_kind = f"{where}: key 'kind': unknown kind; expected one of {', '.join(KINDS)}"
    try:
        config = SourceConfig.model_validate(
            {key: value for key, value in block.items() if key in COMMON_KEYS}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["loc"] == ("kind",) and first["type"] != "missing":
            raise ConfigError(unknown_kind) from None
        raise ConfigError(f"{where}: {_describe_error(exc)}") from None
    if settings is None:
        raise ConfigError(unknown_kind)
    return config.model_copy(update={"settings": settings})


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
