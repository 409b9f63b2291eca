"""Replicas sharing one Redis: shared read cache, request budget, idempotency, fan-out."""
