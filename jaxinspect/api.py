"""The Python API behind the magics. ``jaxinspect/__init__.py`` re-exports the public names."""

from __future__ import annotations

from . import protocol
from ._version import __version__
from .collect import envlib
from .glue import extension
from .glue.display import StatusView
from .live.hub import Hub
from .live.kernelstate import KernelState


def status() -> StatusView:
    """Versions, backend, devices and what jaxinspect is recording (works loaded or not)."""
    inspector = extension.current()
    if inspector is not None:
        inspector.refresh_env()
        return StatusView(inspector.env, inspector.kernel.status().to_json(), inspector.info())
    env = envlib.collect_env().to_json()
    idle = KernelState(Hub()).status().to_json()
    info = {
        "version": __version__,
        "protocol": protocol.PROTOCOL_VERSION,
        "loaded": False,
        "sidebars": 0,
        "sampler_running": False,
    }
    return StatusView(env, idle, info)
