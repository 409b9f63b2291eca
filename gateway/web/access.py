"""Who is calling, and which sources they may read or write (contract "Access (v2)").

Credentials arrive as `Authorization: Bearer <credential>`: an API key from the `clients`
list (compared by SHA-256 digest in constant time, so the file may hold only the digest)
or a JWT from an identity provider, verified with PyJWT (signature against the JWKS URL's
keys or the HS256 secret, then issuer, audience and expiry); a JWT's caller is
`jwt:<iss>#<sub>` (`jwt.subject_claim` names another claim than `sub`), and a token that
names no caller is refused. Without any configured
credential, callers are served anonymously, but only from loopback addresses unless
`allow_anonymous: true`. This module knows neither FastAPI nor strawberry: the app's front
door asks `Authenticator.identify` and puts the `Identity` on the request context.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
from typing import Any

import jwt

from gateway.config import ClientConfig, GatewayConfig, JwtConfig
from gateway.domain.identity import Identity
from gateway.errors import Unauthenticated

JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                   "ES512", "EdDSA"]
LEEWAY_SECONDS = 30  # clock skew tolerated between the identity provider and us


def is_loopback(host: str | None) -> bool:
    """Whether an address (or `localhost`) is a loopback address."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Authenticator:
    """Turns a request's bearer credential (and peer address) into an `Identity`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.sources = tuple(source.name for source in config.sources)
        self._keys = [(_digest_of(client), client) for client in config.clients]
        self._jwt = JwtVerifier(config.jwt, self.sources) if config.jwt is not None else None
        self.open = not config.has_credentials
        self.allow_anonymous = config.allow_anonymous

    async def identify(self, authorization: str | None, peer: str | None) -> Identity:
        """The caller's identity; `Unauthenticated` when a credential is needed and missing,
        or given and wrong."""
        if self.open:
            # Nothing to check a credential against: a caller allowed in is anonymous.
            if self.allow_anonymous or is_loopback(peer):
                return self._anonymous()
            raise Unauthenticated("no credentials are configured, and anonymous access is "
                                  "only allowed from loopback addresses")
        if not authorization:
            if self.allow_anonymous:
                return self._anonymous()
            raise Unauthenticated(
                "authentication required: send 'Authorization: Bearer <API key or JWT>'"
            )
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthenticated("the Authorization header must be 'Bearer <credential>'")
        client = self._client_for(credential)
        if client is not None:
            return self._client_identity(client)
        if self._jwt is not None and credential.count(".") == 2:
            return await self._jwt.verify(credential)
        raise Unauthenticated("unknown API key or invalid token")

    def _anonymous(self) -> Identity:
        # With nothing configured (the demo, a developer's machine) anonymous callers may do
        # everything; where clients exist, an allowed anonymous caller only reads.
        if self.open:
            return Identity.unrestricted(self.sources)
        return Identity("anonymous", frozenset(self.sources), frozenset())

    def _client_for(self, credential: str) -> ClientConfig | None:
        presented = hashlib.sha256(credential.encode()).digest()
        found: ClientConfig | None = None
        for digest, client in self._keys:  # compare with every key: no early exit to time
            if hmac.compare_digest(digest, presented):
                found = client
        return found

    def _client_identity(self, client: ClientConfig) -> Identity:
        readable = frozenset(client.sources if client.sources is not None else self.sources)
        writable = readable if client.access == "write" else frozenset()
        return Identity(client.name, readable, writable)


def _digest_of(client: ClientConfig) -> bytes:
    if client.key is not None:
        return hashlib.sha256(client.key.get_secret_value().encode()).digest()
    assert client.key_sha256 is not None
    return bytes.fromhex(client.key_sha256)


class JwtVerifier:
    """Bearer JWTs checked with PyJWT: keys from a JWKS URL (fetched and cached by
    `PyJWKClient`) or an HS256 secret; issuer, audience and expiry enforced."""

    def __init__(self, config: JwtConfig, sources: tuple[str, ...]) -> None:
        self.config = config
        self.sources = sources
        self._jwks = (
            jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if config.jwks_url is not None else None
        )

    async def verify(self, token: str) -> Identity:
        config = self.config
        try:
            if self._jwks is not None:
                # PyJWKClient fetches with urllib (blocking): keep it off the event loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key: Any = signing.key
                algorithms = JWKS_ALGORITHMS
            else:
                assert config.secret is not None
                key, algorithms = config.secret.get_secret_value(), ["HS256"]
            required = ["exp"] + (["iss"] if config.issuer else []) + (
                ["aud"] if config.audience else [])
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=algorithms, audience=config.audience,
                issuer=config.issuer, leeway=LEEWAY_SECONDS,
                options={"require": required, "verify_aud": config.audience is not None},
            )
        except jwt.PyJWKClientConnectionError:
            raise Unauthenticated("cannot verify the token: the key set is unreachable") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthenticated(f"invalid token: {_reason(exc)}") from None
        named = self._names(claims.get(config.sources_claim))
        readable = frozenset(name for name in named if name in self.sources)
        scopes = self._names(claims.get("scope", claims.get("scp")))
        writable = readable if config.write_scope in scopes else frozenset()
        return Identity(self._caller(claims), readable, writable)

    def _caller(self, claims: dict[str, Any]) -> str:
        """`jwt:<iss>#<subject>`: who the token speaks for, distinct per issuer and subject
        (so that two users never share idempotency records or early reads)."""
        name = self.config.subject_claim
        subject = claims.get(name)
        if not isinstance(subject, str | int) or isinstance(subject, bool) or not (
            0 < len(str(subject)) <= 255
        ):
            raise Unauthenticated(
                f"invalid token: no '{name}' claim naming the caller (configure "
                "jwt.subject_claim to use another claim)")
        issuer = claims.get("iss")
        return f"jwt:{issuer if isinstance(issuer, str) else ''}#{subject}"

    def _names(self, value: Any) -> list[str]:
        """A claim holding names: a list of strings or one space-separated string."""
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []


def _reason(exc: Exception) -> str:
    # PyJWT's messages name the failed check ("Signature has expired", "Invalid audience")
    # and never include the token itself.
    return str(exc)[:120] or type(exc).__name__
