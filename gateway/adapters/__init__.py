"""Adapters, one module per upstream kind, behind the `Adapter` interface (`base`).

Which kinds exist is the upstream registry's business (`gateway.registry`): a new kind is
its adapter module here, its simulator, and one line there.
"""

from __future__ import annotations

from gateway.adapters.base import Adapter, Capability, Page

__all__ = ["Adapter", "Capability", "Page"]
