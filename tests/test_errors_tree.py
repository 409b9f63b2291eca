"""One exception tree (style.md #5): every exception the gateway and its resolvers define
lives in gateway/errors.py under `GatewayError`, and the drawing in that module's docstring
is the tree as it is: each class drawn under its base, no class left out, none made up.

The simulators stand in for foreign APIs; their exceptions are theirs and stay out.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path

import pytest
from graphql import GraphQLError

import gateway.errors
from gateway.errors import (
    BadInput,
    BadSelection,
    GatewayError,
    InvalidCursor,
    InvalidGlobalId,
    InvalidPaging,
    UnknownSource,
)
from resolvers.errors import translate

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("gateway.simulators",)


def project_modules() -> list[str]:
    names = []
    for package in ("gateway", "resolvers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            outside = any(name == o or name.startswith(o + ".") for o in OUTSIDE)
            if not outside and parts[-1] != "__main__":  # running the CLI is no import
                names.append(name)
    return names


def defined_exceptions(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        cls for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module_name and issubclass(cls, BaseException)
    ]


def strays(modules: list[str]) -> list[str]:
    """Exception classes defined outside gateway/errors.py or outside `GatewayError`."""
    return [
        f"{cls.__module__}.{cls.__qualname__}"
        for name in modules
        for cls in defined_exceptions(name)
        if cls.__module__ != "gateway.errors" or not issubclass(cls, GatewayError)
    ]


# One drawn class below the root: `+-- Name`; the column of `+` says whose child it is.
# Other lines of the drawing go on with the description above them.
DRAWN = re.compile(r"^(?P<indent>[ |]*)\+-- (?P<name>[A-Z]\w+)\b")


def drawing(doc: str) -> dict[str, str | None]:
    """Each class of the tree drawn in `doc` with the class it is drawn under (the root:
    None). The drawing is the block of lines that starts with the line `GatewayError`."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "GatewayError")
    root_column = len(lines[start]) - len(lines[start].lstrip())
    parents: dict[str, str | None] = {"GatewayError": None}
    open_at = [(root_column, "GatewayError")]  # (column, name) of the classes above
    for line in lines[start + 1:]:
        if not line.strip():
            break
        match = DRAWN.match(line)
        if match is None:
            continue
        column = len(match["indent"])
        while open_at and open_at[-1][0] >= column:
            open_at.pop()
        parents[match["name"]] = open_at[-1][1] if open_at else None
        open_at.append((column, match["name"]))
    return parents


def drawn_as_defined(module: types.ModuleType) -> list[str]:
    """What the drawing in `module`'s docstring gets wrong about its exception classes."""
    classes = {
        cls.__name__: cls for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
    }
    doc = module.__doc__ or ""
    wrong = [f"{name} is not named in the docstring" for name in classes
             if not re.search(rf"\b{name}\b", doc)]
    drawn = drawing(doc)
    for name, cls in classes.items():
        if not issubclass(cls, BaseException):
            continue
        if name not in drawn:
            wrong.append(f"{name} is not drawn")
            continue
        base = next((b.__name__ for b in cls.__bases__ if b.__module__ == cls.__module__),
                    None)
        if drawn[name] != base:
            wrong.append(f"{name} is drawn under {drawn[name]}, defined under {base}")
    wrong += [f"{name} is drawn but not defined" for name in drawn if name not in classes]
    return wrong


def test_every_exception_is_in_the_tree() -> None:
    assert strays(project_modules()) == []


def test_the_drawing_is_the_tree() -> None:
    assert drawn_as_defined(gateway.errors) == []


def test_the_checks_can_fail() -> None:
    # A simulator's exception is found when the simulators are not left out.
    assert "gateway.simulators.base.SimulatedDrop" in strays(["gateway.simulators.base"])

    # A drawing with a class under the wrong base, one left out, one made up.
    module = types.ModuleType("gateway.errors", """Tree.

        GatewayError
         +-- ConfigError
         |    +-- UpstreamError
         +-- Imagined
    """)
    root = type("GatewayError", (Exception,), {"__module__": "gateway.errors"})
    for cls in (root, type("ConfigError", (root,), {"__module__": "gateway.errors"}),
                type("UpstreamError", (root,), {"__module__": "gateway.errors"}),
                type("LeftOut", (root,), {"__module__": "gateway.errors"})):
        setattr(module, cls.__name__, cls)
    assert sorted(drawn_as_defined(module)) == [
        "Imagined is drawn but not defined",
        "LeftOut is not drawn",
        "LeftOut is not named in the docstring",
        "UpstreamError is drawn under ConfigError, defined under GatewayError",
    ]


# What clients see stays as it was before the tree: these six were answered BAD_USER_INPUT.
@pytest.mark.parametrize("bad", [
    InvalidGlobalId("'x' is not a valid id"), InvalidCursor("not a cursor"),
    InvalidPaging("'first' must be between 0 and 500, got 501"), BadSelection("no"),
    UnknownSource("unknown source 'nope'"), BadInput("bad"),
])
def test_bad_input_is_answered_as_such(bad: BadInput) -> None:
    error = translate(GraphQLError(str(bad), path=["invoices"], original_error=bad))
    assert (error.message, error.extensions) == (str(bad), {"code": "BAD_USER_INPUT"})
