"""The gateway's exception tree.

    GatewayError
     +-- ConfigError                  a bad configuration file; names source and key
     +-- WebhookRefused               a webhook delivery not accepted (carries the HTTP status)
     +-- UpstreamError                anything that went wrong talking to one source
          +-- UpstreamUnavailable     5xx, refused or dropped connection
          +-- UpstreamTimeout         no answer within the source's timeout
          +-- UpstreamUnauthorized    401
          +-- UpstreamForbidden       403
          +-- UpstreamNotFound        404, or an id the upstream does not know
          +-- UpstreamRateLimited     429 (carries Retry-After)
          +-- UpstreamBadResponse     a reply that is not what the wire contract says
          +-- UpstreamRejected        a 4xx refusing what we sent, with field messages
          +-- UpstreamUnsupported     the source cannot do this at all (no such endpoint)
          +-- WriteOutcomeUnknown     a create that may or may not have reached the upstream
          +-- StateUnavailable        the gateway's state store did not answer (source: whose
                                      data needed it, or "state")
     +-- WriteRefused                 a write the client can fix (becomes `userErrors`)

Adapters raise these; resolvers turn them into GraphQL errors carrying `code`, `source`
and `status`. No other layer catches broadly. Messages never carry tokens or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration file is invalid; the message names the source and the key."""


class WebhookRefused(GatewayError):
    """A webhook delivery that is not accepted: bad signature, stale, or unreadable."""

    CODES: ClassVar[dict[int, str]] = {
        400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "NOT_CONFIGURED",
        413: "PAYLOAD_TOO_LARGE",
    }

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or self.CODES.get(status, "REFUSED")


class UpstreamError(GatewayError):
    """A failure attributable to one upstream source."""

    code: ClassVar[str] = "UPSTREAM_UNAVAILABLE"

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
        retry_after: float | None = None,
        unsent: bool = False,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.message = message
        self.status = status
        self.field_errors = field_errors or {}
        self.retry_after = retry_after
        # True only where the request provably never left (connection refused, name not
        # resolved, breaker open, budget spent before sending): a write then did nothing.
        self.unsent = unsent

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"


class UpstreamUnauthorized(UpstreamError):
    code = "UPSTREAM_UNAUTHORIZED"


class UpstreamForbidden(UpstreamError):
    code = "UPSTREAM_FORBIDDEN"


class UpstreamNotFound(UpstreamError):
    code = "UPSTREAM_NOT_FOUND"


class UpstreamRateLimited(UpstreamError):
    code = "UPSTREAM_RATE_LIMITED"


class UpstreamBadResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"


class UpstreamRejected(UpstreamError):
    code = "UPSTREAM_REJECTED"


class UpstreamUnsupported(UpstreamError):
    code = "UPSTREAM_UNSUPPORTED"


class WriteOutcomeUnknown(UpstreamError):
    """A keyed create whose request may have reached the upstream, and which the gateway
    could not (yet) find there: nothing is created again until it is reconciled."""

    code = "WRITE_OUTCOME_UNKNOWN"

    def __init__(
        self, source: str, message: str, idempotency_key: str, cause: str | None = None
    ) -> None:
        super().__init__(source, message)
        self.idempotency_key = idempotency_key
        self.cause = cause  # the code of the failure that left the outcome unknown


class StateUnavailable(UpstreamError):
    """The gateway's own state store (SQLite, PostgreSQL) failed or did not answer in time.

    `store` names it (without a password); `source` is the source whose request needed it,
    or "state" where no source is concerned."""

    code = "STATE_UNAVAILABLE"

    def __init__(self, store: str, reason: str, source: str = "state") -> None:
        super().__init__(source, f"state store {store} is unavailable: {reason}")
        self.store = store
        self.reason = reason

    def for_source(self, source: str) -> StateUnavailable:
        """The same failure, attributed to the source whose request needed the store."""
        return StateUnavailable(self.store, self.reason, source)


def for_status(status: int) -> type[UpstreamError]:
    """The exception class for an upstream HTTP error status."""
    if status == 401:
        return UpstreamUnauthorized
    if status == 403:
        return UpstreamForbidden
    if status == 404:
        return UpstreamNotFound
    if status == 429:
        return UpstreamRateLimited
    if status in (408, 504):
        return UpstreamTimeout
    if status >= 500:
        return UpstreamUnavailable
    return UpstreamRejected


@dataclass(frozen=True)
class UserProblem:
    """One thing wrong with a write's input: `code` is a `UserError.code` of the contract
    (VALIDATION_FAILED, UNSUPPORTED, CONFLICT, NOT_FOUND, FORBIDDEN, IDEMPOTENCY_KEY_REUSED),
    `field` the input path (`("input", "lineItems", "2", "quantity")`) where one is known."""

    code: str
    message: str
    field: tuple[str, ...] | None = None


class WriteRefused(GatewayError):
    """A write refused for a reason the client can fix; answered as `userErrors`, never as
    a GraphQL error. Raised by the gateway's own checks and by adapters translating an
    upstream's refusal (a 4xx naming fields, a conflict)."""

    def __init__(self, problems: list[UserProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems

    @classmethod
    def one(cls, code: str, message: str, *field: str) -> WriteRefused:
        return cls([UserProblem(code, message, ("input", *field) if field else None)])


class Unauthenticated(GatewayError):
    """A missing or bad credential where one is needed (HTTP 401); the message says which,
    never echoing the credential."""


class SourceForbidden(GatewayError):
    """The caller named a source it may not use (GraphQL `FORBIDDEN`)."""
