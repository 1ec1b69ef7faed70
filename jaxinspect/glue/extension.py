"""``%load_ext jaxinspect`` / ``%unload_ext jaxinspect``: add and remove every hook."""

from __future__ import annotations

from typing import Any

from .. import errors
from .inspector import Inspector

_inspector: Inspector | None = None
_shell: Any = None
_hooks: list[tuple[str, Any]] = []
_magic_names: dict[str, list[str]] = {}


def current() -> Inspector | None:
    """The loaded inspector, or None."""
    return _inspector


def current_shell() -> Any:
    """The IPython shell jaxinspect is loaded into, or None."""
    return _shell


def load(ip: Any) -> None:
    """Register magics and event hooks and start the inspector. Loading twice is harmless.
    A failure while loading undoes what was added and is one line on stderr, not a traceback."""
    global _inspector, _shell
    if _inspector is not None:
        if _shell is ip:
            return
        unload(_shell)
    try:
        _load(ip)
    except Exception as exc:  # noqa: BLE001 - %load_ext must not leave half the hooks behind
        import sys  # noqa: PLC0415

        if _inspector is None:  # started nothing to unload: drop what was registered
            _inspector = _partial
        with errors.guard("unload.after_failed_load"):
            unload(ip)
        print(
            f"jaxinspect: could not load ({type(exc).__name__}: {exc}); nothing was left "
            "installed (%reload_ext jaxinspect tries again). Please report this with "
            "`pip show jax jaxinspect`.",
            file=sys.stderr,
        )


_partial: Any = None


def _load(ip: Any) -> None:
    global _inspector, _shell, _partial
    from .magics import JaxInspectMagics

    inspector = Inspector()
    _partial = inspector
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
    _inspector, _shell = inspector, ip
    inspector.kernel.execution_count = int(getattr(ip, "execution_count", 0) or 0)
    filename_map = getattr(getattr(ip, "compile", None), "_filename_map", None)
    cell_of = filename_map.get if isinstance(filename_map, dict) else None
    inspector.start(cell_of=cell_of, namespace=lambda: ip.user_ns)
    _partial = None


def unload(ip: Any) -> None:
    """Remove every magic, event hook, thread and comm target that ``load`` added. Idempotent."""
    global _inspector, _shell
    if _inspector is None:
        return
    shell = _shell or ip
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
    inspector, _inspector, _shell = _inspector, None, None
    inspector.close()
    from . import processes

    with errors.guard("unload.collector"):
        processes.close_collector()
    errors.reset()
