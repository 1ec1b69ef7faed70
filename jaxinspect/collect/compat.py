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


def default_platform() -> str | None:
    """``jax.default_backend()`` ("cpu", "gpu", "tpu") once the backends have started; None
    before (asking never starts them)."""
    if not backends_initialized():
        return None
    jax = loaded_module("jax")
    try:
        return str(jax.default_backend()) if jax is not None else None
    except Exception:  # noqa: BLE001 - a backend that failed to start
        return None


def current_mesh_text() -> str | None:
    """The mesh set by ``jax.sharding.use_mesh`` / ``with mesh:`` as text, or None."""
    mesh_lib = loaded_module("jax._src.mesh")
    if mesh_lib is None:
        return None
    for getter in ("get_concrete_mesh", "get_abstract_mesh"):
        fn = getattr(mesh_lib, getter, None)
        if fn is None:
            continue
        try:
            mesh = fn()
        except Exception:  # noqa: BLE001
            continue
        if mesh is not None and not getattr(mesh, "empty", True):
            return f"{getattr(mesh, 'axis_names', '?')}:{getattr(mesh, 'axis_sizes', '?')}"
    try:
        env = mesh_lib.thread_resources.env.physical_mesh
        if not env.empty:
            return f"{env.axis_names}:{tuple(env.shape.values())}"
    except Exception:  # noqa: BLE001
        pass
    return None


PJIT_HOOK_NAMES = ("_infer_params", "_run_python_pjit", "_trace_for_jit")


def install_pjit_hooks(on_infer, on_run, on_trace=None, on_result=None):
    """Wrap jit's Python cache-miss path, which runs only when the C++ dispatch cache misses
    (jax 0.10 – 0.12): ``pjit._infer_params`` (finds or traces the jaxpr), ``pjit._trace_for_jit``
    (the trace itself; JAX reports its duration only for top-level traces) and
    ``pjit._run_python_pjit`` (lowers, compiles and runs).

    ``on_infer(fun, jit_info, args, kwargs)``, ``on_trace(fun)`` and ``on_run(fun, args, kwargs)``
    are context managers entered around the originals; ``on_result(fun, params)`` sees the
    ``PjitParams`` (its ``params["jaxpr"]`` is the traced program) after ``on_infer`` exits. Returns an ``uninstall()`` that restores the
    originals only where nobody replaced our wrappers since (and says whether all were restored),
    or None when this JAX lacks the hook points.
    """
    pjit = loaded_module("jax._src.pjit")
    if pjit is None:
        import jax._src.pjit as pjit  # noqa: PLC0415 - main thread, at load time
    originals = {name: getattr(pjit, name, None) for name in PJIT_HOOK_NAMES}
    if not (callable(originals["_infer_params"]) and callable(originals["_run_python_pjit"])):
        return None
    orig_infer, orig_run = originals["_infer_params"], originals["_run_python_pjit"]
    orig_trace = originals["_trace_for_jit"]

    def _infer_params(fun, ji, args, kwargs):
        with on_infer(fun, ji, args, kwargs):
            result = orig_infer(fun, ji, args, kwargs)
        if on_result is not None:
            on_result(fun, result[0])
        return result

    def _run_python_pjit(p, args_flat, fun, args, kwargs):
        with on_run(fun, args, kwargs):
            return orig_run(p, args_flat, fun, args, kwargs)

    def _trace_for_jit(fun, *rest, **kw):
        with on_trace(fun):
            return orig_trace(fun, *rest, **kw)

    ours = {"_infer_params": _infer_params, "_run_python_pjit": _run_python_pjit}
    if on_trace is not None and callable(orig_trace):
        ours["_trace_for_jit"] = _trace_for_jit
    for name, wrapper in ours.items():
        wrapper.__wrapped__ = originals[name]
        setattr(pjit, name, wrapper)

    def uninstall() -> bool:
        clean = True
        for name, wrapper in ours.items():
            if getattr(pjit, name, None) is wrapper:
                setattr(pjit, name, originals[name])
            else:
                clean = False
        return clean

    return uninstall


HIGHER_ORDER_PARAMS = ("jaxpr", "cond_jaxpr", "body_jaxpr", "branches", "call_jaxpr", "fun_jaxpr")


