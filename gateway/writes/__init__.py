"""Writes through the gateway, exactly once: idempotency claims, reconciliation."""
