"""Adapters, one per upstream kind. Adding an upstream is one line in `ADAPTERS`."""

from __future__ import annotations

import importlib

from gateway.adapters.base import Adapter, Capability, Page

ADAPTERS: dict[str, str] = {
    "makershub": "gateway.adapters.makershub:MakersHubAdapter",
    "makini": "gateway.adapters.makini:MakiniAdapter",
    "invoicematic": "gateway.adapters.invoicematic:InvoicematicAdapter",
    "cloudbilling": "gateway.adapters.cloudbilling:CloudBillingAdapter",
}


def adapter_class(kind: str) -> type[Adapter]:
    """The adapter class registered for `kind`."""
    module_name, _, attr = ADAPTERS[kind].partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), attr)
    return cls


__all__ = ["ADAPTERS", "Adapter", "Capability", "Page", "adapter_class"]
