"""``nan_guard``: from a NaN alert to its cause.

The guard checks the inputs of every call of a step function exactly (``paramlib.Watcher``) and
keeps the inputs of the calls whose successor has not been checked yet (usually one: a second
copy of the training state stays alive while the next call runs). When a call's inputs are
first non-finite, it replays the call before it — from its inputs, checked finite — on a
background thread with JAX's ``jax_debug_nans`` / ``jax_debug_infs`` on (thread-local), and
names the primitive, its equation and the user's line that made the first NaN; or, when the
replay stays finite, says the NaN entered between the two calls, outside the step.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from .. import errors, units

KEEP = 8  # calls kept at most while their checks are read (the reader is usually one behind)
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARIES = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep, os.sep + "lib" + os.sep + "python3")


def _alive(ref: Any) -> bool:
    return ref is not None and ref() is not None


def _api_boundary(fn: Any) -> Any:
    """JAX's traceback boundary (feature-detected): with this file registered as excluded, a
    user's own error inside a guarded step shows no jaxinspect frame, as JAX hides its own."""
    try:
        from jax._src import traceback_util

        from . import compat

        compat.register_traceback_exclusions([os.path.abspath(__file__)])
        return traceback_util.api_boundary(fn)
    except Exception:  # noqa: BLE001 - private API drift: the frame shows, nothing breaks
        return fn


