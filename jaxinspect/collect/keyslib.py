"""PRNG keys at run time: every key created, derived and consumed while tracking is on.

``KeyTracker.start()`` replaces the public functions of ``jax.random`` (``key``, ``PRNGKey``,
``wrap_key_data``, ``split``, ``fold_in``, ``clone`` and every sampler) with thin wrappers, does
the same for the ``random`` module that ``jax.nn.initializers`` calls (JAX's private
``jax._src.random``, which the public wrappers never see: every Flax layer initialiser goes
through it), and wraps ``flax.nnx.RngStream.__call__`` to name NNX streams; ``stop()`` puts the
originals back. Nothing is wrapped while tracking is off.

A key is identified by its bits (the key data), for typed and raw ``uint32`` keys alike, so
``keys[0]`` taken twice, or a key copied, is still the same key. Each key is a node in a lineage
tree (root → splits → uses); a key whose bits were already used is a reuse: consumed twice,
consumed then split, split twice.

Roots made again (the rule, stated in the view and the README): making a root key
(``key(0)``, ``PRNGKey``, ``nnx.Rngs(0)``) whose bits are already known *in the same run* joins
the earlier key — its lineage and uses continue, so drawing from it again is a reuse (``for …:
r = nnx.Rngs(dropout=0); bernoulli(r.dropout(), …)`` draws the same mask every iteration). A run
is one notebook cell execution (outside IPython: the whole tracking session). The same root made
in a later cell execution (a re-run cell, or seeding again in another cell) starts a fresh
lineage, so re-running a cell never reports a reuse. ``clone`` allows one more use, as in JAX's
own checker.

Keys inside ``jit``/``vmap`` are tracers: those are checked statically from the traced jaxpr
instead (``keyflow``), for every user function jit traces while tracking is on. A compiled
function called again runs no Python, so the same key passed to it on every call is not seen —
unless ``jit_calls=True``: then every call of a jitted function whose program consumes a key
input is recorded as a use of that key (those calls take JAX's Python dispatch path, as with
``jax_debug_key_reuse``).

Memory is bounded: the newest ``max_nodes`` keys are kept, older ones only counted. No user array
is referenced: nodes keep the key bits (8–16 bytes), not the arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import sys
import threading
import time
import types
import warnings
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import errors, units
from ..records import KeyCount, KeyNodeRecord, KeyReuse, KeysRecord
from . import compat, compilelib

CREATORS = ("key", "PRNGKey", "wrap_key_data")
DERIVERS = ("split", "fold_in", "clone")
SAMPLERS = (
    "ball", "bernoulli", "beta", "binomial", "bits", "categorical", "cauchy", "chisquare",
    "choice", "dirichlet", "double_sided_maxwell", "exponential", "f", "gamma",
    "generalized_normal", "geometric", "gumbel", "laplace", "loggamma", "logistic", "lognormal",
    "maxwell", "multinomial", "multivariate_normal", "normal", "orthogonal", "pareto",
    "permutation", "poisson", "rademacher", "randint", "rayleigh", "t", "triangular",
    "truncated_normal", "uniform", "wald", "weibull_min",
)  # fmt: skip
ON_REUSE = ("warn", "error", "ignore")
# modules that call JAX's private random module directly (not ``jax.random``): their global
# ``random`` is swapped for a view of that module whose functions are our wrappers
INTERNAL_CALLERS = ("jax._src.nn.initializers",)
PRIVATE_RANDOM = "jax._src.random"
MAX_NODES = 10_000
QUEUE = 64  # events recorded before their keys' bits are read (one device→host batch)
QUEUE_MAX = 1024  # past this many queued events, wait for their keys rather than queue more
FLUSH_EVERY = 0.5  # seconds: a slow loop still hears about a reuse within a step or two
MAX_ELEMENTS = 4096  # keys of one key array followed one by one
MAX_ROWS = 300  # rows of the lineage tree in a snapshot
MAX_CONSUMERS = 200
USED_BY = 3
_U32 = np.dtype(np.uint32)
HINT = (
    "split the key (k1, k2 = jax.random.split(key)) and give each use its own part; "
    "carry the new key forward (key, sub = jax.random.split(key)) in loops"
)


class _Node:
    __slots__ = (
        "id", "parent", "op", "label", "typed", "site", "uses", "used_by", "first_use",
        "split_at", "allowed", "children", "fp", "reused", "run", "remade", "remade_at",
    )  # fmt: skip

    def __init__(self, nid: int, parent: int | None, op: str, label: str, typed: bool, site, fp,
                 run: Any = None) -> None:  # fmt: skip
        self.id = nid
        self.parent = parent
        self.op = op
        self.label = label
        self.typed = typed
        self.site = site
        self.uses = 0
        self.used_by: tuple[str, ...] = ()  # tuples of str: the GC stops tracking them
        self.first_use: tuple[str, str | None] | None = None
        self.split_at: tuple[str, str | None] | None = None
        self.allowed = 1
        self.children = 0
        self.fp = fp
        self.reused = False
        self.run = run  # the run (cell execution) that made this root
        self.remade = 0  # made again from the same seed in the same run: the same key
        self.remade_at: str | None = None

    def spent(self) -> bool:
        return self.uses + (1 if self.split_at else 0) >= self.allowed

    def state(self) -> str:
        if self.reused:
            return "reused"
        if self.split_at:
            return "split"
        return "consumed" if self.uses else "fresh"


class _Local(threading.local):
    def __init__(self) -> None:
        self.stream: str | None = None


class KeyTracker:
    """The process-wide record of PRNG keys (see the module docstring)."""

    def __init__(self, max_nodes: int = MAX_NODES) -> None:
        self.max_nodes = max_nodes
        self.lock = threading.RLock()
        self.on_reuse = "warn"
        self.jit_calls = False
        self.cell_of: Callable[[str], int | None] | None = None
        # the current run (see the module docstring): ``new_run()`` after each cell, plus
        # ``run_of()`` (the shell's execution count) when set; both None outside IPython
        self.run = 0
        self.run_of: Callable[[], Any] | None = None
        self.sinks: list[Callable[[KeyReuse], None]] = []
        self._originals: dict[str, Any] = {}
        self._wrappers: dict[str, Any] = {}
        self._stream_original: Any = None
        self._stream_wrapper: Any = None
        self._proxies: list[tuple[Any, str, Any, Any]] = []  # (module, global, original, proxy)
        self._cells: list[tuple[Any, Any, Any]] = []  # (closure cell, original, wrapper)
        self._pjit_original: Any = None
        self._async_copy = True
        self._pjit_wrapper: Any = None
        self._consumed_inputs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._tls = _Local()
        self._user_files: dict[str, str | None] = {}
        self._sites: dict[tuple, str] = {}
        self._free: list[_Node] = []  # forgotten nodes, re-initialised for new keys
        self._use_cache: dict[tuple, tuple] = {}
        self._split_cache: dict[Any, tuple] = {}
        self._queue: list[tuple] = []
        self._flush_due = 0.0
        self._filters_seen: tuple = ()  # (list, len, first) of warnings.filters last looked at
        self._filters_raise = False
        self._event_where: tuple | None = None
        self._analyzed: weakref.WeakSet = weakref.WeakSet()
        self._source_of: Any = None
        self.tracking = False
        self.clear()

    # -- state ---------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every key and reuse (tracking stays as it is)."""
        with self.lock:
            self._queue = []  # events not yet processed are forgotten too
            old = getattr(self, "nodes", None)
            if old:  # their objects serve the next keys (see _make)
                self._free.extend(itertools.islice(old.values(), max(0, self.max_nodes - len(self._free))))
            self.nodes: OrderedDict[int, _Node] = OrderedDict()
            self.by_fp: dict[bytes, _Node] = {}
            self.ids = itertools.count(1)
            self.reuse_ids = itertools.count(1)
            self.reuses: dict[tuple, KeyReuse] = {}
            self.reuse_nodes: dict[int, int] = {}  # node id -> reuse id (for the tree view)
            self.consumers: Counter = Counter()
            self.created = self.derived = self.consumed = self.summarised = 0
            self.version = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def new_run(self) -> None:
        """A new run begins (called after each notebook cell): roots made from now on with
        bits already known start a fresh lineage instead of joining the earlier key."""
        self.run += 1

    def _run_id(self) -> Any:
        run_of = self.run_of
        if run_of is None:
            return self.run
        try:
            return (self.run, run_of())
        except Exception:  # noqa: BLE001 - a closed shell: the session is one run
            return self.run

    def start(self, on_reuse: str = "warn", cell_of: Any = None, jit_calls: bool | None = None) -> None:
        """Wrap ``jax.random`` (and NNX streams, and the module the initialisers call); with
        ``jit_calls=True`` also every call of a jitted function taking a key. Call from the
        user's thread. Raises ValueError for a bad argument (the API turns it into one line)."""
        if on_reuse not in ON_REUSE:
            raise ValueError(f"on_reuse must be one of {', '.join(map(repr, ON_REUSE))}, got {on_reuse!r}")
        if jit_calls is not None and not isinstance(jit_calls, bool):
            raise ValueError(f"jit_calls must be True or False, got {jit_calls!r}")
        with self.lock:
            self.on_reuse = on_reuse
            if cell_of is not None:
                self.cell_of = cell_of
            if not self.tracking:
                jr = compat.loaded_module("jax.random")
                if jr is None:
                    if threading.current_thread() is not threading.main_thread():
                        raise RuntimeError("jax is not imported in this kernel yet: import jax first")
                    import jax.random as jr  # noqa: PLC0415 - the user's thread

                self._jax_tracer = compat.loaded_module("jax.core").Tracer
                try:  # on CPU a host copy is a view: no async copies to start
                    self._async_copy = compat.loaded_module("jax").default_backend() != "cpu"
                except Exception:  # noqa: BLE001
                    self._async_copy = True
                _register_exclusions()
                for name in CREATORS + DERIVERS + SAMPLERS:
                    orig = getattr(jr, name, None)
                    if orig is None or not callable(orig):
                        continue
                    wrapper = self._wrap(name, orig)
                    self._originals[name] = orig
                    self._wrappers[name] = wrapper
                    setattr(jr, name, wrapper)
                self._wrap_internal_callers()
                self._wrap_streams()
                collector = compilelib.collector()
                collector.add_jaxpr_listener(self._on_jaxpr)
                collector.attach(_no_sink)  # jit's hooks stay installed while we track
                self.tracking = True
            if jit_calls is not None and jit_calls != self.jit_calls:
                self._set_jit_calls(jit_calls)
            self.version += 1

    def stop(self) -> None:
        """Put every original back (where nobody replaced our wrapper since)."""
        self.flush()
        with self.lock:
            if not self.tracking:
                return
            jr = compat.loaded_module("jax.random")
            for name, wrapper in self._wrappers.items():
                if jr is not None and getattr(jr, name, None) is wrapper:
                    setattr(jr, name, self._originals[name])
            self._wrappers.clear()
            self._originals.clear()
            for module, attr, original, proxy in self._proxies:
                if getattr(module, attr, None) is proxy:
                    setattr(module, attr, original)
            self._proxies.clear()
            for cell, original, wrapper in self._cells:
                if cell.cell_contents is wrapper:
                    cell.cell_contents = original
            self._cells.clear()
            if self._stream_wrapper is not None:
                rnglib = compat.loaded_module("flax.nnx.rnglib")
                cls = getattr(rnglib, "RngStream", None)
                if cls is not None and cls.__dict__.get("__call__") is self._stream_wrapper:
                    cls.__call__ = self._stream_original
                self._stream_wrapper = self._stream_original = None
            if self.jit_calls:
                self._set_jit_calls(False)
            collector = compilelib.collector()
            collector.remove_jaxpr_listener(self._on_jaxpr)
            collector.detach(_no_sink)
            self.tracking = False
            self.run_of = None  # no reference to the shell once off
            self.version += 1

    def coverage(self) -> str:
        """What tracking checks and what it does not (shown in the status and the view)."""
        if not self.tracking:
            return ""
        if self.jit_calls:
            if self._pjit_wrapper is None:
                return ("jit calls: not checked — this JAX has no hook for them (jaxinspect "
                        "checks each jitted program once, when it is traced)")
            return ("jit calls: every call of a jitted function whose program consumes a key "
                    "input is checked (those calls take JAX's Python dispatch path)")
        return ("jit calls: each jitted program is checked once, when traced; the same key "
                "passed again to a compiled function is not checked (turn on with "
                "track_keys(jit_calls=True) or %jaxinspect keys on --jit-calls)")

    def _wrap_internal_callers(self) -> None:
        """``jax.nn.initializers`` (and so every Flax initialiser) calls JAX's private random
        module, not ``jax.random``: give such modules a view of it whose functions are ours.
        Feature-detected: a module without that global is left alone."""
        private = compat.loaded_module(PRIVATE_RANDOM)
        if private is None:
            return
        wrappers = {}
        for name in CREATORS + DERIVERS + SAMPLERS:
            orig = getattr(private, name, None)
            if orig is not None and callable(orig):
                wrappers[name] = self._wrap(name, orig, via="initializer")
        proxy = _ModuleView(private, wrappers)
        for modname in INTERNAL_CALLERS:
            module = compat.loaded_module(modname)
            if module is None:
                continue
            for attr, value in list(vars(module).items()):
                if value is private:
                    setattr(module, attr, proxy)
                    self._proxies.append((module, attr, private, proxy))

    # -- jit calls (opt-in) ----------------------------------------------------------------------
    def _set_jit_calls(self, on: bool) -> None:
        """Hook JAX's Python dispatch path (``pjit._run_python_pjit``, private: feature-detected)
        so a call whose program consumes a key input records a use of that key, and keep those
        calls off the C++ fast path (returning no executable for its cache, as JAX's own
        ``jax_debug_key_reuse`` does). Turning it on clears the C++ dispatch caches (not the
        compiled programs) so functions already called come through once more."""
        pjit = compat.loaded_module("jax._src.pjit")
        orig = getattr(pjit, "_run_python_pjit", None) if pjit is not None else None
        if orig is not None and orig is not self._pjit_wrapper and not _has_params(
            orig, ("p", "args_flat", "fun", "args", "kwargs")
        ):
            orig = None  # a JAX whose dispatch path we do not know: say so, wrap nothing
        if on:
            self.jit_calls = True
            if orig is None or self._pjit_wrapper is not None:
                return
            wrapper = self._wrap_jit_calls(orig)
            self._pjit_original, self._pjit_wrapper = orig, wrapper
            pjit._run_python_pjit = wrapper
            for name in ("_cpp_pjit_cache_fun_only", "_cpp_pjit_cache_explicit_attributes"):
                cache = getattr(pjit, name, None)
                try:
                    cache.clear()
                except Exception:  # noqa: BLE001 - an older JAX: new calls only
                    pass
        else:
            self.jit_calls = False
            if self._pjit_wrapper is not None and orig is self._pjit_wrapper:
                pjit._run_python_pjit = self._pjit_original
            self._pjit_original = self._pjit_wrapper = None

    def _wrap_jit_calls(self, orig: Any) -> Any:
        tracker = self
        record, unrecord = self._record, self._unrecord

        def _run_python_pjit(p: Any, args_flat: Any, fun: Any, args: Any, kwargs: Any) -> Any:
            if not (tracker.tracking and tracker.jit_calls):
                return orig(p, args_flat, fun, args, kwargs)
            entries = []
            try:
                consumed, name = tracker._consumed_key_inputs(p, fun)
                for i in consumed:
                    if i < len(args_flat):
                        entries.append(record("use", name, args_flat[i]))
            except (errors.UserFacingError, errors.KeyReuseWarning) as exc:
                exc.with_traceback(None)
                raise
            except Exception as exc:  # noqa: BLE001
                errors.record("keyslib.jit_calls", exc)
                consumed = ()
            try:
                out = orig(p, args_flat, fun, args, kwargs)
            except BaseException as exc:
                for entry in reversed(entries):
                    unrecord(entry)
                _drop_own_frame(exc)
                raise
            if consumed and isinstance(out, tuple) and len(out) > 5 and hasattr(out[5], "xla_executable"):
                out = (*out[:5], None, *out[6:])  # no executable: the next call comes back here
            return out

        functools.update_wrapper(_run_python_pjit, orig)
        _run_python_pjit.__jaxinspect_keys__ = True  # type: ignore[attr-defined]
        return _run_python_pjit

    def _consumed_key_inputs(self, p: Any, fun: Any) -> tuple[tuple[int, ...], str]:
        """(indices of the flat inputs the program consumes as keys, "jit <name>"), from the
        key flow of its jaxpr; cached per program. JAX's own jitted helpers (the samplers'
        ``_normal`` …) consume nothing here: the eager wrappers record those uses."""
        params = getattr(p, "params", None) or {}
        jaxpr = params.get("jaxpr")
        if jaxpr is None:
            return (), "jit ?"
        try:
            hit = self._consumed_inputs.get(jaxpr)
        except TypeError:
            hit = None
        if hit is not None:
            return hit
        from . import keyflow  # noqa: PLC0415

        _key, name, _where, internal = compilelib.function_identity(fun)
        inner = getattr(jaxpr, "jaxpr", jaxpr)
        consumed: tuple[int, ...] = ()
        if not internal and any(keyflow.keyish(v.aval) for v in inner.invars):
            consumed = keyflow.consumed_inputs(jaxpr)
        hit = (consumed, f"jit {name}")
        try:
            self._consumed_inputs[jaxpr] = hit
        except TypeError:
            pass
        return hit

    def _wrap(self, name: str, orig: Any, via: str | None = None) -> Any:
        """A wrapper recording ``name``'s keys. No jaxinspect frame stays in a traceback: a
        reuse raised in ``on_reuse="error"`` mode is re-raised with no traceback of ours, and
        JAX's own error (``fold_in(key, 2**40)``) loses this frame (a bare ``raise`` after
        ``with_traceback`` adds no frame), so the last line shown is the user's."""
        tracker = self
        record, unrecord = self._record, self._unrecord
        op = f"{name} ({via})" if via else name
        if name in SAMPLERS:

            def sampler(*args: Any, **kwargs: Any) -> Any:
                if not tracker.tracking:
                    return orig(*args, **kwargs)
                try:
                    entry = record("use", op, args[0] if args else kwargs.get("key"))
                except (errors.UserFacingError, errors.KeyReuseWarning) as exc:
                    exc.with_traceback(None)
                    raise
                try:
                    return orig(*args, **kwargs)
                except BaseException as exc:
                    unrecord(entry)  # JAX refused the call: nothing was drawn
                    _drop_own_frame(exc)
                    raise

            wrapper = sampler
        elif name == "split":

            def split(key: Any, num: Any = 2, *args: Any, **kwargs: Any) -> Any:
                try:
                    out = orig(key, num, *args, **kwargs)
                except BaseException as exc:
                    _drop_own_frame(exc)
                    raise
                if tracker.tracking:
                    try:
                        record("split", op, key, out)
                    except (errors.UserFacingError, errors.KeyReuseWarning) as exc:
                        exc.with_traceback(None)
                        raise
                return out

            wrapper = split
        elif name == "fold_in":

            def fold_in(key: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    out = orig(key, data, *args, **kwargs)
                except BaseException as exc:
                    _drop_own_frame(exc)
                    raise
                if tracker.tracking:
                    try:
                        record("derive", "fold_in", key, out, data, tracker._tls.stream)
                    except (errors.UserFacingError, errors.KeyReuseWarning) as exc:
                        exc.with_traceback(None)
                        raise
                return out

            wrapper = fold_in
        elif name == "clone":

            def clone(key: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    out = orig(key, *args, **kwargs)
                except BaseException as exc:
                    _drop_own_frame(exc)
                    raise
                if tracker.tracking:
                    record("clone", "clone", key)
                return out

            wrapper = clone
        else:  # key, PRNGKey, wrap_key_data

            def create(*args: Any, **kwargs: Any) -> Any:
                try:
                    out = orig(*args, **kwargs)
                except BaseException as exc:
                    _drop_own_frame(exc)
                    raise
                if tracker.tracking:
                    # the run is read now: events are processed later, maybe after the cell
                    record("create", name, args[0] if args else None, out, tracker._run_id())
                return out

            wrapper = create
        functools.update_wrapper(wrapper, orig)
        wrapper.__jaxinspect_original__ = orig  # type: ignore[attr-defined]
        return wrapper

    def _wrap_streams(self) -> None:
        """Name NNX ``Rngs`` streams: keys their ``__call__`` folds get the stream's tag."""
        rnglib = compat.loaded_module("flax.nnx.rnglib")
        cls = getattr(rnglib, "RngStream", None)
        orig = cls.__dict__.get("__call__") if cls is not None else None
        if orig is None or self._stream_wrapper is not None:
            return
        tls = self._tls

        def __call__(stream: Any) -> Any:  # noqa: N807
            prev = tls.stream
            try:
                tls.stream = str(getattr(stream, "tag", "") or "stream")
            except Exception:  # noqa: BLE001
                tls.stream = "stream"
            try:
                return orig(stream)
            finally:
                tls.stream = prev

        functools.update_wrapper(__call__, orig)
        self._stream_original, self._stream_wrapper = orig, __call__
        cls.__call__ = __call__
        self._wrap_rngs_methods(rnglib)

    def _wrap_rngs_methods(self, rnglib: Any) -> None:
        """NNX's shortcut samplers (``rngs.normal(shape)``, ``rngs.params.uniform(…)``) hold the
        ``jax.random`` function they were made from in a closure, taken at import: point those
        closures at our wrappers (feature-detected by the helper's name and its one cell), so
        their draws are uses too. ``stop()`` points them back."""
        originals = {id(f): name for name, f in self._originals.items()}
        for cls_name in ("Rngs", "RngStream"):
            cls = getattr(rnglib, cls_name, None)
            for value in vars(cls).values() if cls is not None else ():
                code = getattr(value, "__code__", None)
                cells = getattr(value, "__closure__", None) or ()
                if code is None or code.co_name != "rngs_random_method" or len(cells) != 1:
                    continue
                try:
                    name = originals.get(id(cells[0].cell_contents))
                    if name is not None and name in self._wrappers:
                        cells[0].cell_contents = self._wrappers[name]
                        self._cells.append((cells[0], self._originals[name], self._wrappers[name]))
                except (ValueError, AttributeError):  # an empty cell: not the helper we know
                    continue

    # -- recording (the user's thread: cheap, no device sync) -----------------------------------
    def _record(self, kind: str, op: str, key: Any, out: Any = None, data: Any = None,
                stream: str | None = None) -> tuple | None:  # fmt: skip
        """Queue one event with its call site; ``flush`` reads the keys' bits for a whole batch
        with one device→host copy, so the loop never waits on a key's computation. In
        ``on_reuse="error"`` mode events are processed at once, so a reuse raises before it
        runs. A bookkeeping failure is recorded, never raised."""
        try:
            tracer = self._jax_tracer
            if isinstance(key, tracer) or isinstance(out, tracer):
                return None  # inside jit / vmap: checked statically from the traced jaxpr
            if self._stream_wrapper is None and "flax.nnx.rnglib" in sys.modules:
                self._wrap_streams()  # flax imported after tracking started
            frame = self._user_frame()
            where = (frame.f_code, frame.f_lineno) if frame is not None else None
            entry = (kind, op, key, out, data, stream, where)
            queue = self._queue
            queue.append(entry)
            if self.on_reuse == "error" or (self.on_reuse == "warn" and self._warnings_raise()):
                self.flush()  # a reuse raises here, at the user's line
            elif len(queue) >= QUEUE or time.monotonic() > self._flush_due:
                self.flush(wait=False)
            return entry
        except (errors.UserFacingError, errors.KeyReuseWarning):
            raise  # asked for: on_reuse="error", or a warnings filter set to "error"
        except Exception as exc:  # noqa: BLE001
            errors.record("keyslib", exc)
            return None

    def _unrecord(self, entry: tuple | None) -> None:
        queue = self._queue
        if entry is not None and queue and queue[-1] is entry:
            queue.pop()

    def flush(self, wait: bool = True) -> None:
        """Process the queued events in order (any thread). ``wait=False`` processes only the
        events whose keys are already computed and leaves the rest queued, so the training loop
        never waits on a computation it dispatched asynchronously. Never raises, except a reuse
        the user asked to raise."""
        self._flush_due = time.monotonic() + FLUSH_EVERY
        if not self._queue:
            return
        with self.lock:
            queue, self._queue = self._queue, []
            if not queue:
                return
            try:
                fetch = []
                append = fetch.append
                for kind, _op, key, out, data, _stream, _where in queue:
                    append(_key_data(key) if kind != "create" else None)
                    append(None if out is None else _key_data(out))
                    append(data if kind == "derive" and hasattr(data, "dtype") else None)
                ready = len(queue)
                if not wait and len(queue) < QUEUE_MAX and not _all_ready(fetch):
                    for i, a in enumerate(fetch):
                        if a is not None and not _is_ready(a):
                            ready = i // 3
                            break
                if ready < len(queue):
                    self._queue[:0] = queue[ready:]  # still computing: next time
                    queue, fetch = queue[:ready], fetch[: 3 * ready]
                if self._async_copy:
                    for a in fetch:  # start every copy first (overlapping on accelerators) ...
                        if a is not None and hasattr(a, "copy_to_host_async"):
                            a.copy_to_host_async()
                asarray = np.asarray
                host = [None if a is None else asarray(a) for a in fetch]  # ... then collect
            except Exception as exc:  # noqa: BLE001
                errors.record("keyslib.flush", exc)
                return
            del fetch
            process = self._process
            for i, (kind, op, key, out, data, stream, where) in enumerate(queue):
                try:
                    process(kind, op, key, out, data, stream, where, host[3 * i : 3 * i + 3])
                except (errors.UserFacingError, errors.KeyReuseWarning):
                    self._queue[:0] = queue[i + 1 :]  # the rest is processed next time
                    self.version += 1
                    raise
                except Exception as exc:  # noqa: BLE001
                    errors.record("keyslib", exc)
            if len(self.nodes) > self.max_nodes:
                self._evict()
            self.version += 1

    def _process(self, kind, op, key, out, data, stream, where, host) -> None:
        site = self._sites.get(where) if where is not None else None
        if site is None:
            site = self._site_text(where)
        self._event_where = where
        h = host[0]
        if kind == "use" and h is not None and h.ndim == 1 and (h.dtype is _U32 or h.dtype == _U32):
            # the common case, one key drawn from: no lists, one lookup
            if h.shape[0] in (2, 4) or _typed(key):
                self._use_one(op, h.tobytes(), _typed(key), site)
            return
        if kind == "split" and h is not None and h.ndim == 1 and (h.dtype is _U32 or h.dtype == _U32) and host[1] is not None:
            typed = _typed(key)
            if typed or h.shape[0] in (2, 4):
                self._split_one(h.tobytes(), typed, host[1], _typed(out), site)
                return
        key_bits = _fingerprints(h, _typed(key)) if h is not None else None
        if kind == "use":
            if key_bits:
                self._use(op, key_bits, site)
        elif kind == "create":
            out_bits = _fingerprints(host[1], _typed(out)) if host[1] is not None else None
            if out_bits:
                self._create(op, out_bits, key, site, data)
        elif kind == "split":
            if key_bits and len(key_bits[0]) == 1:
                self._split(key_bits, site)  # a reuse raises here, before the parts exist
                out_bits = _fingerprints(host[1], _typed(out)) if host[1] is not None else None
                if out_bits:
                    self._derive("split", key_bits, out_bits, None, stream, site)
        elif kind == "derive":
            out_bits = _fingerprints(host[1], _typed(out)) if host[1] is not None else None
            if key_bits and out_bits and len(key_bits[0]) == 1:
                value = host[2] if host[2] is not None else data
                self._derive(op, key_bits, out_bits, value, stream, site)
        elif kind == "clone":
            if key_bits and len(key_bits[0]) == 1:
                node = self._node_for(key_bits[0][0], key_bits[1], site)
                node.allowed += 1
                if not node.label.endswith("(cloned)"):
                    node.label += " (cloned)"

    def _site_text(self, where: tuple | None) -> str | None:
        """``cell [3] line 5 (fn)`` or ``pkg/file.py:12 (fn)`` for a recorded (code, line)."""
        if where is None:
            return None
        text = self._sites.get(where)
        if text is None:
            code, line = where
            place = self._user_files.get(code.co_filename) or self._where(code.co_filename)
            loc = compilelib.locate(code.co_filename, line, self.cell_of) if place else None
            if loc is not None:
                text = compilelib.site_text(loc, code.co_name)  # "cell [3] line 5 (fn)"
            else:
                text = f"{place}:{line}"
                if code.co_name != "<module>":
                    text = f"{text} ({code.co_name})"
            if len(self._sites) > 4096:
                self._sites.clear()
            self._sites[where] = text
        return text

    def _user_frame(self) -> Any:
        """The first frame outside JAX, jaxinspect and site-packages calling us."""
        frame = sys._getframe(2)
        files = self._user_files
        while frame is not None:
            filename = frame.f_code.co_filename
            where = files.get(filename, "")
            if where == "":
                where = self._where(filename)
                if len(files) > 4096:
                    files.clear()
                files[filename] = where
            if where is not None:
                return frame
            frame = frame.f_back
        return None

    def _where(self, filename: str) -> str | None:
        if filename.startswith(("<string", "<%")) or not compilelib.is_user_file(filename):
            return None  # "<%jaxpr>": a magic evaluating its argument; the cell calling it is next
        return compilelib.place(filename, self.cell_of)

    # -- the lineage (under the lock) ----------------------------------------------------------
    def _new(self, parent: _Node | None, op: str, label: str, typed: bool, site, fp) -> _Node:
        node = _make(self._free, next(self.ids), parent.id if parent else None, op, label, typed, site, fp)
        self.nodes[node.id] = node
        self.by_fp[fp] = node
        if parent is not None:
            parent.children += 1
        if len(self.nodes) > self.max_nodes + (self.max_nodes >> 3):
            self._evict()  # in batches; exact again at the end of each flush
        return node

    def _evict(self) -> None:
        free = self._free
        while len(self.nodes) > self.max_nodes:
            _nid, old = self.nodes.popitem(last=False)
            if self.by_fp.get(old.fp) is old:
                del self.by_fp[old.fp]
            parent = self.nodes.get(old.parent) if old.parent is not None else None
            if parent is not None:
                parent.children -= 1
            self.summarised += 1
            if len(free) < self.max_nodes:
                free.append(old)  # nothing else refers to it: reused by the next key

    def _node_for(self, fp: bytes, typed: bool, site) -> _Node:
        """The node of a key's bits; a key first seen here (made before tracking, or returned by
        a jitted function) becomes a root of unknown origin."""
        node = self.by_fp.get(fp)
        if node is None:
            node = self._new(None, "seen", "key of unknown origin", typed, site, fp)
            self.created += 1
        return node

    def _create(self, op: str, bits: tuple, seed: Any, site, run: Any) -> None:
        fps, typed = bits
        label = f"{op}({seed})" if isinstance(seed, int) and op != "wrap_key_data" else f"{op}()"
        for i, fp in enumerate(fps):
            known = self.by_fp.get(fp)
            if known is not None and op == "wrap_key_data":
                continue  # the same bits as a key we know: the same key, typed now
            if known is not None and known.parent is None and known.run == run:
                # made again from the same seed in the same run: the same key (module docstring)
                known.remade += 1
                if known.remade_at is None:
                    known.remade_at = site
                continue
            node = self._new(None, op, label if len(fps) == 1 else f"{label}[{i}]", typed, site, fp)
            node.run = run
            self.created += 1

    def _split_one(self, pfp: bytes, typed: bool, out: Any, out_typed: bool, site) -> None:
        """``_split`` + ``_derive("split")`` for one key split into ``out`` (host data)."""
        by_fp = self.by_fp
        parent = by_fp.get(pfp)
        if parent is None:
            parent = self._node_for(pfp, typed, site)
        if parent.uses + (1 if parent.split_at else 0) >= parent.allowed:
            first = parent.split_at or parent.first_use or ("?", None)
            how = "split twice" if parent.split_at else "consumed then split"
            self._reuse(how, parent, first, ("split", site))  # raises here in "error" mode
        if parent.split_at is None:
            parent.split_at = self._split_at(site)
        if out.dtype != _U32 or out.ndim == 0 or (not out_typed and out.shape[-1] not in (2, 4)):
            return
        width = out.shape[-1] * 4
        raw = out.tobytes()
        n = min(len(raw) // width, MAX_ELEMENTS)
        pid = parent.id
        nodes, ids, free = self.nodes, self.ids, self._free
        made = 0
        for i in range(n):
            fp = raw[i * width : (i + 1) * width]
            known = by_fp.get(fp)
            if known is not None and known.parent == pid:
                continue  # derived again from the same key: the same key as before
            node = _make(free, next(ids), pid, "split", f"split[{i}] of #{pid}", out_typed, site, fp)
            nodes[node.id] = node
            by_fp[fp] = node
            made += 1
        parent.children += made
        self.derived += made
        if len(nodes) > self.max_nodes + (self.max_nodes >> 3):
            self._evict()

    def _split(self, bits: tuple, site) -> None:
        node = self._node_for(bits[0][0], bits[1], site)
        if node.spent():
            first = node.split_at or node.first_use or ("?", None)
            how = "split twice" if node.split_at else "consumed then split"
            self._reuse(how, node, first, ("split", site))
        if node.split_at is None:
            node.split_at = self._split_at(site)

    def _derive(self, op: str, key_bits: tuple, out_bits: tuple, data: Any, stream, site) -> None:
        parent = self._node_for(key_bits[0][0], key_bits[1], site)
        fps, typed = out_bits
        if op == "fold_in":
            try:
                tag = str(int(data))
            except Exception:  # noqa: BLE001
                tag = "…"
            if stream is not None:
                op, base = f"rngs.{stream}", f"rngs.{stream}[{tag}]"
            else:
                base = f"fold_in(#{parent.id}, {tag})"
        else:
            base = f"split of #{parent.id}"
        by_fp = self.by_fp
        for i, fp in enumerate(fps):
            known = by_fp.get(fp)
            if known is not None and known.parent == parent.id:
                continue  # derived again from the same key (same data): the same key as before
            # else new, or the same bits under a root made again (a re-run cell): a fresh key
            label = base if op != "split" else f"split[{i}] of #{parent.id}"
            self._new(parent, op, label, typed, site, fp)
            self.derived += 1

    # Per-(op, site) tuples shared by every node they describe: a training loop allocates no
    # new container per key, so the cyclic GC (whose full collections walk all of JAX's
    # objects) runs no more often than without tracking.
    def _first_use(self, op: str, site) -> tuple[tuple, tuple[str, ...]]:
        hit = self._use_cache.get((op, site))
        if hit is None:
            if len(self._use_cache) > 4096:
                self._use_cache.clear()
            hit = self._use_cache[(op, site)] = ((op, site), (units.key_use(op, site),))
        return hit

    def _split_at(self, site) -> tuple:
        hit = self._split_cache.get(site)
        if hit is None:
            if len(self._split_cache) > 4096:
                self._split_cache.clear()
            hit = self._split_cache[site] = ("split", site)
        return hit

    def _use_one(self, op: str, fp: bytes, typed: bool, site) -> None:
        """``_use`` for one key (every sampler call on a single key)."""
        node = self.by_fp.get(fp)
        if node is None or node.uses + (1 if node.split_at else 0) >= node.allowed:
            self._use(op, ([fp], typed), site)
            return
        node.uses += 1
        if node.first_use is None:
            node.first_use, node.used_by = self._first_use(op, site)
        elif len(node.used_by) < USED_BY:
            node.used_by += (units.key_use(op, site),)
        self.consumed += 1
        ckey = (op, site)
        consumers = self.consumers
        n = consumers.get(ckey)
        if n is not None:
            consumers[ckey] = n + 1
        elif len(consumers) < MAX_CONSUMERS:
            consumers[ckey] = 1
        else:
            consumers[("other", None)] += 1

    def _use(self, op: str, bits: tuple, site) -> None:
        fps, typed = bits
        use = units.key_use(op, site)
        for fp in fps:
            node = self._node_for(fp, typed, site)
            if node.spent():
                if node.uses:
                    how, first = "consumed twice", node.first_use
                else:
                    how, first = "split then consumed", node.split_at
                self._reuse(how, node, first or ("?", None), (op, site))
            node.uses += 1
            if node.first_use is None:
                node.first_use, node.used_by = self._first_use(op, site)
            elif len(node.used_by) < USED_BY:
                node.used_by += (use,)
            self.consumed += 1
        ckey = (op, site)
        if ckey in self.consumers or len(self.consumers) < MAX_CONSUMERS:
            self.consumers[ckey] += len(fps)
        else:
            self.consumers[("other", None)] += len(fps)

    def _root(self, node: _Node) -> _Node:
        seen = 0
        while node.parent is not None and seen < 1000:
            parent = self.nodes.get(node.parent)
            if parent is None:
                break
            node, seen = parent, seen + 1
        return node

    def path(self, node: _Node) -> tuple[str, ...]:
        out = []
        seen = 0
        cur: _Node | None = node
        while cur is not None and seen < 1000:
            out.append(f"#{cur.id} {_shown(cur)}")
            cur = self.nodes.get(cur.parent) if cur.parent is not None else None
            seen += 1
        out.reverse()
        if len(out) > 8:  # a long training-loop chain: keep the root and the last steps
            out = [*out[:2], f"… {len(out) - 7} steps", *out[-5:]]
        return tuple(out)

    def _reuse(self, how: str, node: _Node, first: tuple, second: tuple, where: str = "eager",
               function: str | None = None, key_label: str | None = None) -> None:  # fmt: skip
        if node is not None:
            node.reused = True
        label = key_label or f"#{node.id} {node.label}"
        dedupe = (where, how, function, first, second)
        prev = self.reuses.get(dedupe)
        now = time.time()
        if prev is not None:
            count = prev.count + 1
            rec = dataclasses.replace(prev, count=count, time=now)  # derived text re-made
            self.reuses[dedupe] = rec
            if count & (count - 1) == 0 or count % 100 == 0:  # 2, 4, 8, … and every 100th
                self._emit(rec)
            return
        in_fn = f" in {function}" if function else ""
        message = (
            f"PRNG key {label}{in_fn} {how}: first {first[0]} at {first[1] or 'an unknown line'}, "
            f"then {second[0]} at {second[1] or 'an unknown line'} — both draw the same random bits"
        )
        root = self._root(node) if node is not None else None
        if root is not None and root.remade:
            message += (
                f" ({root.label} was made again from the same seed at {root.remade_at or 'an unknown line'}"
                f" in the same run: the same key)"
            )
        rec = KeyReuse(
            id=next(self.reuse_ids), time=now, where=where, reuse=how, key=label, function=function,
            first_op=first[0], first_site=first[1], second_op=second[0], second_site=second[1],
            path=self.path(node) if node is not None else (), count=1, message=message, hint=HINT,
            first_at=compilelib.located(first[1]), second_at=compilelib.located(second[1]),
        )  # fmt: skip
        self.reuses[dedupe] = rec
        if node is not None:
            self.reuse_nodes[node.id] = rec.id
            if len(self.reuse_nodes) > 2 * MAX_ROWS:  # keep those still in the tree
                self.reuse_nodes = {n: r for n, r in self.reuse_nodes.items() if n in self.nodes}
        if len(self.reuses) > 1000:
            self.reuses.pop(next(iter(self.reuses)))
        self._emit(rec)
        if self.on_reuse == "error":
            raise errors.KeyReuseError(f"{message}. Fix: {HINT}")
        if self.on_reuse == "warn":
            filename, lineno, module = self._warning_place()
            # module=None given explicitly drops the warning (CPython): pass it only when known
            warnings.warn_explicit(
                f"jaxinspect: {message}. Fix: {HINT}",
                errors.KeyReuseWarning,
                filename,
                lineno,
                **({"module": module} if module else {}),
            )

    def _warnings_raise(self) -> bool:
        """Whether a warnings filter turns KeyReuseWarning into an error now (the user's
        ``warnings.simplefilter("error", KeyReuseWarning)``): then events are processed at once,
        so the error is raised at the user's line (a batched flush at the cell's end could only
        report it). Re-read only when ``warnings.filters`` changed (another list, length or
        first entry: what ``catch_warnings`` and ``simplefilter`` change)."""
        filters = warnings.filters
        n = len(filters)
        seen = self._filters_seen
        if seen and filters is seen[0] and n == seen[1] and (not n or filters[0] is seen[2]):
            return self._filters_raise
        self._filters_seen = (filters, n, filters[0] if n else None)
        action = "default"
        for action_, _msg, category, module, _line in filters:
            if issubclass(errors.KeyReuseWarning, category) and (
                module is None or module.match("__main__")
            ):
                action = action_
                break
        self._filters_raise = action == "error"
        return self._filters_raise

    def _warning_place(self) -> tuple[str, int, str | None]:
        """Where a reuse warning points: ``("cell [5]", 3, "__main__")`` for a notebook cell, so
        the printed header reads ``cell [5]:3: KeyReuseWarning: …`` (never the kernel's temp
        file) and ``filterwarnings(..., module="__main__")`` matches it as it matches the
        cell's own warnings; a file's name and line otherwise (the module derived by Python)."""
        where = self._event_where
        if where is None:
            return "jaxinspect", 0, None
        code, line = where
        loc = compilelib.locate(code.co_filename, line, self.cell_of)
        if loc is not None and loc.cell is not None:
            return f"cell [{loc.cell}]", line, "__main__"
        return code.co_filename, line, None

    def _emit(self, rec: KeyReuse) -> None:
        for sink in list(self.sinks):
            try:
                sink(rec)
            except Exception as exc:  # noqa: BLE001
                errors.record("keyslib.sink", exc)

    # -- jit: read the key flow from each traced program ----------------------------------------
    def _on_jaxpr(self, fun: Any, jaxpr: Any) -> None:
        if not self.tracking:
            return
        try:
            if jaxpr in self._analyzed:
                return
            self._analyzed.add(jaxpr)
        except TypeError:
            pass
        from . import jaxprlib, keyflow  # noqa: PLC0415 - user thread, inside jit's trace

        if self._source_of is None:
            self._source_of = jaxprlib.source_namer(self.cell_of)
        if not keyflow.has_keys(jaxpr):
            return  # no key in, out or used: nothing to follow
        debug = getattr(getattr(jaxpr, "jaxpr", jaxpr), "debug_info", None)
        labels = tuple(getattr(debug, "arg_names", None) or ())
        flow = keyflow.analyze(jaxpr, self._source_of, labels)
        if flow is None or not flow.findings:
            return
        _key, name, _where, _internal = compilelib.function_identity(fun)
        frame = self._user_frame()  # the call that made jit trace: where the warning points
        with self.lock:
            self._event_where = (frame.f_code, frame.f_lineno) if frame is not None else None
            for f in flow.findings:
                self._reuse(f.reuse, None, (f.first_op, f.first_site), (f.second_op, f.second_site),
                            where="jit", function=name, key_label=f"`{f.key}`")  # fmt: skip
            self.version += 1

    # -- snapshot ------------------------------------------------------------------------------
    def snapshot(self, seq: int = 0, max_rows: int = MAX_ROWS) -> KeysRecord:
        self.flush()
        with self.lock:
            rows, more = self._layout(max_rows)
            consumers = tuple(
                KeyCount(name=op, site=site, count=n) for (op, site), n in self.consumers.most_common(20)
            )
            notes = []
            if self.summarised:
                notes.append(f"{self.summarised:,} older keys are summarised (counted, not shown)")
            if self.tracking:
                notes.append(self.coverage())
            note = "; ".join(notes) or None
            return KeysRecord(
                seq=seq, time=time.time(), tracking=self.tracking, on_reuse=self.on_reuse,
                created=self.created, derived=self.derived, consumed=self.consumed,
                reuses=sum(r.count for r in self.reuses.values()), summarised=self.summarised,
                nodes=rows, more_nodes=more, consumers=consumers, note=note,
                places=self._places(rows, consumers),
            )  # fmt: skip

    @staticmethod
    def _places(rows: tuple[KeyNodeRecord, ...], consumers: tuple[KeyCount, ...]) -> dict[str, Any]:
        """Each site shown (rows, consumers) -> its Location, once per site (many keys share a
        few lines): the sidebar links them to their cells."""
        places: dict[str, Any] = {}
        for site in itertools.chain((n.site for n in rows), (c.site for c in consumers)):
            if site and site not in places:
                loc = compilelib.located(site)
                if loc is not None:
                    places[site] = loc
        return places

    def _layout(self, max_rows: int) -> tuple[tuple[KeyNodeRecord, ...], int]:
        """The newest keys (and keys with a reuse) with their ancestors, in pre-order; a node
        whose only child with descendants continues a chain is followed at the same depth."""
        nodes = self.nodes
        wanted = list(itertools.islice(reversed(nodes), max_rows))
        wanted += [nid for nid in self.reuse_nodes if nid in nodes]
        shown: set[int] = set()
        for nid in wanted:
            while nid is not None and nid not in shown and nid in nodes:
                shown.add(nid)
                nid = nodes[nid].parent
        kids: dict[int, list[int]] = {}
        roots = []
        for nid in sorted(shown):
            parent = nodes[nid].parent
            if parent is not None and parent in shown:
                kids.setdefault(parent, []).append(nid)
            else:
                roots.append(nid)
        rows: list[KeyNodeRecord] = []
        stack = [(nid, 0) for nid in reversed(roots)]
        while stack and len(rows) < max_rows:
            nid, depth = stack.pop()
            node = nodes[nid]
            children = kids.get(nid, [])
            rows.append(
                KeyNodeRecord(
                    id=nid, parent=node.parent, depth=depth, op=node.op,
                    label=_shown(node),
                    typed=node.typed, site=node.site, state=node.state(), uses=node.uses,
                    used_by=tuple(node.used_by), folded=max(0, node.children - len(children)),
                )  # fmt: skip
            )
            leaves = [c for c in children if c not in kids]
            branches = [c for c in children if c in kids]
            follow = depth if len(branches) == 1 else depth + 1
            stack.extend((c, follow) for c in reversed(branches))
            stack.extend((c, depth + 1) for c in reversed(leaves))
        return tuple(rows), len(nodes) - len(rows)


def _key_data(x: Any) -> Any:
    """The uint32 data behind a typed key array, a raw key array itself, or None."""
    base = getattr(x, "_base_array", None)
    if base is not None:
        return base
    return x if getattr(x, "dtype", None) == np.uint32 and getattr(x, "ndim", 0) >= 1 else None


def _all_ready(fetch: list) -> bool:
    """The newest key computed: then, almost always, every earlier one too (one check per
    batch instead of one per key; a wrong guess only makes the host copy wait)."""
    for a in reversed(fetch):
        if a is not None:
            return _is_ready(a)
    return True


def _is_ready(a: Any) -> bool:
    try:
        return bool(a.is_ready())
    except Exception:  # noqa: BLE001 - numpy data, or an API without is_ready
        return True


def _typed(x: Any) -> bool:
    return getattr(x, "_base_array", None) is not None


def _fingerprints(arr: Any, typed: bool) -> tuple[list[bytes], bool] | None:
    """The bits of each key in a host copy of key data (shape [..., 2] or [..., 4])."""
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if arr.dtype != np.uint32 or arr.ndim == 0 or (not typed and arr.shape[-1] not in (2, 4)):
        return None
    if arr.ndim == 1:
        return [arr.tobytes()], typed
    rows = arr.reshape(-1, arr.shape[-1])
    return [rows[i].tobytes() for i in range(min(len(rows), MAX_ELEMENTS))], typed


def _no_sink(_event: Any) -> None:
    pass


def _has_params(fn: Any, names: tuple[str, ...]) -> bool:
    try:
        import inspect  # noqa: PLC0415

        return tuple(inspect.signature(fn).parameters) == names
    except (TypeError, ValueError):
        return False


def _make(free: list, *args: Any) -> _Node:
    """A node for a new key: a forgotten one re-initialised in place when there is one. A
    training loop then allocates no object per key once ``max_nodes`` keys were seen, so the
    cyclic GC — whose full collections walk all of JAX's objects (~80 ms seen) — is not run more
    often by tracking."""
    if free:
        node = free.pop()
        node.__init__(*args)
        return node
    return _Node(*args)


def _shown(node: _Node) -> str:
    """A node's label as shown: a root made again in its run says how often it was made."""
    return f"{node.label} (made {node.remade + 1}×)" if node.remade else node.label


def _drop_own_frame(exc: BaseException) -> None:
    """Drop the head of ``exc``'s traceback: the frame of ours that caught it (call from an
    ``except`` block, then ``raise``)."""
    tb = exc.__traceback__
    if tb is not None:
        exc.with_traceback(tb.tb_next)


class _ModuleView(types.ModuleType):
    """Stands in for a module inside the modules that call it directly: our wrappers for the
    names we track, the module itself for everything else."""

    def __init__(self, module: types.ModuleType, wrappers: dict[str, Any]) -> None:
        super().__init__(module.__name__, module.__doc__)
        self.__dict__.update(wrappers)
        self.__dict__["_jaxinspect_module"] = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_jaxinspect_module"], name)


_excluded = False


def _register_exclusions() -> None:
    """Hide this module's frames (and keyflow's) from tracebacks the way JAX hides its own:
    an error raised through a JAX API boundary (e.g. a jitted call tracing while we listen)
    shows no jaxinspect frame. Private API: feature-detected."""
    global _excluded
    if _excluded:
        return
    _excluded = True
    util = compat.loaded_module("jax._src.traceback_util")
    register = getattr(util, "register_exclusion", None)
    if register is None:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("keyslib.py", "keyflow.py"):
        try:
            register(os.path.join(here, name))
        except Exception as exc:  # noqa: BLE001
            errors.record("keyslib.exclusions", exc)


_tracker: KeyTracker | None = None
_tracker_lock = threading.Lock()


def tracker() -> KeyTracker:
    """The process-wide key tracker."""
    global _tracker
    with _tracker_lock:
        if _tracker is None:
            _tracker = KeyTracker()
        return _tracker
