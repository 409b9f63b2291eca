"""Durable gateway state (idempotency claims, webhook deliveries, the MakersHub index):
the store interface, SQLite, PostgreSQL, and `open_state(url)` choosing between them."""