def eager_primitive(fun) -> tuple[str, dict] | None:
    """(primitive name, params) when ``fun`` is the one-primitive function JAX jits to run a
    primitive eagerly (``dispatch.xla_primitive_callable``: ``lax.scan`` called outside jit,
    ``jnp.ones``' ``broadcast_in_dim``...), else None. Feature-detected: the function carries
    ``_apply_primitive`` and closes over ``prim`` and ``params``."""
    if not getattr(fun, "_apply_primitive", False):
        return None
    code = getattr(fun, "__code__", None)
    closure = getattr(fun, "__closure__", None)
    if code is None or not closure:
        return None
    try:
        cells = dict(zip(code.co_freevars, (c.cell_contents for c in closure), strict=False))
    except ValueError:  # an empty cell
        return None
    prim, params = cells.get("prim"), cells.get("params")
    name = getattr(prim, "name", None)
    if not isinstance(name, str) or not isinstance(params, dict):
        return None
    return name, params


def primitive_bodies(params: dict) -> list[tuple[str, object]]:
    """The sub-programs (closed jaxprs) a higher-order primitive's params carry, in order:
    ``[("jaxpr", scan body)]``, ``[("cond_jaxpr", ...), ("body_jaxpr", ...)]``,
    ``[("branches", false branch), ("branches", true branch)]``; [] for first-order ones."""
    out = []
    for key in HIGHER_ORDER_PARAMS:
        value = params.get(key)
        for j in value if isinstance(value, (tuple, list)) else (value,):
            if j is not None and (hasattr(j, "jaxpr") or hasattr(j, "eqns")):
                out.append((key, j))
    return out


def body_source(closed_jaxpr) -> tuple[str | None, str | None]:
    """(function name, "file:line") of the Python function a sub-program was traced from,
    from the jaxpr's debug info ("body at /path/x.py:12"); (None, None) when unknown."""
    inner = getattr(closed_jaxpr, "jaxpr", closed_jaxpr)
    info = getattr(inner, "debug_info", None)
    text = getattr(info, "func_src_info", None)
    if not isinstance(text, str) or not text:
        return None, None
    name, sep, where = text.partition(" at ")
    return name or None, (where if sep else None)


def register_traceback_exclusions(paths) -> bool:
    """Hide these files' frames from users' tracebacks the way JAX hides its own
    (``jax._src.traceback_util.register_exclusion``; feature-detected, idempotent)."""
    tb_util = loaded_module("jax._src.traceback_util")
    register = getattr(tb_util, "register_exclusion", None)
    known = getattr(tb_util, "_exclude_paths", None)
    if register is None:
        return False
    for path in paths:
        if isinstance(known, list) and path in known:
            continue
        register(path)
    return True


def monitoring_module():
    """``jax._src.monitoring`` (imported on the calling thread; call from the main thread)."""
    mod = loaded_module("jax._src.monitoring")
    if mod is None:
        import jax._src.monitoring as mod  # noqa: PLC0415
    return mod


def unregister_listener(kind: str, callback) -> None:
    """Remove only our own monitoring listener (never ``clear_event_listeners``)."""
    mon = monitoring_module()
    public = {
        "duration": "unregister_event_duration_listener",
        "event": "unregister_event_listener",
    }[kind]
    private = {
        "duration": "_unregister_event_duration_listener_by_callback",
        "event": "_unregister_event_listener_by_callback",
    }[kind]
    fn = getattr(mon, public, None) or getattr(mon, private, None)
    if fn is not None:
        fn(callback)
        return
    registry = {"duration": "_event_duration_secs_listeners", "event": "_event_listeners"}[kind]
    listeners = getattr(mon, registry)
    listeners.remove(callback)


def jaxpr_api() -> dict:
    """Jaxpr internals by role (user thread only: this may import). jax 0.12 folded
    ``ClosedJaxpr`` into ``Jaxpr``; 0.10 has both."""
    from jax._src import core, source_info_util

    types = tuple(t for t in (getattr(core, "Jaxpr", None), getattr(core, "ClosedJaxpr", None)) if t)
    return {
        "jaxpr_types": types,
        "literal": getattr(core, "Literal", ()),
        "dropvar": getattr(core, "DropVar", ()),
        "user_frames": getattr(source_info_util, "user_frames", None),
    }


def open_jaxpr(j):
    """(inner jaxpr with eqns/invars/outvars/constvars, const values) of a closed or open jaxpr."""
    inner = getattr(j, "jaxpr", j)
    return inner, tuple(getattr(j, "consts", ()) or ())
