"""One upstream connection's settings, as the adapters and the upstream client receive them.

`SourceConfig` holds the keys every source block has; the keys only one kind understands
(Cloud Billing's `tenant_slug`, say) live on that kind's own `KindSettings` model, declared
in its adapter module and held in `SourceConfig.settings`. Reading the configuration file
(`gateway.config`) sits above the upstream registry, since it needs every kind's model;
these models sit below the adapters, which are built from them.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

S = TypeVar("S", bound="KindSettings")


class KindSettings(BaseModel):
    """The keys of a source block that only its kind takes (none unless the kind's adapter
    declares a subclass as its `settings`). In the file they stand beside the common keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(BaseModel):
    """A source's circuit breaker: open after `failures` in a row, for `open_seconds`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(default=5, ge=1, le=1000)
    open_seconds: float = Field(default=30.0, gt=0, le=3600)


class SourceConfig(BaseModel):
    """One upstream connection: the keys every kind takes, and the kind's own `settings`.

    `kind` is checked against the upstream registry when the file is read
    (`gateway.config.parse_source`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    kind: str
    base_url: str = Field(pattern=r"^https?://[^\s]+$")
    token: SecretStr
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    webhook_secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0, le=300)
    cache_ttl: float = Field(default=5.0, ge=0, le=3600)
    cache_size: int = Field(default=2048, ge=1)
    max_concurrency: int = Field(default=10, ge=1, le=200)
    # Upstream resilience (contract "Upstream resilience (v2)").
    retries: int = Field(default=2, ge=0, le=10)
    breaker: BreakerConfig = Field(default_factory=lambda: BreakerConfig())
    stale_ttl: float = Field(default=300.0, ge=0, le=86400)
    # Scale-out (v2): upstream requests per second, all replicas together (shared in Redis).
    request_budget: int | None = Field(default=None, ge=1, le=100_000)
    # Seconds between two polls of this source for the change feed (docs/changes.md); off
    # when not set. For sources that send no webhooks (Makini, Cloud Billing).
    sync_interval: float | None = Field(default=None, ge=1, le=86400)
    # The kind's own keys, validated by its model (not a key of the file: its keys are).
    settings: KindSettings = Field(default_factory=KindSettings)

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

    def settings_as(self, model: type[S]) -> S:
        """`settings`, as the kind's own model (its adapter asks for the model it declared)."""
        if not isinstance(self.settings, model):
            raise TypeError(f"source {self.name!r}: settings are a "
                            f"{type(self.settings).__name__}, not a {model.__name__}")
        return self.settings


# The keys of a source block that are not the kind's own.
COMMON_KEYS = frozenset(SourceConfig.model_fields) - {"settings"}
