"""The `invoice-gateway` command: demo, serve, simulate, export-schema, backfill."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import socket
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.config import GatewayConfig, LimitsConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SIM_PORT = 9001
WORKER_CONFIG_ENV = "INVOICE_GATEWAY_WORKER_CONFIG"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="invoice-gateway", description="One GraphQL API over many REST invoice APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="the gateway with a simulator of every upstream kind built in"
    )
    _listen_args(demo, DEFAULT_PORT)
    demo.add_argument("--seed", type=int, default=7, help="simulator data seed (default 7)")
    demo.add_argument("--invoices", type=_positive, default=None, metavar="N",
                      help="seed N invoices per simulated source (default: each one's "
                           "small data set)")
    demo.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                      help="a browser app's origin that may call the demo, e.g. "
                           "http://localhost:5173 (CORS; repeatable)")

    serve = commands.add_parser("serve", help="the gateway against the configured upstreams")
    serve.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    _listen_args(serve, DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes sharing the port (default 1)")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"], help="(default info)")

    simulate = commands.add_parser("simulate", help="only the upstream simulators, one per kind")
    _listen_args(simulate, DEFAULT_SIM_PORT, "first port; the others follow it")
    simulate.add_argument("--seed", type=int, default=7, help="data seed (default 7)")
    simulate.add_argument("--invoices", type=_positive, default=None, metavar="N",
                          help="seed N invoices per source (default: each one's small "
                               "data set)")

    export_schema = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export_schema.add_argument("--federation", action="store_true",
                               help="the Apollo Federation v2 subgraph SDL (`_service { sdl }`)")

    export = commands.add_parser("export", help="write every matching invoice as CSV or NDJSON")
    from gateway.cli.export import add_arguments

    add_arguments(export)

    fill = commands.add_parser(
        "backfill", help="seed the MakersHub index by probing a range of invoice ids"
    )
    fill.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    fill.add_argument("--source", required=True, metavar="NAME", help="a makershub source")
    fill.add_argument("--ids", required=True, metavar="FROM-TO", help="id range, inclusive")
    fill.add_argument("--concurrency", type=int, default=8, metavar="N",
                      help="ids probed at once (default 8)")

    resolve = commands.add_parser(
        "resolve-write", help="list or resolve write claims of unknown outcome (docs/writes.md)"
    )
    from gateway.cli import resolve_write as resolve_cli

    resolve_cli.add_arguments(resolve)

    args = parser.parse_args(argv)
    level = getattr(args, "log_level", "info").upper()
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    try:
        if args.command == "export-schema":
            from resolvers.schema import export_sdl, export_subgraph_sdl

            sys.stdout.write(export_subgraph_sdl() if args.federation else export_sdl())
            return 0
        if args.command == "backfill":
            return asyncio.run(_backfill(args))
        if args.command == "resolve-write":
            return asyncio.run(resolve_cli.run(args))
        if args.command == "export":
            from gateway.cli.export import run_export

            return asyncio.run(run_export(args))
        if args.command == "simulate":
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_simulate(args.host, args.port, args.seed, args.invoices))
            return 0
        return _serve(args)
    except ConfigError as exc:
        print(f"invoice-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"invoice-gateway: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _listen_args(parser: argparse.ArgumentParser, port: int, note: str = "") -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=port,
                        help=f"port (default {port}){'; ' + note if note else ''}")


def _serve(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.config import LimitsConfig, cors_origins, load_config
    from gateway.simulators.runner import bind_socket
    from gateway.web.serving import server_options

    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    log_level = getattr(args, "log_level", "info")
    if args.command == "serve":
        # Loaded here even with workers, so that a bad file stops start-up with its message;
        # so does a state store that cannot be used (a ConfigError, not a lifespan traceback).
        gateway_config = load_config(args.config)
        _refuse_open_exposure(gateway_config, args.host)
        asyncio.run(_check_state(gateway_config.state))
        app = create_app(gateway_config)
        limits = gateway_config.limits
        sock = bind_socket(args.host, args.port)
    else:
        limits = LimitsConfig()
        sock = bind_socket(args.host, args.port)
        # The simulators' webhooks go to this gateway (loopback when listening on all).
        own = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        own = f"[{own}]" if ":" in own else own
        port = sock.getsockname()[1]
        app = create_app(demo_seed=args.seed, demo_invoices=args.invoices, demo_url=f"http://{own}:{port}",
                         demo_cors=cors_origins(args.cors_origin))
    _json_request_log()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"invoice-gateway: GraphiQL at http://{host}:{args.port}/graphql", flush=True)
    if workers > 1:
        _serve_workers(str(Path(args.config).resolve()), sock, workers, log_level, limits)
        return 0
    tune_gc(app.state.plugins)
    server = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                            **server_options(limits))
    uvicorn.Server(server).run(sockets=[sock])
    return 0


async def _backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gateway.adapters.build import build_adapter
    from gateway.config import load_config
    from gateway.errors import UpstreamError
    from gateway.events.backfill import backfill, parse_range
    from gateway.registry import KINDS
    from gateway.state.open import open_state

    logging.getLogger("invoice_gateway").setLevel(logging.WARNING)
    config = load_config(args.config)
    try:
        ids = parse_range(args.ids)
        source = config.source(args.source)
    except ValueError as exc:
        print(f"invoice-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyError:
        names = ", ".join(s.name for s in config.sources)
        print(f"invoice-gateway: unknown source {args.source!r}; configured: {names}",
              file=sys.stderr)
        return 2
    if not KINDS[source.kind].adapter.lists_from_index:
        indexed = ", ".join(name for name, kind in KINDS.items() if kind.adapter.lists_from_index)
        print(f"invoice-gateway: source {source.name!r} is {source.kind}, which lists its own "
              f"invoices; backfill seeds only sources listed from the gateway's index "
              f"({indexed})", file=sys.stderr)
        return 2
    if not 1 <= args.concurrency <= 100:
        print("invoice-gateway: --concurrency must be between 1 and 100", file=sys.stderr)
        return 2
    store = open_state(config.state, config.state_timeout)
    adapter = build_adapter(source, state=store)
    try:
        await store.start()
        with tqdm(total=len(ids), desc=f"backfill {source.name}", unit="id",
                  file=sys.stderr) as bar:
            report = await backfill(adapter, ids, args.concurrency, bar.update)
    except UpstreamError as exc:
        print(f"invoice-gateway: backfill stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        await adapter.client.aclose()
        await store.close()
    print(f"{source.name}: {report.found} invoices found and indexed, {report.missing} ids "
          f"not found, {len(report.failures)} failed", file=sys.stderr)
    for remote_id, error in report.failures[:10]:
        print(f"  id {remote_id}: {error}", file=sys.stderr)
    return 1 if report.failures else 0


async def _check_state(url: str) -> None:
    from gateway.state.open import open_state

    store = open_state(url)
    try:
        await store.start()
    finally:
        await store.close()


def _serve_workers(config_path: str, sock: socket.socket, workers: int, log_level: str,
                   limits: LimitsConfig) -> None:
    """`workers` processes accept on one shared socket, each with its own clients and read
    cache (a cache is process-wide, not host-wide). uvicorn spawns them, so each builds its
    app from the configuration file named in the environment."""
    from uvicorn.supervisors import Multiprocess

    from gateway.web.serving import server_options

    os.environ[WORKER_CONFIG_ENV] = config_path
    config = uvicorn.Config(
        "gateway.cli.main:worker_app", factory=True, workers=workers, log_level=log_level,
        access_log=False, lifespan="on", **server_options(limits),
    )
    Multiprocess(config, sockets=[sock]).run()


def worker_app() -> FastAPI:
    """The app of one `serve --workers N` process (uvicorn's factory)."""
    from gateway.app import create_app
    from gateway.config import load_config

    _json_request_log()
    config = load_config(os.environ[WORKER_CONFIG_ENV])
    app = create_app(config)
    tune_gc(app.state.plugins)
    return app


def tune_gc(plugins: Iterable[object] = ()) -> None:
    """Take what start-up built out of every later collection, once the app is built; where
    the app's upstream `plugins` hold a GC pacer (top-level `gc_pacing`), enable it: collect
    while every request waits on an upstream.

    A cold 50-invoice query allocates some tens of thousands of objects (parsed upstream
    JSON, records, views) and leaves cyclic garbage behind; with CPython's defaults that
    starts many young collections and regularly a full one over every object the process
    holds (schema, modules, caches), in the middle of requests. Freezing what exists after
    start-up takes those long-lived objects out of every later collection. The pacer
    (`gateway.upstream.plugins.gcpace`) collects while every request waits on an upstream,
    with a larger young generation as the backstop (docs/performance.md says when that
    pays). Both change process-wide behaviour: only the serving commands call this."""
    from gateway.upstream.plugins.gcpace import GcPacer

    gc.collect()
    gc.freeze()
    for plugin in plugins:
        if isinstance(plugin, GcPacer):
            plugin.enable()


class OneLineFormatter(logging.Formatter):
    """One line per record, so that a log shipper never splits one: a traceback (or a
    message holding line breaks) keeps its text with each break written as `\\n`. The
    request log's records are JSON already, with a traceback as one field."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def _json_request_log() -> None:
    """One JSON object per line for the request log (gateway.web.frontdoor), nothing around it."""
    request_log = logging.getLogger("invoice_gateway.requests")
    if not request_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.propagate = False


def _refuse_open_exposure(config: GatewayConfig, host: str) -> None:
    """Without credentials the gateway answers anyone who reaches it: that is only allowed
    on a loopback address, or when the operator says so with `allow_anonymous: true`."""
    from gateway.web.access import is_loopback

    if not config.has_credentials and not config.allow_anonymous and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without credentials: configure 'clients' or 'jwt', "
            "or set 'allow_anonymous: true' to serve every source to anyone who can connect"
        )




def _positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


async def _simulate(host: str, port: int, seed: int, invoices: int | None) -> None:
    from gateway.simulators.runner import SimulatorGroup

    group = await SimulatorGroup.start(host, port, seed, invoices=invoices)
    for running in group.running.values():
        sim = running.simulator
        facts = {**sim.describe(),
                 **({"webhook_secret": sim.webhooks.secret} if sim.sends_webhooks else {})}
        extra = "".join(f"  {key}={value}" for key, value in facts.items())
        print(f"{sim.kind:<13} {running.base_url}  token={sim.token}{extra}", flush=True)
    print("simulators ready; controls under /_sim/ on each; Ctrl-C stops", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await group.stop()


if __name__ == "__main__":
    raise SystemExit(main())
