"""`invoice-gateway resolve-write`: the operator's view of unfinished write claims.

Without `--key` it lists the unfinished claims (docs/writes.md, "The claim"); with
`--caller`, `--source` and `--key` and one of `--release` / `--record REMOTE_ID` it
resolves one: released (the operator checked the upstream holds no record of it; the next
retry creates), or completed with the record the operator found upstream (the next retry
answers it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from gateway.errors import StateUnavailable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    parser.add_argument("--caller", metavar="NAME", help="the client that wrote (or anonymous)")
    parser.add_argument("--source", metavar="NAME", help="the source written to")
    parser.add_argument("--key", metavar="KEY", help="the idempotencyKey")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--release", action="store_true",
                        help="free the claim: the upstream holds no record of it")
    action.add_argument("--record", metavar="REMOTE_ID",
                        help="complete the claim with this upstream record id")


async def run(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from gateway.state.open import open_state

    config = load_config(args.config)
    store = open_state(config.state, config.state_timeout)
    try:
        await store.start()
        claims = await store.unfinished_claims()
        if args.key is None:
            now = time.time()
            for claim in claims:
                caller, _, source = claim.scope.partition("\n")
                record = claim.record
                state = "unknown" if record.unknown or record.lease_until <= now else (
                    f"pending ({record.lease_until - now:.0f}s of lease left)")
                print(f"caller={caller} source={source} key={claim.key} "
                      f"reference={record.reference} owner={record.owner} state={state}")
            print(f"{len(claims)} unfinished claim(s)", file=sys.stderr)
            return 0
        if args.caller is None or args.source is None or not (args.release or args.record):
            print("invoice-gateway: resolving needs --caller, --source, --key and one of "
                  "--release / --record", file=sys.stderr)
            return 2
        scope = f"{args.caller}\n{args.source}"
        if not any(c.scope == scope and c.key == args.key for c in claims):
            print(f"invoice-gateway: no unfinished claim for caller {args.caller!r}, source "
                  f"{args.source!r}, key {args.key!r}", file=sys.stderr)
            return 1
        if args.release:
            await store.release_idempotency(scope, args.key)
            print("released: the next retry with this key creates the record")
        else:
            # the operation is informative only; a replay reads the record by remoteId
            await store.complete_idempotency(scope, args.key, json.dumps(
                {"operation": "resolved", "remoteId": args.record}))
            print(f"completed with {args.record}: the next retry with this key answers it")
        return 0
    except StateUnavailable as exc:
        print(f"invoice-gateway: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await store.close()