class NanGuard:
    """A step function whose every call's inputs are checked for NaN/Inf, and whose first NaN
    is traced to the operation and line that made it. Call it exactly like the step."""

    def __init__(self, fn: Any, watcher: Any, name: str | None = None, copy_donated: bool = False) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.copy_donated = bool(copy_donated)
        self.cause: str | None = None
        self._cause_at: Any = None  # the Location of the line the cause names
        self.alert: Any = None
        self._watcher = watcher
        self._key = key = f"{self.name} inputs"
        n = 2
        while _alive(watcher.listeners.get(self._key)):  # another live guard of that name
            self._key = f"{key} #{n}"
            n += 1
        watcher.unwatch(self._key)  # what a freed guard of that name left
        self._kept: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._calls = 0
        self._done = threading.Event()
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        watcher.units[self._key] = "call"
        from . import bufferlib

        # the previous call's inputs it keeps show as held by it in the Buffers views
        bufferlib.register_holder(f"nan_guard({self.name})", self)
        watcher.listeners[self._key] = weakref.WeakMethod(self._checked)
        weakref.finalize(self, watcher.unwatch, self._key)  # a freed guard leaves nothing held
        functools.update_wrapper(self, fn, updated=())

    # -- the training thread ---------------------------------------------------------------------
    @_api_boundary
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # IPython hides this frame too  # noqa: F841
        try:
            self._before(args, kwargs)
        except Exception as exc:  # noqa: BLE001 - never raise into the training loop
            errors.record("nan_guard.call", exc)
        return self.fn(*args, **kwargs)

    def _before(self, args: tuple, kwargs: dict) -> None:
        import jax

        call = self._calls
        self._calls += 1
        inputs = self._named(args, kwargs)
        # the arrays as they are now: an NNX module is updated in place by the call, its arrays
        # are not (they are replaced), so these leaves are the call's inputs for good
        leaves, treedef = jax.tree_util.tree_flatten(inputs)
        kept = leaves
        if self.copy_donated:
            import jax.numpy as jnp

            kept = [jnp.copy(x) if isinstance(x, jax.Array) and _inexact(x) else x for x in leaves]
            from . import bufferlib

            bufferlib.register_own(*(x for x in kept if isinstance(x, jax.Array)))
        with self._lock:
            self._kept[call] = (treedef, kept)
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
        self._watcher.watch(self._key, inputs, step=call, flat=(leaves, treedef))

    def _named(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """The inputs by parameter name, so leaves read ``['model']['head']['kernel']``."""
        if self._signature is not None:
            try:
                bound = self._signature.bind(*args, **kwargs)
                return dict(bound.arguments)
            except TypeError:
                pass
        return {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}

    # -- the check's reader thread ---------------------------------------------------------------
    def _checked(self, call: int, alert: Any) -> None:
        with self._lock:
            if alert is None:  # finite: older calls can no longer be needed
                for c in [c for c in self._kept if c < call]:
                    del self._kept[c]
                return
            previous = self._kept.get(call - 1)
            self._kept.clear()  # the replay holds what it needs
        self.alert = alert
        threading.Thread(
            target=self._replay, args=(call, previous, alert), name="jaxinspect-nan-replay", daemon=True
        ).start()

    def _replay(self, call: int, previous: Any, alert: Any) -> None:
        import dataclasses

        self._cause_at = None
        try:
            cause = self._cause(call, previous, alert)
        except Exception as exc:  # noqa: BLE001
            errors.record("nan_guard.replay", exc)
            cause = f"the replay failed inside jaxinspect: {type(exc).__name__}: {exc}"
        self.cause = cause
        updated = dataclasses.replace(
            alert, time=time.time(), cause=cause, message=f"{alert.message}. Cause: {cause}",
            cause_at=self._cause_at,
        )
        self.alert = updated
        self._watcher.publish(updated)
        self._done.set()

    def _cause(self, call: int, previous: Any, alert: Any) -> str:
        import jax

        if call == 0:
            return f"the inputs of the first call of {self.name} were already non-finite: the NaN comes from before the loop"
        if previous is None:
            return (
                f"the inputs of call {call - 1} were no longer kept (the check fell more than "
                f"{KEEP} calls behind), so the call cannot be replayed"
            )
        treedef, leaves = previous
        spanning = [x for x in leaves if not getattr(x, "is_fully_addressable", True)]
        if spanning:
            import jax

            return (
                f"call {call - 1} was not replayed: {len(spanning)} of its inputs are arrays "
                f"across the job's {jax.process_count()} processes, and a replay run by this "
                "process alone would wait forever in collectives the others never join. What is "
                "exact is above: the first non-finite call and its leaves on this process"
            )
        if any(getattr(x, "is_deleted", lambda: False)() for x in leaves):
            return (
                f"call {call - 1}'s inputs were donated to {self.name}, so it cannot be replayed; "
                "jaxinspect.nan_guard(step, copy_donated=True) keeps a copy (one more copy of "
                "the state in device memory, one device copy per call)"
            )
        if not _finite(leaves):
            return f"the inputs of call {call - 1} were non-finite too (that call was not checked at the time)"
        args, kwargs = self._call_args(jax.tree_util.tree_unflatten(treedef, leaves))
        from . import compilelib

        try:  # the replay's compiles are jaxinspect's, not the user's (quiet is per thread)
            with compilelib.collector().quiet(), jax.debug_nans(True), jax.debug_infs(True), _quiet_jax_logs():
                jax.block_until_ready(self.fn(*args, **kwargs))
        except FloatingPointError as exc:
            self._cause_at = _user_location(exc)
            return _describe(exc, self.name, call - 1, self.fn, args, kwargs)
        where = ", ".join(alert.leaves[:3]) or "the inputs"
        return (
            f"replaying call {call - 1} of {self.name} from its finite inputs gave no NaN/Inf: "
            f"the NaN entered between call {call - 1} and call {call}, outside {self.name} "
            f"(an edit of the state or inputs from elsewhere), in {where}"
        )

    def _call_args(self, inputs: dict[str, Any]) -> tuple[tuple, dict]:
        """Arguments from the inputs by name (new NNX objects, rebuilt from the kept arrays: the
        replay never touches the user's live model)."""
        if self._signature is not None and not any(k.startswith("arg") and k[3:].isdigit() for k in inputs):
            bound = inspect.BoundArguments(self._signature, OrderedDict(inputs))
            return tuple(bound.args), dict(bound.kwargs)
        positional = [inputs[k] for k in inputs if k.startswith("arg") and k[3:].isdigit()]
        return tuple(positional), {k: v for k, v in inputs.items() if not (k.startswith("arg") and k[3:].isdigit())}

    def wait(self, timeout: float = 60.0) -> str | None:
        """Wait for the replay after an alert (tests, notebooks); returns ``cause``, or None at
        once when every call's check has been read and none was non-finite (a clean loop does
        not wait out the timeout). The last call is checked first if the cost cap had thinned
        it out, as at a cell's end: outside a notebook nothing else would, and a run whose
        last calls were all thinned would read clean."""
        deadline = time.monotonic() + timeout
        try:
            self._watcher.check_latest(0.0)
            self._watcher.checker.drain(timeout)
        except Exception as exc:  # noqa: BLE001
            errors.record("nan_guard.wait", exc)
        if self.alert is None:
            return self.cause
        self._done.wait(max(0.0, deadline - time.monotonic()))
        return self.cause

    def __repr__(self) -> str:
        return f"<jaxinspect.nan_guard of {self.name}: {self._calls} calls, cause: {self.cause or '—'}>"


def _finite(leaves: list[Any]) -> bool:
    import jax
    import jax.numpy as jnp
    import numpy as np

    for x in leaves:
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.inexact):
            if not bool(np.isfinite(np.asarray(x)).all()):
                return False
    return True


def _inexact(x: Any) -> bool:
    import jax.numpy as jnp

    try:
        return bool(jnp.issubdtype(x.dtype, jnp.inexact))
    except TypeError:
        return False


class _quiet_jax_logs:  # noqa: N801
    """JAX logs "Invalid nan value encountered … Calling the de-optimized version" at WARNING
    while it looks for the primitive; that is our replay, not the user's code."""

    def __enter__(self) -> None:
        import logging

        self._loggers = [logging.getLogger(n) for n in ("jax._src.pjit", "jax._src.dispatch", "jax._src.interpreters.pxla")]
        self._levels = [lg.level for lg in self._loggers]
        for lg in self._loggers:
            lg.setLevel(logging.ERROR)
        _quiet_prints(+1)

    def __exit__(self, *exc: Any) -> None:
        _quiet_prints(-1)
        for lg, level in zip(self._loggers, self._levels, strict=True):
            lg.setLevel(level)


