"""A GraphQL fuzz run against the demo, as a real process on 127.0.0.1: schemathesis reads
the schema by introspection and generates operations (and arguments) for every root field,
queries and mutations (the demo's simulators take the writes).
No answer may be a 5xx or other than a JSON object, none may carry INTERNAL_SERVER_ERROR
(an unexpected exception masked by the gateway), and every error must carry a code.
(schemathesis' own `not_a_server_error` also fails on any GraphQL error, but refusing a
forged id with BAD_USER_INPUT is the right answer here, so the check is spelled out.)

Bounded for the suite: FUZZ_EXAMPLES examples per root field (default 30) and at most
FUZZ_SECONDS seconds in all (default 45). Longer: see docs/testing.md ("Fuzzing").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from graphql import NameNode, ObjectFieldNode, ObjectValueNode, StringValueNode  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.conftest import wait_ready  # noqa: E402
from tests.test_cli import free_port  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"  # new examples each run instead of a fixed set
SECONDS = float(os.environ.get("FUZZ_SECONDS", "45"))


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base + "/graphql"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def judge(status: int, text: str) -> str | None:
    """What is wrong with one answer, or None."""
    if status >= 500:
        return f"HTTP {status}"
    try:
        body = json.loads(text)
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or not ({"data", "errors"} & set(body)):
        return "not a GraphQL response"
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None or code == "INTERNAL_SERVER_ERROR":
            return f"error code {code}"
    return None


def entity_representation(typename: str, id: str) -> ObjectValueNode:
    """An `_Any` literal for `_entities`: `{__typename: ..., id: ...}`."""
    fields = (("__typename", typename), ("id", id))
    return ObjectValueNode(fields=tuple(
        ObjectFieldNode(name=NameNode(value=name), value=StringValueNode(value=value))
        for name, value in fields))


def test_fuzzed_operations_never_get_a_server_error(demo_url):
    # Federation's `_Any` has no shape hypothesis-graphql could guess: entity references of
    # every entity type (and one that is none), with arbitrary ids.
    schemathesis.graphql.scalar("_Any", st.builds(
        entity_representation, st.sampled_from(["Invoice", "Customer", "Vendor", "Payment",
                                                "Nope"]), st.text(max_size=40)))
    # The gateway's own scalars are strings on the wire: well-formed values and junk.
    def string(values: st.SearchStrategy[str]) -> st.SearchStrategy[StringValueNode]:
        return st.one_of(values, st.text(max_size=20)).map(lambda v: StringValueNode(value=v))

    schemathesis.graphql.scalar("Decimal", string(
        st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str)))
    schemathesis.graphql.scalar("Date", string(st.dates().map(str)))
    schemathesis.graphql.scalar("DateTime", string(st.datetimes().map(lambda d: d.isoformat())))
    schemathesis.graphql.scalar("JSON", string(st.just("{}")))
    schema = schemathesis.graphql.from_url(demo_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "every root field, queries and mutations, is fuzzed"
    deadline = time.monotonic() + SECONDS
    failures: list[str] = []
    sent = 0

    for operation in operations:
        if time.monotonic() > deadline:
            break

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case) -> None:
            nonlocal sent
            if time.monotonic() > deadline:
                return
            response = case.call(timeout=30)
            sent += 1
            problem = judge(response.status_code, response.text)
            if problem:
                failures.append(f"{problem}: {case.body} -> {response.text[:300]}")

        fuzz()
    print(f"fuzz: {sent} requests over {len(operations)} root fields")
    assert sent >= len(operations)
    assert not failures, "\n".join(failures[:10])
