"""Faithful simulators of the four upstream APIs. One line in `SIMULATORS` per kind."""

from __future__ import annotations

import importlib

from gateway.simulators.base import Simulator

SIMULATORS: dict[str, str] = {
    "makershub": "gateway.simulators.makershub:MakersHubSimulator",
    "makini": "gateway.simulators.makini:MakiniSimulator",
    "invoicematic": "gateway.simulators.invoicematic:InvoicematicSimulator",
    "cloudbilling": "gateway.simulators.cloudbilling:CloudBillingSimulator",
}

# The source name each simulator gets in the demo configuration (as in the contract).
DEMO_NAMES: dict[str, str] = {
    "makershub": "ap",
    "makini": "erp",
    "invoicematic": "billing",
    "cloudbilling": "cloud",
}


def simulator_class(kind: str) -> type[Simulator]:
    module_name, _, attr = SIMULATORS[kind].partition(":")
    cls: type[Simulator] = getattr(importlib.import_module(module_name), attr)
    return cls


__all__ = ["DEMO_NAMES", "SIMULATORS", "Simulator", "simulator_class"]
