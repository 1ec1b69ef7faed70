"""``%load_ext jaxinspect`` / ``%unload_ext jaxinspect``: add and remove every hook.

The loaded state lives in the session (``glue.session.SESSION``); this module only wires it into
an IPython shell and takes it out again.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from . import processes
from .inspector import Inspector
from .magics import JaxInspectMagics
from .session import SESSION

_hooks: list[tuple[str, Any]] = []
_magic_names: dict[str, list[str]] = {}


def current() -> Inspector | None:
    """The loaded inspector, or None."""
    return SESSION.inspector


def current_shell() -> Any:
    """The IPython shell jaxinspect is loaded into, or None."""
    return SESSION.shell


def magic_names(kind: str) -> list[str]:
    """The magics of ``kind`` ("line" / "cell") that loading registered."""
    return list(_magic_names.get(kind, []))


def load(ip: Any) -> None:
    """Register magics and event hooks and start the inspector. Loading twice is harmless.
    A failure while loading undoes what was added and is one line on stderr, not a traceback."""
    if SESSION.inspector is not None:
        if SESSION.shell is ip:
            return
        unload(SESSION.shell)
    partial: list[Inspector] = []
    try:
        _load(ip, partial)
    except Exception as exc:  # noqa: BLE001 - %load_ext must not leave half the hooks behind
        import sys  # noqa: PLC0415

        if SESSION.inspector is None and partial:  # started nothing to unload: drop what was registered
            SESSION.attach(partial[0], ip)
        with errors.guard("unload.after_failed_load"):
            unload(ip)
        print(
            f"jaxinspect: could not load ({type(exc).__name__}: {exc}); nothing was left "
            "installed (%reload_ext jaxinspect tries again). Please report this with "
            "`pip show jax jaxinspect`.",
            file=sys.stderr,
        )


def _load(ip: Any, partial: list[Inspector]) -> None:
    engine = processes.engine_id_of(ip)  # an ipyparallel engine: no sidebar, publish to the notebook
    inspector = Inspector(serve_comms=engine is None)
    partial.append(inspector)
    magics = JaxInspectMagics(ip)
    before = {k: set(v) for k, v in ip.magics_manager.magics.items()}
    ip.register_magics(magics)
    for kind, table in ip.magics_manager.magics.items():
        _magic_names[kind] = sorted(set(table) - before.get(kind, set()))

    def pre_run_cell(info: Any = None) -> None:
        with errors.guard("hooks.pre_run_cell"):
            inspector.kernel.cell_started(getattr(ip, "execution_count", None))

    def post_run_cell(result: Any = None) -> None:
        with errors.guard("hooks.post_run_cell"):
            inspector.kernel.cell_finished()
            inspector.refresh_env()
        with errors.guard("hooks.post_run_cell.buffers"):
            inspector.cell_finished_buffers()
        with errors.guard("hooks.post_run_cell.keys"):
            inspector.cell_finished_keys()
        with errors.guard("hooks.post_run_cell.watch"):
            inspector.watcher.check_latest()  # a run never ends on an unchecked step
        with errors.guard("hooks.post_run_cell.monitors"):
            inspector.cell_finished_monitors()

    for event, cb in (("pre_run_cell", pre_run_cell), ("post_run_cell", post_run_cell)):
        ip.events.register(event, cb)
        _hooks.append((event, cb))
    SESSION.attach(inspector, ip)
    inspector.kernel.execution_count = int(getattr(ip, "execution_count", 0) or 0)
    filename_map = getattr(getattr(ip, "compile", None), "_filename_map", None)
    cell_of = filename_map.get if isinstance(filename_map, dict) else None
    inspector.start(cell_of=cell_of, namespace=lambda: ip.user_ns)
    if inspector.transport is not None:
        inspector.transport.register_method("stacks", processes.stacks_rpc)
    if engine is not None:
        processes.connect_engine(ip, inspector)


def unload(ip: Any) -> None:
    """Remove every magic, event hook, thread and comm target that ``load`` added. Idempotent."""
    if SESSION.inspector is None:
        return
    shell = SESSION.shell or ip
    for event, cb in _hooks:
        try:
            shell.events.unregister(event, cb)
        except ValueError:
            pass
    _hooks.clear()
    for kind, names in _magic_names.items():
        table = shell.magics_manager.magics.get(kind, {})
        for name in names:
            table.pop(name, None)
    _magic_names.clear()
    shell.magics_manager.registry.pop("JaxInspectMagics", None)
    with errors.guard("unload.connection"):
        processes.close_connection()
    inspector = SESSION.detach()
    if inspector is not None:
        inspector.close()
    with errors.guard("unload.collector"):
        processes.close_collector()
    errors.reset()
