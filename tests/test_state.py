"""The state store: idempotency claims, the delivery replay guard and the MakersHub index,
and that a file-backed store keeps them across a reopen (a gateway restart)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.state import IDEMPOTENCY_TTL, open_state


async def test_idempotency_claim_complete_and_replay(tmp_path: Path) -> None:
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    assert await store.claim_idempotency("web:erp", "k1", "fp-a", now=1000.0) is None
    pending = await store.claim_idempotency("web:erp", "k1", "fp-a", now=1001.0)
    assert pending is not None and pending.result is None
    await store.complete_idempotency("web:erp", "k1", '{"id": 1}')
    done = await store.claim_idempotency("web:erp", "k1", "fp-b", now=1002.0)
    assert done is not None and (done.fingerprint, done.result) == ("fp-a", '{"id": 1}')
    # another scope (another caller or source) has its own keys
    assert await store.claim_idempotency("app:erp", "k1", "fp-b", now=1002.0) is None
    # after 24 hours the key may be used again
    assert await store.claim_idempotency("web:erp", "k1", "fp-c", now=1000.0 + IDEMPOTENCY_TTL + 1) is None
    await store.close()


async def test_release_lets_a_failed_write_be_retried() -> None:
    store = open_state("sqlite:///:memory:")
    assert await store.claim_idempotency("s", "k", "fp") is None
    await store.release_idempotency("s", "k")
    assert await store.claim_idempotency("s", "k", "fp") is None
    await store.close()


async def test_delivery_ids_are_accepted_once() -> None:
    store = open_state("sqlite:///:memory:")
    assert await store.remember_delivery("billing", "d-1") is True
    assert await store.remember_delivery("billing", "d-1") is False
    assert await store.remember_delivery("ap", "d-1") is True
    await store.close()


async def test_index_pages_in_id_order_and_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_state(url)
    await store.index_add("ap", [30, 10, 20, 10])
    await store.index_add("other", [5])
    await store.index_remove("ap", [20])
    await store.close()
    store = open_state(url)
    assert await store.index_page("ap", 0, 10) == [10, 30]
    assert await store.index_page("ap", 1, 10) == [30]
    assert await store.index_count("ap") == 2
    await store.close()


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="mysql"):
        open_state("mysql://x")


async def test_many_concurrent_index_writes() -> None:
    # Regression: cursors left to the garbage collector were finalized in another worker
    # thread while it ran a statement ("bad parameter or other API misuse").
    store = open_state("sqlite:///:memory:")
    for _ in range(5):
        await asyncio.gather(*(store.index_add("ap", [n]) for n in range(200)))
    assert await store.index_count("ap") == 200
    await store.close()
