"""`_Loader.ready`: the synchronous answer a resolver takes when the request holds a value."""

from collections.abc import Sequence

import pytest

from gateway.errors import UpstreamError
from gateway.lists.loaders import _Loader


async def _names(keys: Sequence[str]) -> list[str | Exception]:
    return [UpstreamError("billing", "gone") if key == "bad" else f"name {key}" for key in keys]


async def test_ready_only_once_the_value_is_held() -> None:
    loader: _Loader[str] = _Loader(_names)
    assert loader.ready("1") is None  # never asked: the resolver must load
    pending = loader.load("1")
    assert loader.ready("1") is None  # asked but not yet answered
    assert await pending == "name 1"
    held = loader.ready("1")
    assert held is not None and held.result() == "name 1"
    loader.prime("2", "primed 2")
    held = loader.ready("2")
    assert held is not None and held.result() == "primed 2"


async def test_a_failed_load_is_not_ready_so_the_error_surfaces_through_the_load() -> None:
    loader: _Loader[str] = _Loader(_names)
    pending = loader.load("bad")
    with pytest.raises(UpstreamError):
        await pending
    assert loader.ready("bad") is None
