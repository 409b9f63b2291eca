"""An upstream's declared routes: path templates, the shape of its ids, and metric labels.

An adapter names its upstream paths as templates (`/api/invoices/{id}`) and the shape of
the upstream's ids (docs/upstreams/); `SourceClient` expands a template with ids it checks
against that shape and percent-encodes as exactly one path segment, so no id (however it
reached the gateway: a GraphQL argument, a global id, a webhook) can add a segment (`/`,
`..`), a query string (`?`), a fragment (`#`) or a control character to an upstream URL.

The same templates are the only route labels of the upstream metrics and spans: a path
that matches none is counted as `other`, so random ids cannot grow the metric series.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from cachetools import LRUCache

from gateway.errors import InvalidRemoteId
from gateway.support.metrics import route_template

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
OTHER = "other"


@dataclass(frozen=True, slots=True)
class IdShape:
    """What an upstream's ids look like: `pattern` (matched whole) and how to say it."""

    pattern: re.Pattern[str]
    words: str

    @classmethod
    def of(cls, pattern: str, words: str) -> IdShape:
        return cls(re.compile(pattern), words)


class Routes:
    """The route templates of one upstream and the shape of its ids."""

    def __init__(self, templates: Iterable[str] = (), shape: IdShape | None = None) -> None:
        self.templates = frozenset(templates)
        self.shape = shape
        self._patterns = [
            (re.compile("[^/]+".join(map(re.escape, _PLACEHOLDER.split(t)[::2]))), t)
            for t in sorted(self.templates)
        ]
        self._labels: LRUCache[str, str] = LRUCache(1024)

    def segment(self, value: object) -> str:
        """`value` as one path segment, or `InvalidRemoteId`."""
        words = self.shape.words if self.shape is not None else "a non-empty string"
        if not isinstance(value, str) or value in ("", ".", ".."):
            raise InvalidRemoteId(value, words)
        if self.shape is not None and not self.shape.pattern.fullmatch(value):
            raise InvalidRemoteId(value, words)
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise InvalidRemoteId(value, words)
        return quote(value, safe="")

    def expand(self, template: str, ids: Mapping[str, object]) -> str:
        """The path of `template` with each `{name}` replaced by `ids[name]`, checked and
        encoded (`InvalidRemoteId` for an id that cannot be one)."""
        if not ids:
            return template
        return _PLACEHOLDER.sub(lambda match: self.segment(ids[match.group(1)]), template)

    def label(self, path: str) -> str:
        """The declared template `path` (or a template) falls under, else `other`. With no
        templates declared (a bare client), the path with id-like segments collapsed."""
        if not self.templates:
            return route_template(path)
        if path in self.templates:
            return path
        label = self._labels.get(path)
        if label is None:
            label = next((t for pattern, t in self._patterns if pattern.fullmatch(path)), OTHER)
            self._labels[path] = label
        return label
