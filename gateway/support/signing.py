"""Webhook signatures: lower-case hex HMAC-SHA256 of the raw body with a shared secret.

Both upstreams that send webhooks sign this way (MakersHub `X-Signature`, Invoicematic
`X-Webhook-Signature`); the simulators sign with `sign`, the gateway checks with `matches`.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def matches(secret: str, body: bytes, given: str) -> bool:
    """Whether `given` is the body's signature, compared in constant time."""
    return hmac.compare_digest(sign(secret, body).encode(), given.strip().lower().encode())
