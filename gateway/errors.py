"""The gateway's exception tree: every exception the gateway and its resolvers raise on
purpose is defined here, below `GatewayError`.

    GatewayError
     +-- ConfigError                  a bad configuration file; names source and key
     +-- RequestError                 a request that cannot be served as sent: its sender's
     |    |                           to fix (a 4xx, or a GraphQL error with a code)
     |    +-- BadInput                an argument that cannot be served as given (GraphQL
     |    |    |                      BAD_USER_INPUT; 400 on the export route and the CLI)
     |    |    +-- InvalidGlobalId    a global id this gateway did not issue
     |    |    +-- InvalidCursor      a cursor this gateway did not issue for this list
     |    |    +-- InvalidPaging      `first` outside the allowed range
     |    |    +-- BadSelection       a filter that cannot be served (an unknown source...)
     |    |    +-- UnknownSource      a source name not in the configuration; also a
     |    |                           `LookupError`
     |    +-- CursorExpired           an invoiceChanges cursor older than the retention
     |    |                           (CURSOR_EXPIRED)
     |    +-- LimitExceeded           an operation past a limit (OPERATION_LIMIT, `limit`)
     |    +-- RequestJSONError        a body that is not JSON, not UTF-8 or nested too
     |    |                           deep; also a `json.JSONDecodeError`
     |    +-- BodyTooLarge            a request body over its cap (413)
     |    +-- PersistedQueryError     a persisted query that cannot be served (`code`,
     |    |                           `status`)
     |    +-- SubscriptionNeedsStream a subscription sent as a plain request (406)
     |    +-- WebhookRefused          a webhook delivery not accepted (carries the HTTP status)
     +-- AccessRefused                the caller may not do this
     |    +-- Unauthenticated         a missing or bad credential (401)
     |    +-- SourceForbidden         a source the caller may not use (FORBIDDEN)
     |    +-- MetricsRefused          `/metrics` without the right to read it (401 or 403)
     +-- WriteRefused                 a write the client can fix (becomes `userErrors`, one
     |                                per `UserProblem`)
     +-- UpstreamError                anything that went wrong talking to one source
     |    +-- UpstreamUnavailable     5xx, refused or dropped connection
     |    +-- UpstreamTimeout         no answer within the source's timeout
     |    +-- UpstreamUnauthorized    401
     |    +-- UpstreamForbidden       403
     |    +-- UpstreamNotFound        404, or an id the upstream does not know
     |    +-- UpstreamRateLimited     429 (carries Retry-After)
     |    +-- UpstreamBadResponse     a reply that is not what the wire contract says
     |    +-- UpstreamRejected        a 4xx refusing what we sent, with field messages
     |    +-- UpstreamUnsupported     the source cannot do this at all (no such endpoint)
     |    +-- WriteOutcomeUnknown     a create that may or may not have reached the upstream
     |    +-- StateUnavailable        the gateway's state store did not answer (source: whose
     |                                data needed it, or "state")
     +-- ExportFailed                 sources failed during an export (carries their
     |                                `UpstreamError`s)
     +-- SubscriberOverflow           a subscriber fell too far behind and was cut off
     |                                (SUBSCRIBER_OVERFLOW)
     +-- InvalidRemoteId              an id that cannot be the upstream's: never sent
     +-- WireError                    one HTTP exchange failed: the connection, or a reply
          |                           that is not HTTP
          +-- WireTimeout             no answer within the wire's own timeout

Adapters raise these; resolvers turn them into GraphQL errors carrying `code`, `source`
and `status` (`resolvers.errors`); the web layer answers the request errors and refusals
with their HTTP status. No other layer catches broadly. Messages never carry tokens or
secrets.

`InvalidRemoteId`, `WireError` and `WireTimeout` never leave the upstream client
(`gateway.upstream.client.SourceClient`): it translates them into `UpstreamNotFound`,
`UpstreamUnavailable` and `UpstreamTimeout`, which name the source.

Two classes keep a standard exception as a second base, for callers that catch it:
`RequestJSONError` is a `json.JSONDecodeError` (so a `ValueError`), which is what
strawberry's views and WebSocket handlers catch as "not JSON"; `UnknownSource` is a
`LookupError`, a name looked up and not found, as a missing key is.

Not here: the simulators' own exceptions (`gateway/simulators/`). The simulators stand in
for foreign APIs, and what they raise is theirs, never the gateway's.

This module is the lowest layer (tests/test_layers.py): it imports nothing of the gateway,
and no GraphQL or web library.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration file is invalid; the message names the source and the key."""


