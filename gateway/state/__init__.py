"""Durable gateway state (idempotency claims, cursors): the store interface, SQLite, PostgreSQL."""
