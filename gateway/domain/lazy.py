"""A tuple of normalized records that normalizes each one the first time it is read.

An upstream list page holds more records than a query usually serves (adapters read fixed
pages of 100; a query asks for 50, say), and an invoice's lines are often not selected at
all. `LazyTuple` keeps the raw records and the adapter's normalizer for one record, and
normalizes record `i` when `i` is first read, once; afterwards it behaves as the tuple of
normalized records (length, iteration, indexing, equality with a tuple, hash, repr).

Normalization stays the adapter's: a record that breaks the wire contract raises the
adapter's `UpstreamBadResponse` naming the field, at the moment that record is read, so a
broken record is reported exactly when something uses it. A failure is not memoized (the
record is normalized again, and fails again, on the next read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

T = TypeVar("T", covariant=True)

_PENDING: Any = object()


class LazyTuple(Sequence[T]):
    """The normalized form of `raw`, record by record on first read (see the module)."""

    __slots__ = ("_done", "_normalize", "_raw", "_whole")

    def __init__(self, raw: Sequence[Any], normalize: Callable[[Any], T]) -> None:
        self._raw = raw
        self._normalize = normalize
        self._done: list[Any] = [_PENDING] * len(raw)
        # Once every record is normalized, iterating is the tuple's own (big pages iterate
        # the same cached lines on every request).
        self._whole: tuple[T, ...] | None = None

    def __len__(self) -> int:
        return len(self._done)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self._done))))
        value = self._done[index]
        if value is _PENDING:
            value = self._done[index] = self._normalize(self._raw[index])
        result: T = value
        return result

    def __iter__(self) -> Iterator[T]:
        if self._whole is not None:
            return iter(self._whole)
        return self._each()

    def _each(self) -> Iterator[T]:
        done = self._done
        for index in range(len(done)):
            value = done[index]
            yield self[index] if value is _PENDING else value
        self._whole = tuple(done)

    @property
    def whole(self) -> tuple[T, ...] | None:
        """The tuple of normalized records once an iteration has normalized them all, else
        None (nothing is normalized to answer)."""
        return self._whole

    @property
    def normalized(self) -> int:
        """How many records have been normalized so far."""
        return sum(1 for value in self._done if value is not _PENDING)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTuple | tuple):
            return len(self) == len(other) and all(
                mine == theirs for mine, theirs in zip(self, other, strict=True)
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))