class RequestError(GatewayError):
    """A request that cannot be served as sent; its sender can fix it."""


class BadInput(RequestError):
    """An argument that cannot be served as given; the message says why."""


class InvalidGlobalId(BadInput):
    """A global id that is not one this gateway issued."""


class InvalidCursor(BadInput):
    """A cursor that is not one this gateway issued for this list."""


class InvalidPaging(BadInput):
    """`first` outside the allowed range."""


class CursorExpired(RequestError):
    """An `invoiceChanges` cursor whose position the retention (`changes_retention_days`)
    has pruned: changes after it are gone, so the feed cannot resume there."""

    code = "CURSOR_EXPIRED"


class BadSelection(BadInput):
    """A filter that cannot be served as given; the message says which part and why."""


class UnknownSource(BadInput, LookupError):
    """A source name that is not in the configuration."""


class LimitExceeded(RequestError):
    """An operation past one of the configured limits; `limit` names its key."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class RequestJSONError(RequestError, json.JSONDecodeError):
    """A client's JSON that the gateway will not read; `str()` says why, in plain words.

    A `json.JSONDecodeError` (so a `ValueError`), which is what strawberry's views and
    WebSocket handlers catch as "not JSON"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.args = (reason,)

    def __str__(self) -> str:
        return self.msg


class BodyTooLarge(RequestError):
    """A request body over its cap (HTTP 413, code `PAYLOAD_TOO_LARGE` or the caller's)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class PersistedQueryError(RequestError):
    """A persisted-query request that cannot be served: `code` and the HTTP `status`."""

    def __init__(self, code: str, message: str, status: int = 400,
                 **extensions: Any) -> None:
        super().__init__(message)
        self.code, self.status, self.extensions = code, status, extensions


class SubscriptionNeedsStream(RequestError):
    """A subscription sent as a plain request: its one answer could never come."""


class WebhookRefused(RequestError):
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


class AccessRefused(GatewayError):
    """The caller may not do this: no valid credential, or not allowed to."""


class Unauthenticated(AccessRefused):
    """A missing or bad credential where one is needed (HTTP 401); the message says which,
    never echoing the credential."""


class SourceForbidden(AccessRefused):
    """The caller named a source it may not use (GraphQL `FORBIDDEN`)."""


class MetricsRefused(AccessRefused):
    """A `/metrics` request without the right to read it: HTTP `status`, GraphQL-style
    `code`, and a message naming what is needed (never echoing what was sent)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


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


class ExportFailed(GatewayError):
    """A source failed during an export; `errors` are its upstream errors."""

    def __init__(self, errors: Sequence[UpstreamError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = list(errors)


class SubscriberOverflow(GatewayError):
    """The subscriber fell more than its queue size behind and was cut off."""


class InvalidRemoteId(GatewayError):
    """An id that cannot be one of this upstream's: it is never sent."""

    def __init__(self, value: object, words: str) -> None:
        shown = repr(value if not isinstance(value, str) else value[:60])
        super().__init__(f"{shown} is not an id this source has ({words})")


class WireError(GatewayError):
    """The exchange failed: the connection, or a reply that is not HTTP."""

    def __init__(self, description: str, *, unsent: bool = False) -> None:
        super().__init__(description)
        self.description = description
        # The request provably never left: no connection was made (refused, name not
        # resolved, connect timeout). A write that fails so did nothing upstream.
        self.unsent = unsent


class WireTimeout(WireError):
    """No answer within the wire's own read or connect timeout."""
