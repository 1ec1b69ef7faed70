"""The few JAX internals jaxinspect relies on, feature-detected for jax 0.10 – 0.12.

Functions here may run on jaxinspect's background threads. They must never *import* anything:
importing from a second thread while the user's cell is still importing jax hands one of the two
threads a half-initialised module (seen as an AttributeError inside ``import jax``).
"""

from __future__ import annotations

import sys
from types import ModuleType


def loaded_module(name: str) -> ModuleType | None:
    """``sys.modules[name]`` if it is fully imported, else None. Never imports."""
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        return None
    return module


def jax_imported() -> bool:
    """True once jax has been completely imported in this process (by anyone)."""
    return loaded_module("jax") is not None


def backends_initialized() -> bool:
    """True when JAX has started its backends. Asking never starts them (that would freeze
    ``jax_num_cpu_devices`` / ``XLA_FLAGS`` before the user sets them) and never imports."""
    if not jax_imported():
        return False
    xla_bridge = loaded_module("jax._src.xla_bridge")
    if xla_bridge is None:
        return False
    probe = getattr(xla_bridge, "backends_are_initialized", None)
    if callable(probe):
        return bool(probe())
    return bool(getattr(xla_bridge, "_backends", None))
