"""jaxinspect: see what JAX does behind ``jit`` from a Jupyter notebook.

In IPython or Jupyter: ``%load_ext jaxinspect``, then ``%jaxinspect help``.
"""

from ._version import __version__
from .api import (
    assert_max_compiles,
    buffers,
    collect_processes,
    compile_diff,
    compile_log,
    connect,
    jaxpr,
    keys,
    monitor,
    nan_guard,
    params,
    processes,
    profile,
    report,
    sharding,
    status,
    track_keys,
    unwatch,
    watch,
    watch_history,
)
from .config import config
from .errors import KeyReuseError, KeyReuseWarning


def load_ipython_extension(ip):
    """Called by ``%load_ext jaxinspect``."""
    from .glue import extension

    extension.load(ip)


def unload_ipython_extension(ip):
    """Called by ``%unload_ext jaxinspect``."""
    from .glue import extension

    extension.unload(ip)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jaxinspect"}]


__all__ = [
    "__version__",
    "assert_max_compiles",
    "buffers",
    "collect_processes",
    "compile_diff",
    "compile_log",
    "connect",
    "config",
    "KeyReuseError",
    "KeyReuseWarning",
    "jaxpr",
    "report",
    "keys",
    "monitor",
    "nan_guard",
    "params",
    "processes",
    "load_ipython_extension",
    "profile",
    "sharding",
    "status",
    "track_keys",
    "unload_ipython_extension",
    "unwatch",
    "watch",
    "watch_history",
]
