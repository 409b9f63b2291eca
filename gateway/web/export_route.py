"""`GET /export/invoices?format=csv|ndjson[&lines=true]&sources=..&status=..`: the export.

The filter is the `invoices` filter as query parameters (lists comma-separated or repeated)
and goes through the same selection function as GraphQL's lists (`gateway.lists.selection`), so
an export covers exactly the invoices paging through `invoices` returns, and only the
sources the caller may read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gateway.bi.export import Export
from gateway.domain.identity import Identity
from gateway.errors import (
    BadSelection,
    ExportFailed,
    InvalidGlobalId,
    SourceForbidden,
    UpstreamError,
)
from gateway.lists.selection import SELECTION_PARAMS, parse_selection, select_invoices

logger = logging.getLogger("invoice_gateway.export")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson",
               "lines-csv": "text/csv; charset=utf-8"}
PARAMS = frozenset({"format", "lines", *SELECTION_PARAMS})


async def export_invoices(request: Request) -> Response:
    params = request.query_params
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        return _error(400, f"unknown parameter {unknown[0]!r}; expected one of "
                      f"{', '.join(sorted(PARAMS))}", "BAD_USER_INPUT")
    fmt = params.get("format", "")
    if fmt not in ("csv", "ndjson"):
        return _error(400, f"format: expected csv or ndjson, got {fmt!r}", "BAD_USER_INPUT")
    lines = params.get("lines", "false").lower()
    if lines not in ("true", "false"):
        return _error(400, f"lines: expected true or false, got {lines!r}", "BAD_USER_INPUT")
    if lines == "true":
        if fmt != "csv":
            return _error(400, "lines: only with format=csv (NDJSON nests line items)",
                          "BAD_USER_INPUT")
        fmt = "lines-csv"
    configured = request.app.state.adapters
    identity: Identity = request.state.identity  # set by the front door, which guards /export
    readable = {name: a for name, a in configured.items() if identity.may_read(name)}
    try:
        selection = parse_selection({name: params.getlist(name) for name in SELECTION_PARAMS})
        list_request = await select_invoices(readable, selection, configured)
    except (BadSelection, InvalidGlobalId) as exc:
        return _error(400, str(exc), "BAD_USER_INPUT")
    except SourceForbidden as exc:
        return _error(403, str(exc), "FORBIDDEN")
    export = Export(readable, list_request)
    try:
        await export.start()
    except ExportFailed as exc:
        return JSONResponse({"errors": [_upstream(error) for error in exc.errors]}, 502)
    headers = {"Content-Disposition": f'attachment; filename="invoices.{fmt.split("-")[-1]}"'}
    if export.total is not None:
        headers["X-Total-Count"] = str(export.total)
    return StreamingResponse(_guarded(export, fmt), media_type=MEDIA_TYPES[fmt],
                             headers=headers)


async def _guarded(export: Export, fmt: str) -> AsyncIterator[bytes]:
    try:
        async for data in export.stream(fmt):
            yield data
    except ExportFailed as exc:
        # Headers are sent: ending the body early (no final chunk) is the only honest signal.
        logger.error("export aborted: %s", exc)
        raise


def _upstream(error: UpstreamError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": error.code, "source": error.source}
    if error.status is not None:
        extensions["status"] = error.status
    return {"message": str(error), "extensions": extensions}


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)
