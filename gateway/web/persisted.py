"""Persisted operations: Apollo's automatic persisted queries (APQ) and a manifest safelist.

APQ (https://www.apollographql.com/docs/apollo-server/performance/apq): a client sends
`extensions.persistedQuery = {"version": 1, "sha256Hash": H}` without the query; an
unknown H answers `PERSISTED_QUERY_NOT_FOUND`, and the client retries with the query, which
is checked against H and remembered (in a bounded, least-recently-used store per process).

A manifest (Apollo's persisted query manifest format, as `generate-persisted-query-manifest`
writes it) pre-registers operations; with `only: true` nothing else is served: a hash not in
it is `PERSISTED_QUERY_NOT_IN_LIST`, a query text not in it `QUERY_NOT_IN_SAFELIST`.

No HTTP or GraphQL here; `gateway.web.persisted_http` applies it to requests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from gateway.config import GatewayConfig
from gateway.errors import ConfigError, PersistedQueryError

STORE_SIZE = 10_000  # distinct operations remembered; the least recently used go first
_HASH = re.compile(r"[0-9a-f]{64}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_manifest(path: str | Path) -> dict[str, str]:
    """Operation bodies by id from an Apollo persisted query manifest:
    `{"format": "apollo-persisted-query-manifest", "version": 1,
      "operations": [{"id": sha256 of body, "name": ..., "type": "query", "body": ...}]}`."""
    where = f"persisted_queries.manifest {path}"
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{where}: not valid JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != "apollo-persisted-query-manifest":
        raise ConfigError(f'{where}: expected "format": "apollo-persisted-query-manifest"')
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected \"version\": 1, got {raw.get('version')!r}")
    operations = raw.get("operations")
    if not isinstance(operations, list):
        raise ConfigError(f'{where}: expected an "operations" list')
    found: dict[str, str] = {}
    for index, operation in enumerate(operations):
        body = operation.get("body") if isinstance(operation, dict) else None
        op_id = operation.get("id") if isinstance(operation, dict) else None
        if not isinstance(body, str) or not isinstance(op_id, str) or not op_id:
            raise ConfigError(f'{where}: operation #{index + 1} needs an "id" and a "body"')
        found[op_id] = body
    return found


class PersistedQueries:
    """One process's persisted operations: the manifest's, and (unless `only`) those that
    clients registered through APQ."""

    def __init__(self, manifest: Mapping[str, str] | None = None, only: bool = False,
                 size: int = STORE_SIZE) -> None:
        self.manifest = dict(manifest or {})
        self.only = only
        # Safelisting matches a query text too, by its hash (what `id` usually is).
        self._listed = {sha256(body) for body in self.manifest.values()}
        self._store: LRUCache[str, str] = LRUCache(maxsize=size)

    def resolve(self, query: str | None, extensions: Any) -> str | None:
        """The query text to execute for a request's `query` and `extensions`."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.only and query is not None and sha256(query) not in self._listed:
                raise PersistedQueryError(
                    "QUERY_NOT_IN_SAFELIST",
                    "this gateway serves only the operations of its persisted query manifest",
                )
            return query
        digest = _hash_of(persisted)
        if query is not None:
            if sha256(query) != digest:
                raise PersistedQueryError("PERSISTED_QUERY_HASH_MISMATCH",
                                          "provided sha256Hash does not match the query")
            if self.only:
                if digest not in self.manifest and digest not in self._listed:
                    raise self._not_listed()
            else:
                self._store[digest] = query
            return query
        text = self.manifest.get(digest)
        if text is None and self.only:
            raise self._not_listed()
        if text is None:
            text = self._store.get(digest)
        if text is None:
            # Status 200: clients (Apollo's persisted query link) then resend with the query.
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", 200)
        return text

    def _not_listed(self) -> PersistedQueryError:
        return PersistedQueryError(
            "PERSISTED_QUERY_NOT_IN_LIST",
            "this operation is not in the gateway's persisted query manifest",
        )


def persisted_queries(config: GatewayConfig) -> PersistedQueries:
    """The persisted operations `config` asks for (its manifest read now)."""
    settings = config.persisted_queries
    if settings is None or settings.manifest is None:
        return PersistedQueries(only=bool(settings and settings.only))
    return PersistedQueries(load_manifest(settings.manifest), only=settings.only)


def _hash_of(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError("PERSISTED_QUERY_VERSION_UNSUPPORTED",
                                  "extensions.persistedQuery: only version 1 is supported")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise PersistedQueryError(
            "BAD_REQUEST",
            "extensions.persistedQuery.sha256Hash: expected 64 lower-case hex digits",
        )
    return digest
