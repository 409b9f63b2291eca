"""Faithful simulators of the upstream APIs, one module per kind (registered with its
adapter in `gateway.registry`)."""

from __future__ import annotations

from gateway.simulators.base import Simulator

__all__ = ["Simulator"]
