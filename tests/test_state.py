"""The state store: idempotency claims, the delivery replay guard and the MakersHub index,
and that a stored database keeps them across a reopen (a gateway restart). Every test runs
against both backends: SQLite (a file) and PostgreSQL (DATABASE_URL, a fresh schema)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.state.base import CLAIM_PRUNE_EVERY, IDEMPOTENCY_TTL
from gateway.state.open import open_state
from tests.tools import postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        with postgres_schema() as url:
            yield url


async def opened(url: str):
    store = open_state(url)
    await store.start()
    return store


async def test_idempotency_claim_complete_and_replay(state_url) -> None:
    store = await opened(state_url)
    assert await store.claim_idempotency("web:erp", "k1", "fp-a", now=1000.0) is None
    pending = await store.claim_idempotency("web:erp", "k1", "fp-a", now=1001.0)
    assert pending is not None and pending.result is None
    await store.complete_idempotency("web:erp", "k1", '{"id": 1}')
    done = await store.claim_idempotency("web:erp", "k1", "fp-b", now=1002.0)
    assert done is not None and (done.fingerprint, done.result) == ("fp-a", '{"id": 1}')
    assert done.created_at == 1000.0
    # another scope (another caller or source) has its own keys
    assert await store.claim_idempotency("app:erp", "k1", "fp-b", now=1002.0) is None
    # after 24 hours the key may be used again
    assert await store.claim_idempotency("web:erp", "k1", "fp-c", now=1000.0 + IDEMPOTENCY_TTL + 1) is None
    await store.close()


async def test_release_lets_a_failed_write_be_retried(state_url) -> None:
    store = await opened(state_url)
    assert await store.claim_idempotency("s", "k", "fp") is None
    await store.release_idempotency("s", "k")
    assert await store.claim_idempotency("s", "k", "fp") is None
    await store.complete_idempotency("s", "k", "done")
    await store.release_idempotency("s", "k")  # a finished record is not released
    kept = await store.claim_idempotency("s", "k", "fp")
    assert kept is not None and kept.result == "done"
    await store.close()


async def test_concurrent_claims_of_one_key_have_one_winner(state_url) -> None:
    stores = [await opened(state_url) for _ in range(3)]
    claims = await asyncio.gather(
        *(store.claim_idempotency("web:erp", "race", f"fp-{n % 3}") for n, store in
          enumerate(stores * 4))
    )
    assert sum(claim is None for claim in claims) == 1
    for store in stores:
        await store.close()


async def test_delivery_ids_are_accepted_once(state_url) -> None:
    store = await opened(state_url)
    assert await store.remember_delivery("billing", "d-1") is True
    assert await store.remember_delivery("billing", "d-1") is False
    assert await store.remember_delivery("ap", "d-1") is True
    await store.close()


async def test_index_pages_in_id_order_and_survives_reopen(state_url) -> None:
    store = await opened(state_url)
    await store.index_add("ap", [30, 10, 20, 10])
    await store.index_add("other", [5])
    await store.index_remove("ap", [20])
    await store.close()
    store = await opened(state_url)
    assert await store.index_page("ap", 0, 10) == [10, 30]
    assert await store.index_page("ap", 1, 10) == [30]
    assert await store.index_count("ap") == 2
    assert await store.index_count("nothing") == 0
    await store.close()


async def test_memory_store_for_the_demo() -> None:
    store = await opened("sqlite:///:memory:")
    assert await store.remember_delivery("billing", "d-1") is True
    assert await store.remember_delivery("billing", "d-1") is False
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


async def test_unreachable_database_is_named_without_its_password() -> None:
    store = open_state("postgresql://gw:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    with pytest.raises(ConfigError) as caught:
        await store.start()
    message = str(caught.value)
    assert "postgresql://gw:***@127.0.0.1:1/nowhere" in message
    assert "s3cret-pw" not in message
    await store.close()


def test_serve_refuses_to_start_on_an_unusable_state_store(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "state: postgresql://gw:s3cret-pw@127.0.0.1:1/nowhere\n"
        "sources:\n  - {name: erp, kind: makini, base_url: 'http://127.0.0.1:1', token: t}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "configuration error: state store postgresql://gw:***@127.0.0.1:1/nowhere" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr


async def test_an_unfinished_claim_keeps_its_reference_and_is_taken_over_once(state_url) -> None:
    store = await opened(state_url)
    assert await store.claim_idempotency("web\nerp", "k", "fp", reference="gw-1", owner="a",
                                         lease=60) is None
    pending = await store.claim_idempotency("web\nerp", "k", "fp", owner="b")
    assert pending is not None and (pending.reference, pending.owner) == ("gw-1", "a")
    assert not pending.unknown and pending.lease_until > 0
    await store.release_idempotency("web\nerp", "k", owner="b")  # not b's: kept
    await store.mark_unknown("web\nerp", "k", owner="b")  # not b's: unchanged
    assert await store.claim_idempotency("web\nerp", "k", "fp") == pending
    await store.mark_unknown("web\nerp", "k", owner="a")
    unknown = await store.claim_idempotency("web\nerp", "k", "fp")
    assert unknown is not None and unknown.unknown and unknown.lease_until == 0
    (claim,) = await store.unfinished_claims()
    assert (claim.scope, claim.key, claim.record) == ("web\nerp", "k", unknown)
    # two retries reconcile at once: only the first takes it over
    assert await store.take_over("web\nerp", "k", unknown, "b", 1e12) is True
    assert await store.take_over("web\nerp", "k", unknown, "c", 1e12) is False
    held = await store.claim_idempotency("web\nerp", "k", "fp")
    assert held is not None and (held.owner, held.lease_until, held.unknown) == ("b", 1e12, False)
    await store.complete_idempotency("web\nerp", "k", '{"remoteId": "7"}')
    assert await store.unfinished_claims() == []
    await store.close()


async def test_records_older_than_a_day_are_pruned_and_younger_ones_kept(state_url) -> None:
    store = await opened(state_url)
    day = IDEMPOTENCY_TTL
    for number in range(50):  # old-N claimed at 1000 + 2N: done, unknown and pending alike
        assert await store.claim_idempotency("web:erp", f"old-{number}", "fp",
                                             now=1000.0 + 2 * number) is None
    await store.complete_idempotency("web:erp", "old-0", '{"remoteId": "1"}')
    await store.mark_unknown("web:erp", "old-1", owner="")
    assert await store.count_claims() == 50
    # A day after 1078, a claim deletes old-0 to old-39 (claimed at 1078 or before).
    later = 1078.0 + day
    assert await store.claim_idempotency("web:erp", "new", "fp", now=later) is None
    assert await store.count_claims() == 10 + 1
    kept = await store.claim_idempotency("web:erp", "old-45", "fp", now=later)
    assert kept is not None and kept.created_at == 1090.0  # still answers its key
    # At most once a minute: half a minute on, every old record is over a day old, none goes.
    assert await store.claim_idempotency("web:erp", "b", "fp", now=later + 30) is None
    assert await store.count_claims() == 12
    assert await store.claim_idempotency("web:erp", "c", "fp", now=later + CLAIM_PRUNE_EVERY) is None
    assert await store.count_claims() == 3  # new, b and c
    await store.close()
    reopened = await opened(state_url)  # what is kept survives a restart
    assert await reopened.count_claims() == 3
    await reopened.close()


async def test_a_store_made_before_claims_had_leases_is_migrated(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the 0.2.4 table, with a claim left unfinished
        db.execute("CREATE TABLE idempotency (scope TEXT NOT NULL, key TEXT NOT NULL,"
                   " fingerprint TEXT NOT NULL, result TEXT, created_at REAL NOT NULL,"
                   " PRIMARY KEY (scope, key))")
        db.execute("INSERT INTO idempotency VALUES ('s', 'k', 'fp', NULL, ?)",
                   (__import__("time").time(),))
    store = await opened(f"sqlite:///{path}")
    old = await store.claim_idempotency("s", "k", "fp")
    # an older gateway's unfinished claim is one whose lease has run out: it is reconciled
    assert old is not None and old.result is None and old.lease_until == 0 and old.owner == ""
    await store.close()
