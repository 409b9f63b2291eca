"""`invoice-gateway export`: the export to files, in process, with a progress bar on stderr."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from gateway.adapters.build import build_adapters, close_adapters
from gateway.bi.export import Export, encode, header
from gateway.errors import BadSelection, ExportFailed, InvalidGlobalId
from gateway.lists.selection import parse_selection, select_invoices
from gateway.state.open import open_state

# CLI flag -> the export's query parameter of the same meaning
FILTER_FLAGS = {"sources": "sources", "status": "status", "type": "type",
                "issued_from": "issuedFrom", "issued_to": "issuedTo",
                "customer_id": "customerId", "vendor_id": "vendorId",
                "due_from": "dueFrom", "due_to": "dueTo", "updated_since": "updatedSince",
                "number": "number", "search": "search", "overdue": "overdue",
                "currency": "currency"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML configuration")
    parser.add_argument("--format", required=True, choices=("csv", "ndjson"))
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write invoices")
    parser.add_argument("--lines", metavar="FILE", help="also write line items as CSV here")
    for flag, param in FILTER_FLAGS.items():
        parser.add_argument(f"--{flag.replace('_', '-')}", dest=flag, metavar=param.upper(),
                            help=f"filter {param} (as in InvoiceFilter; lists comma-separated)")


class Progress:
    """A one-line progress bar on stderr, redrawn at most every 0.1 s."""

    def __init__(self, total: int | None, stream: TextIO) -> None:
        self.total, self.stream, self.done, self._drawn = total, stream, 0, 0.0

    def add(self, count: int) -> None:
        self.done += count
        if time.monotonic() - self._drawn >= 0.1:
            self.draw()

    def draw(self, end: str = "\r") -> None:
        self._drawn = time.monotonic()
        if self.total:
            filled = min(30, 30 * self.done // self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"[{bar}] {self.done}/{self.total} invoices"
        else:
            text = f"{self.done} invoices"
        self.stream.write(f"\rexport {text}{end}")
        self.stream.flush()


async def run_export(args: argparse.Namespace) -> int:
    """Write the export; on failure write nothing (files appear only when complete)."""
    from gateway.config import load_config

    config = load_config(args.config)
    params = {FILTER_FLAGS[flag]: [value] for flag in FILTER_FLAGS
              if (value := getattr(args, flag)) is not None}
    # The state store holds the MakersHub index, which is what lists MakersHub invoices.
    store = open_state(config.state, config.state_timeout)
    adapters = build_adapters(config.sources, state=store)
    try:
        await store.start()
        try:
            request = await select_invoices(adapters, parse_selection(params))
        except (BadSelection, InvalidGlobalId) as exc:
            print(f"invoice-gateway: export: {exc}", file=sys.stderr)
            return 2
        export = Export(adapters, request)
        targets = [(Path(args.out), args.format)]
        if args.lines:
            targets.append((Path(args.lines), "lines-csv"))
        try:
            await export.start()
            progress = Progress(export.total, sys.stderr)
            await _write(export, targets, progress)
        except ExportFailed as exc:
            for error in exc.errors:
                print(f"\ninvoice-gateway: export failed: source {error.source!r}: "
                      f"{error.code}: {error}", file=sys.stderr)
            return 1
        progress.draw("\n")
        return 0
    finally:
        await close_adapters(adapters.values())
        await store.close()


async def _write(export: Export, targets: list[tuple[Path, str]], progress: Progress) -> None:
    parts = [path.with_name(path.name + ".part") for path, _ in targets]
    files = [part.open("wb") for part in parts]
    try:
        for file, (_, fmt) in zip(files, targets, strict=True):
            file.write(header(fmt))
        async for chunk in export.chunks():
            for file, (_, fmt) in zip(files, targets, strict=True):
                file.write(encode(fmt, chunk.records))
            progress.add(len(chunk.records))
    except BaseException:
        for file, part in zip(files, parts, strict=True):
            file.close()
            part.unlink(missing_ok=True)
        raise
    for file, part, (path, _) in zip(files, parts, targets, strict=True):
        file.close()
        os.replace(part, path)
