"""The upstream registry: every kind of upstream the gateway can talk to, one line each.

A kind is declared by its adapter class (`gateway/adapters/<kind>.py`): its name (`kind`),
the keys of a source block only it takes (`settings_model`), what it can do
(`capabilities`) and how its upstream words an error (`error_detail`). Its line here joins
that adapter to its simulator (`gateway/simulators/<kind>.py`) and to the source name it
has in the demo configuration. The configuration file (`gateway.config`), the adapters'
builder, the simulators' runner, the CLI's `demo` and `simulate`, the schema's word on
`Source.kind` and the tests read the kinds from `KINDS` and from nowhere else.

This module sits beside the adapters and the simulators (layer 4, docs/architecture.md),
the one place that imports both. `KINDS` changes only here, at import, and in tests, which
add a kind for as long as a `with KINDS.added(...)` block lasts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.adapters.base import Adapter, Capability
from gateway.adapters.cloudbilling import CloudBillingAdapter
from gateway.adapters.invoicematic import InvoicematicAdapter
from gateway.adapters.makershub import MakersHubAdapter
from gateway.adapters.makini import MakiniAdapter
from gateway.simulators.base import Simulator
from gateway.simulators.cloudbilling import CloudBillingSimulator
from gateway.simulators.invoicematic import InvoicematicSimulator
from gateway.simulators.makershub import MakersHubSimulator
from gateway.simulators.makini import MakiniSimulator
from gateway.source_config import KindSettings
from gateway.upstream.client import ErrorDetail


@dataclass(frozen=True)
class UpstreamKind:
    """One kind of upstream: its adapter, its simulator, and its source's name in the demo."""

    adapter: type[Adapter]
    simulator: type[Simulator]
    demo_name: str

    def __post_init__(self) -> None:
        if self.simulator.kind != self.adapter.kind:
            raise ValueError(f"{self.adapter.__name__} is for {self.adapter.kind!r} but "
                             f"{self.simulator.__name__} simulates {self.simulator.kind!r}")

    @property
    def name(self) -> str:
        return self.adapter.kind

    @property
    def settings_model(self) -> type[KindSettings]:
        return self.adapter.settings_model

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.adapter.capabilities

    @property
    def error_detail(self) -> Callable[[bytes], ErrorDetail]:
        return self.adapter.error_detail


class Registry(Mapping[str, UpstreamKind]):
    """Kinds by name, in the order they were added (the demo's and the docs' order)."""

    def __init__(self, *kinds: UpstreamKind) -> None:
        self._kinds: dict[str, UpstreamKind] = {}
        for kind in kinds:
            self.add(kind)

    def __getitem__(self, name: str) -> UpstreamKind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def add(self, kind: UpstreamKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"upstream kind {kind.name!r} is registered already")
        if kind.demo_name in self.demo_names().values():
            raise ValueError(f"demo source name {kind.demo_name!r} is taken already")
        self._kinds[kind.name] = kind

    def remove(self, name: str) -> None:
        del self._kinds[name]

    @contextmanager
    def added(self, kind: UpstreamKind) -> Iterator[UpstreamKind]:
        """`kind` registered for the length of a `with` block (for tests)."""
        self.add(kind)
        try:
            yield kind
        finally:
            self.remove(kind.name)

    def demo_names(self) -> dict[str, str]:
        """Kind -> the name of its source in the demo configuration."""
        return {name: kind.demo_name for name, kind in self._kinds.items()}

    def taking(self, key: str) -> list[str]:
        """The kinds whose own settings include `key`."""
        return [name for name, kind in self._kinds.items()
                if key in kind.settings_model.model_fields]


KINDS = Registry(
    UpstreamKind(MakersHubAdapter, MakersHubSimulator, demo_name="ap"),
    UpstreamKind(MakiniAdapter, MakiniSimulator, demo_name="erp"),
    UpstreamKind(InvoicematicAdapter, InvoicematicSimulator, demo_name="billing"),
    UpstreamKind(CloudBillingAdapter, CloudBillingSimulator, demo_name="cloud"),
)
