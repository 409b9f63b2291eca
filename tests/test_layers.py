"""The package layout is the architecture (docs/architecture.md): imports run downwards only,
no module takes part in an import circle, and the layers below the GraphQL schema know
neither strawberry nor the web framework.

Every import counts, also one inside a function: a late import hides a circle from Python,
not from a reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first; a module may import from its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("gateway", "gateway.errors", "gateway.support"),
    ("gateway.source_config",),
    ("gateway.domain",),
    ("gateway.upstream", "gateway.state"),
    ("gateway.adapters", "gateway.simulators", "gateway.registry"),
    ("gateway.config", "gateway.events", "gateway.scaleout", "gateway.lists"),
    ("gateway.writes", "gateway.bi"),
    ("resolvers",),
    ("gateway.web",),
    ("gateway.app", "gateway.cli"),
]
# Packages that must not import each other although they share a layer.
APART = [("gateway.adapters", "gateway.simulators")]
# Below the schema: no GraphQL library, no web framework.
WEB_OR_GRAPHQL = ("strawberry", "fastapi", "starlette", "graphql")
BELOW_SCHEMA = ("gateway.domain", "gateway.upstream", "gateway.state", "gateway.adapters",
                "gateway.events", "gateway.lists", "gateway.writes", "gateway.bi",
                "gateway.scaleout", "gateway.support", "gateway.errors", "gateway.config",
                "gateway.source_config", "gateway.registry")
# Resolvers never talk HTTP themselves.
HTTP_CLIENTS = ("httpx", "aiohttp")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    module_name(path): path
    for package in ("gateway", "resolvers")
    for path in (ROOT / package).rglob("*.py")
}


def owner(name: str, prefixes: tuple[str, ...]) -> str | None:
    """The longest of `prefixes` that `name` is or lies under."""
    found = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(found, key=len) if found else None


def layer(name: str) -> int:
    every = tuple(p for group in LAYERS for p in group)
    prefix = owner(name, every)
    assert prefix is not None, f"{name} belongs to no layer: add it to LAYERS and the doc"
    return next(i for i, group in enumerate(LAYERS) if prefix in group)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports (absolute names; project modules resolved to the module,
    not to an attribute of it)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    yield f"{node.module}.{alias.name}"


def project_imports(name: str) -> set[str]:
    found = set()
    for target in imports(MODULES[name]):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


GRAPH = {name: project_imports(name) for name in MODULES}


def upward(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in graph.items()
        for target in targets
        if layer(target) > layer(name)
    ]


def test_imports_run_downwards() -> None:
    assert upward(GRAPH) == []


def test_packages_that_stay_apart() -> None:
    crossing = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        for a, b in APART
        if {owner(name, (a, b)), owner(target, (a, b))} == {a, b}
    ]
    assert crossing == []


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: any component of two or more is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert circles(GRAPH) == []


def test_below_the_schema_no_graphql_or_web_framework() -> None:
    offending = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if owner(name, BELOW_SCHEMA)
        for target in imports(path)
        if target.split(".")[0] in WEB_OR_GRAPHQL
    ]
    assert offending == []


def test_resolvers_talk_no_http() -> None:
    offending = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name.startswith("resolvers")
        for target in imports(path)
        if target.split(".")[0] in HTTP_CLIENTS
    ]
    assert offending == []


def test_the_checks_can_fail() -> None:
    # The real graph with one upward import and one circle added.
    graph = {name: set(targets) for name, targets in GRAPH.items()}
    graph["gateway.domain.records"].add("gateway.web.frontdoor")
    graph["resolvers.types"].add("resolvers.queries")
    assert upward(graph) == [
        "gateway.domain.records (layer 2) imports gateway.web.frontdoor (layer 8)"
    ]
    assert any({"resolvers.queries", "resolvers.types"} <= set(c) for c in circles(graph))


def test_one_http_library_on_the_product_path() -> None:
    # Upstream calls go over aiohttp (gateway.upstream.wire); httpx is the tests' and the
    # benchmarks' client only (benchmarks/httpx_wire.py is the fan-out baseline).
    offending = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        for target in imports(path)
        if target.split(".")[0] == "httpx"
    ]
    assert offending == []