# JAX also *prints* "Invalid nan value encountered in the output of a jax.jit function. Calling
# the de-optimized version." (jax._src.api_util, jax._src.pjit): from the replay's thread that
# text lands in whatever cell the user is running. While a replay runs, those two modules see a
# `print` that drops what the replay's thread prints and passes everything else through.
_PRINT_MODULES = ("jax._src.api_util", "jax._src.pjit")
_replaying = threading.local()
_print_lock = threading.Lock()
_print_users = 0


def _replay_print(*args: Any, **kwargs: Any) -> None:
    if getattr(_replaying, "on", False):
        return
    import builtins

    builtins.print(*args, **kwargs)


def _quiet_prints(delta: int) -> None:
    import sys

    global _print_users
    _replaying.on = delta > 0
    with _print_lock:
        _print_users += delta
        for name in _PRINT_MODULES:
            module = sys.modules.get(name)
            if module is None:
                continue
            current = vars(module).get("print")
            if _print_users > 0 and current is None:
                module.print = _replay_print
            elif _print_users <= 0 and current is _replay_print:
                del module.print


def _describe(exc: FloatingPointError, name: str, call: int, fn: Any, args: tuple, kwargs: dict) -> str:
    import traceback

    text = str(exc).split("\n", 1)[0]
    m = re.search(r"invalid value \((nan|inf)\) encountered in ([\w\-\.]+)", text)
    what, prim = (m.group(1), m.group(2)) if m else ("nan", None)
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if not _library(f.filename)]
    lib = [f for f in frames if _library(f.filename) and os.sep + "jax" not in f.filename]
    parts = [f"replaying call {call} of {name} with jax_debug_nans: the first {what.upper() if what == 'inf' else 'NaN'} came from"]
    parts.append(f"`{prim}`" if prim else f"an operation ({text})")
    if user:
        f = user[-1]
        parts.append(f"at {_place(f.filename, f.lineno)}: `{(f.line or '').strip()}`")
    if lib and (not user or frames.index(lib[-1]) > frames.index(user[-1])):
        f = lib[-1]
        parts.append(f"(inside {_short(f.filename)}:{f.lineno} {f.name})")
    eqn = _equation(fn, args, kwargs, prim, user[-1] if user else None)
    if eqn:
        parts.append(f"— equation `{eqn}`")
    return " ".join(parts)


def _user_location(exc: BaseException) -> Any:
    """The Location of the user's line a replay's FloatingPointError came from (None if none)."""
    import traceback

    from . import compilelib

    try:
        user = [f for f in traceback.extract_tb(exc.__traceback__) if not _library(f.filename)]
        if not user:
            return None
        return compilelib.locate(user[-1].filename, user[-1].lineno, compilelib.collector().cell_of)
    except Exception:  # noqa: BLE001
        return None


def _library(filename: str) -> bool:
    return filename.startswith(_HERE) or any(p in filename for p in _LIBRARIES) or filename.startswith("<frozen")


def _short(filename: str) -> str:
    for marker in ("site-packages" + os.sep, "dist-packages" + os.sep):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.basename(filename)


def _place(filename: str, line: int | None) -> str:
    """``cell [3] line 4`` in a notebook, else ``file.py:4`` (the user's line, with its number)."""
    from . import compilelib

    try:
        cell = compilelib.cell_number(compilelib.collector().cell_of, filename)
        return units.location(f"{compilelib.short_path(filename)}:{line}", cell)
    except Exception:  # noqa: BLE001
        return f"{os.path.basename(filename)}:{line}"


def _equation(fn: Any, args: tuple, kwargs: dict, prim: str | None, frame: Any) -> str | None:
    """The equation of primitive ``prim`` at the user's line, read from the step's jaxpr."""
    if prim is None:
        return None
    try:
        import jax

        from . import compilelib

        with compilelib.collector().quiet():
            closed = jax.make_jaxpr(fn)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a function make_jaxpr cannot trace
        return None
    found: list[str] = []

    def walk(jaxpr: Any) -> None:
        for eqn in jaxpr.eqns:
            if found:
                return
            if eqn.primitive.name == prim and _at(eqn, frame):
                found.append(str(eqn).strip().splitlines()[0][:200])
                return
            for sub in _subjaxprs(eqn):
                walk(sub)

    walk(getattr(closed, "jaxpr", closed))
    return found[0] if found else None


def _subjaxprs(eqn: Any):
    for v in eqn.params.values():
        for item in v if isinstance(v, list | tuple) else (v,):
            inner = getattr(item, "jaxpr", None)
            if inner is not None and hasattr(getattr(inner, "jaxpr", inner), "eqns"):
                yield getattr(inner, "jaxpr", inner)
            elif hasattr(item, "eqns"):
                yield item


def _at(eqn: Any, frame: Any) -> bool:
    if frame is None:
        return True
    try:
        from jax._src import source_info_util

        tb = eqn.source_info.traceback
        for f in source_info_util.user_frames(tb) if tb is not None else ():
            if f.start_line == frame.lineno and os.path.basename(f.file_name) == os.path.basename(frame.filename):
                return True
    except Exception:  # noqa: BLE001 - private API drift
        return False
    return False
