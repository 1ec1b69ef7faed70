"""Parameter trees: the leaves of a Flax linen/NNX model, optimizer or any pytree, with their
variable kind, and per-leaf statistics computed on device in one batched call."""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

from .. import errors
from ..config import config
from ..records import ParamAlert, ParamLayer, ParamLeaf, ParamStats, ParamWatchRecord
from . import compat, compilelib

STAT_FIELDS = ("mean", "std", "min", "max", "norm", "zeros", "nan", "inf")


def _variable_type() -> Any:
    nnx = compat.loaded_module("flax.nnx")
    return getattr(nnx, "Variable", None) if nnx is not None else None


def _value_of(var: Any) -> Any:
    getter = getattr(var, "get_value", None)
    if callable(getter):
        return getter()
    return getattr(var, "value", var)


def _raw_value(var: Any) -> Any:
    """A Variable's array, the fast way (``get_raw_value`` is ~0.1 µs, ``get_value`` ~10 µs);
    anything that is not a plain array (a mutable array ref) the documented way."""
    getter = getattr(var, "get_raw_value", None)
    if getter is not None:
        raw = getter()
        if hasattr(raw, "is_deleted"):
            return raw
    return _value_of(var)


def _sharding(x: Any) -> str | None:
    if "Tracer" in type(x).__name__:
        return None
    sharding = getattr(x, "sharding", None)
    if sharding is None:
        return None
    spec = getattr(sharding, "spec", None)
    if spec is not None and getattr(sharding, "mesh", None) is not None:
        return f"{spec}"
    devices = getattr(sharding, "device_set", ())
    return "single device" if len(devices) == 1 else f"{len(devices)} devices"


def _linen_kind(path: tuple[str, ...]) -> str | None:
    """Linen collections: the top-level key of a variables dict ("params", "batch_stats")."""
    if path and path[0] in ("params", "batch_stats", "cache", "intermediates", "state"):
        return {"params": "Param", "batch_stats": "BatchStat"}.get(path[0], path[0])
    return None


def leaves(tree: Any) -> tuple[list[ParamLeaf], list[Any]]:
    """(leaf records, the matching arrays) of any pytree; NNX variables keep their kind."""
    import jax

    variable = _variable_type()
    is_leaf = (lambda v: isinstance(v, variable)) if variable is not None else None
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)
    records: list[ParamLeaf] = []
    arrays: list[Any] = []
    for path, leaf in flat:
        kind = None
        value = leaf
        if variable is not None and isinstance(leaf, variable):
            kind = type(leaf).__name__
            value = _value_of(leaf)
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            continue  # Python numbers, strings, None: not parameters
        components = tuple(_key_text(k) for k in path)
        if kind is None:
            kind = _linen_kind(tuple(c.strip("[]'\".") for c in components)) or "leaf"
        shape = tuple(getattr(value, "shape", ()) or ())
        dtype = getattr(value, "dtype", None)
        dtype_name = getattr(dtype, "name", str(dtype)) if dtype is not None else type(value).__name__
        size = 1
        for d in shape:
            size *= int(d)
        itemsize = int(getattr(dtype, "itemsize", 0) or 0)
        records.append(
            ParamLeaf(
                path="".join(components) or "(root)",
                components=components,
                kind=kind,
                shape=shape,
                dtype=dtype_name,
                size=size,
                bytes=size * itemsize,
                sharding=_sharding(value),
            )
        )
        arrays.append(value)
    return records, arrays


def _path_text(path: tuple) -> str:
    """A leaf's path as the Params views write it; an NNX Variable's own ``.value`` is left
    out (``['head']['kernel']``, as ``leaves()`` names it)."""
    parts = [_key_text(k) for k in path]
    while parts and parts[-1] in (".value", ".raw_value", "._value"):
        parts.pop()
    return "".join(parts) or "(root)"


def _seconds(s: float | None) -> str:
    if s is None:
        return "?"
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _counts(nan: int, inf: int) -> str:
    parts = [f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else ""]
    return ", ".join(p for p in parts if p)


def _key_text(key: Any) -> str:
    import jax

    return jax.tree_util.keystr((key,))


def _numeric(x: Any) -> bool:
    import jax.numpy as jnp

    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        return False
    try:
        return bool(jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_))
    except TypeError:  # PRNG key dtypes
        return False


_stats_fns: dict[str, Any] = {}


def _leaf_stats():
    """One jitted function per leaf; jit compiles it once per distinct shape and dtype (a
    model has a handful), never one giant program over thousands of leaves."""
    fn = _stats_fns.get("leaf")
    if fn is None:
        import jax
        import jax.numpy as jnp

        def one(x):
            x = x.astype(jnp.float32)
            finite = jnp.isfinite(x)
            n = jnp.maximum(x.size, 1)
            safe = jnp.where(finite, x, 0.0)
            count = jnp.maximum(finite.sum(), 1)
            mean = safe.sum() / count
            var = jnp.where(finite, (x - mean) ** 2, 0.0).sum() / count
            big = jnp.finfo(jnp.float32).max
            return jnp.stack(
                [
                    mean,
                    jnp.sqrt(var),
                    jnp.where(finite, x, big).min(),
                    jnp.where(finite, x, -big).max(),
                    jnp.sqrt((safe**2).sum()),
                    (x == 0).sum() / n,
                    jnp.isnan(x).sum().astype(jnp.float32),
                    jnp.isinf(x).sum().astype(jnp.float32),
                ]
            )

        fn = _stats_fns["leaf"] = jax.jit(one)
        _stats_fns["stack"] = jax.jit(lambda rows: jnp.stack(rows))
    return fn


def stats(arrays: list[Any]) -> list[ParamStats | None]:
    """Per-leaf mean, std, min, max, L2 norm, fraction of zeros, NaN and Inf counts, computed on
    device (asynchronous dispatches of one small jitted function), gathered into one small
    (leaves × 8) array copied to the host once. Finite values
    only for mean/std/min/max/norm. Deleted or donated leaves, and PRNG keys, give None."""
    import numpy as np

    picked = []
    for i, x in enumerate(arrays):
        try:
            if _numeric(x) and not (hasattr(x, "is_deleted") and x.is_deleted()):
                picked.append(i)
        except Exception:  # noqa: BLE001
            continue
    out: list[ParamStats | None] = [None] * len(arrays)
    if not picked:
        return out
    one = _leaf_stats()
    with compilelib.collector().quiet():
        rows = [one(arrays[i]) if arrays[i].size else _EMPTY for i in picked]
        table = np.asarray(_stack(rows))  # the only device → host copy: leaves × 8 numbers
    for row, i in zip(table, picked, strict=True):
        nan, inf = int(row[6]), int(row[7])
        size = int(getattr(arrays[i], "size", 0))
        none = nan + inf >= size  # no finite value: mean/std/min/max say nothing
        mean, std, lo, hi, norm = (None if none else float(v) for v in row[:5])
        out[i] = ParamStats(mean, std, lo, hi, None if nan or inf else norm, float(row[5]), nan, inf)
    return out


_EMPTY = None


def _stack(rows: list[Any]) -> Any:
    import jax.numpy as jnp

    zero = jnp.zeros(8, jnp.float32)
    rows = [r if r is not None else zero for r in rows]
    n = len(rows)
    chunk = 256  # every stack has exactly 256 operands (padded): compiled once, ever
    rows += [zero] * (-n % chunk)
    parts = [jnp.stack(rows[i : i + chunk]) for i in range(0, len(rows), chunk)]
    out = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
    return out[:n]


# -- watched trees: norms, NaN/Inf counts and a sketch of each leaf, for update ratios --------------

HEAD = 8  # squared norm, NaN, Inf, sum, finite count, min, max, zeros
SKETCH = 64  # buckets of the CountSketch used to estimate ‖θ_t − θ_{t−1}‖ without keeping θ_{t−1}


def _leaf_watch():
    fn = _stats_fns.get("watch")
    if fn is None:
        import jax
        import jax.numpy as jnp

        def one(x):
            x = x.astype(jnp.float32).ravel()
            finite = jnp.isfinite(x)
            safe = jnp.where(finite, x, 0.0)
            idx = jnp.arange(x.size, dtype=jnp.uint32)
            h = idx * jnp.uint32(2654435761) + jnp.uint32(0x9E3779B9)
            h = h ^ (h >> 15)
            bucket = (h % jnp.uint32(SKETCH)).astype(jnp.int32)
            sign = jnp.where((h >> 7) & 1, 1.0, -1.0).astype(jnp.float32)
            sketch = jax.ops.segment_sum(safe * sign, bucket, num_segments=SKETCH)
            big = jnp.finfo(jnp.float32).max
            head = jnp.stack(
                [
                    (safe**2).sum(),
                    jnp.isnan(x).sum().astype(jnp.float32),
                    jnp.isinf(x).sum().astype(jnp.float32),
                    safe.sum(),
                    finite.sum().astype(jnp.float32),
                    jnp.where(finite, x, big).min(),
                    jnp.where(finite, x, -big).max(),
                    (x == 0).sum().astype(jnp.float32),
                ]
            )
            return jnp.concatenate([head, sketch])

        fn = _stats_fns["watch"] = jax.jit(one)
    return fn


def compiled_variants() -> int:
    """How many shapes the sampling function has been compiled for (a sample that compiled is
    not representative of the steady cost)."""
    fn = _stats_fns.get("watch")
    size = getattr(fn, "_cache_size", None)
    try:
        return int(size()) if callable(size) else 0
    except Exception:  # noqa: BLE001
        return 0


def local_parts(arrays: list[Any]) -> list[Any]:
    """``arrays`` with each array that spans processes (``is_fully_addressable`` False: a
    global array of a multi-controller job) replaced by this process's part of it, so that
    checks and samples never start a computation across processes. Those must run in the same
    order on every process: a check thinned out on one process and not on another, or a sample
    taken on a background thread, would pair up the wrong collectives and hang the job. Several
    local shards are gathered on the first one's device (raveled)."""
    import jax

    out = []
    for x in arrays:
        if isinstance(x, jax.Array) and not getattr(x, "is_fully_addressable", True):
            if x.is_fully_replicated:
                # every copy is the whole array: one is checked in full. (``addressable_shards``
                # raises on a replicated array made by ``device_put`` across processes.)
                x = x.addressable_data(0)
            else:
                parts = _local_shards(x)
                if len(parts) == 1:
                    x = parts[0]
                else:
                    import jax.numpy as jnp

                    device = next(iter(parts[0].devices()))
                    x = jnp.concatenate([jax.device_put(s, device).ravel() for s in parts])
        out.append(x)
    return out


def spans_processes(x: Any) -> bool:
    """True for an array sharded across processes: a check here sees only this process's part
    (a replicated one is seen whole: every process holds all of it)."""
    return not getattr(x, "is_fully_addressable", True) and not getattr(x, "is_fully_replicated", True)


def _local_shards(x: Any) -> list[Any]:
    """This process's shards of a global array, as single-device arrays."""
    try:
        return [s.data for s in x.addressable_shards]
    except ValueError:  # an array whose local parts carry the global sharding (device_put)
        return [x.addressable_data(i) for i in range(len(x.sharding.addressable_devices))]


def watch_sample(arrays: list[Any]) -> Any:
    """(leaves × (HEAD + SKETCH)) host array: squared norm, NaN count, Inf count, sum, finite
    count, min, max, zero count, then a
    CountSketch of the leaf (so ‖θ_t − θ_{t−1}‖ ≈ ‖sketch_t − sketch_{t−1}‖). None when a leaf
    was deleted or donated meanwhile. Computed on device; only this small table is copied."""
    import numpy as np

    one = _leaf_watch()
    rows = []
    with compilelib.collector().quiet():
        for x in arrays:
            if hasattr(x, "is_deleted") and x.is_deleted():
                return None
            if not _numeric(x) or not getattr(x, "size", 0):
                rows.append(None)
                continue
            rows.append(one(x))
        import jax.numpy as jnp

        zero = jnp.zeros(HEAD + SKETCH, jnp.float32)
        table = _stack_rows([r if r is not None else zero for r in rows], HEAD + SKETCH)
        return np.asarray(table)


def _stack_rows(rows: list[Any], width: int) -> Any:
    import jax.numpy as jnp

    n = len(rows)
    if n == 0:
        return jnp.zeros((0, width), jnp.float32)
    zero = jnp.zeros(width, jnp.float32)
    chunk = 256
    rows = rows + [zero] * (-n % chunk)
    parts = [jnp.stack(rows[i : i + chunk]) for i in range(0, len(rows), chunk)]
    out = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
    return out[:n]


def step_arg(step: Any) -> Any:
    """What ``watch(step=...)`` keeps: an int, a device / traced integer scalar (read later, off
    the training thread), or None for anything else."""
    if isinstance(step, bool) or step is None:
        return None
    if isinstance(step, int):
        return step
    dtype = getattr(step, "dtype", None)
    if dtype is not None and getattr(step, "shape", None) == () and getattr(dtype, "kind", "") in ("i", "u"):
        return step
    return None


def _as_step(step: Any) -> int | None:
    if step is None or isinstance(step, int):
        return step
    try:
        return int(step)
    except Exception:  # noqa: BLE001 - a deleted array
        return None


class _PathsKey:
    """Stands for a treedef when leaves come from an NNX object's Variables: the plan's key
    and the leaves' paths."""

    __slots__ = ("paths", "_hash")

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        self._hash = hash(paths)  # once: a model's paths are thousands of strings

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return other is self or (isinstance(other, _PathsKey) and other.paths == self.paths)


def _tracing() -> bool:
    """Inside a jax transformation's trace (jit, vmap, grad): watch() sees tracers."""
    try:
        from jax._src import core

        return not core.trace_state_clean()
    except Exception:  # noqa: BLE001 - private API drift: flatten and look instead
        return False


class _Track:
    """Per watched name: what the exact NaN/Inf check has seen (filled on the reader thread,
    except the cost-cap fields, which the training thread owns)."""

    def __init__(self) -> None:
        # training thread
        self.calls = 0
        self.last_call: float | None = None
        self.period: float | None = None  # EMA of the time between watch() calls
        self.last_gap: float | None = None
        self.dispatch_s: float | None = None  # EMA of what a check costs the training thread
        self.tokens: float | None = None  # seconds of checking the budget allows now
        self.exec_s: float | None = None  # one run of the check on the device
        self.cost: float | None = None  # seconds one check costs (dispatch + device run)
        self.force = False
        self.skipped_latest = False  # the newest call was thinned out: check it at cell end
        self.thinned: list[Any] = []  # steps (or calls) skipped since the last check
        self.thin_n = 0  # calls thinned, and the check cost / the gap before each, summed
        self.thin_cost_s = 0.0
        self.thin_gap_s = 0.0
        self.where: tuple[str, int] | None = None  # the user's line of the latest checked call
        # reader thread
        self.checked = 0
        self.last_finite: int | None = None  # step (or call) of the last all-finite check
        self.unchecked: list[tuple[int | None, str]] = []  # (step, why) since that check
        self.unchecked_total = 0
        self.bad = False
        self.paths: list[str] | None = None
        self.first_note: str | None = None
        self.spanning = 0  # leaves sharded across processes: only this process's part is checked
        self.across = 0  # leaves that are global arrays of a multi-process job (sharded or not)


class Watcher:
    """Watched parameter trees.

    Every ``watch()`` call is checked for NaN/Inf exactly: one compiled per-leaf count per tree
    structure, dispatched asynchronously (``finitelib``) and read off-thread; the first
    non-finite call raises one ``params_alert`` naming the step, the last finite step and the
    leaves. When a check costs more than ``config.watch_budget`` of the time between calls,
    checks are thinned and the alert says which steps were not checked. ``sample()`` (sampler
    thread) turns the newest values into ``params_watch`` records (norms, update ratios): an
    overview, sampled."""

    MAX_LAYERS = 64
    MAX_LEAVES_NAMED = 8

    def __init__(self, on_alert: Any = None) -> None:
        import collections
        import threading

        from . import finitelib

        self._lock = threading.Lock()
        self._latest: dict[str, tuple[Any, int | None, Any]] = {}  # name → (value, step, resolver)
        self._seq: dict[str, int] = {}
        self._sketch: dict[str, dict[str, Any]] = {}  # name → leaf path → previous sketch
        # name → (step, update, layer path → update) of the last sample that saw a change
        self._last_updates: dict[str, tuple] = {}
        self._noted: set[str] = set()
        self._alert_id = 0
        self._tracks: dict[str, _Track] = {}
        self._treedefs: dict[str, Any] = {}
        self._variables: dict[int, Any] = {}  # id(NNX object) → (weakref, Variables, paths key)
        self.alerts: collections.deque = collections.deque(maxlen=100)
        self.on_alert = on_alert  # called with each ParamAlert (reader thread)
        # name → weak ref to f(step, alert | None), called after each check (a nan_guard)
        self.listeners: dict[str, Any] = {}
        self.units: dict[str, str] = {}  # name → what its calls are called ("call")
        self.checker = finitelib.Checker(self._on_check)
        self.history: collections.deque = collections.deque(maxlen=2000)  # records, all names

    # -- the training thread -------------------------------------------------------------------
    def watch(self, name: str, value: Any, step: Any = None, flat: Any = None) -> None:
        """``flat``: ``value``'s (leaves, treedef) when the caller has them already.

        On the training thread: the cost cap is decided first (a thinned call costs a few µs);
        a checked call flattens the tree (an NNX Module / Optimizer through its cached
        variables) and dispatches the check without waiting."""
        import time as _time

        import jax

        if _tracing() or isinstance(step, jax.core.Tracer):
            leaves, treedef = flat if flat is not None else jax.tree_util.tree_flatten(value)
            self._watch_traced(name, step, leaves, treedef)
            return
        now = _time.perf_counter()
        track = self._tracks.get(name)
        if track is None:
            track = self._tracks[name] = _Track()
        if track.last_call is not None:
            gap = track.last_gap = now - track.last_call
            track.period = gap if track.period is None else 0.8 * track.period + 0.2 * gap
        track.last_call = now
        self._latest[name] = (value, step, None)
        call = track.calls
        track.calls += 1
        if not self._affordable(track) and not track.force:
            # no queue item per skipped call (the reader would wake and take the GIL each
            # time): they travel in one note with the next check
            if len(track.thinned) < 100_000:
                track.thinned.append(step if step is not None else call)
            # what the cap saw when it thinned (the alert's reason quotes these, not the
            # averages at alert time, which can read as if the check had been affordable)
            track.thin_n += 1
            track.thin_cost_s += track.cost or 0.0
            track.thin_gap_s += track.last_gap or 0.0
            track.skipped_latest = True
            return
        track.where = compilelib.user_line()  # where an alert points (a few frames' walk)
        self._check(name, track, call, step, value, flat, now)

    def _check(self, name, track, call, step, value, flat, start) -> None:
        """Flatten ``value`` and dispatch its check; ``start``: when this call began (what the
        training thread pays is measured from there)."""
        import time as _time

        import jax

        track.force = False
        track.skipped_latest = False
        key = (name, call)
        if track.thinned:
            self.checker.skipped(key, call, None, ("thinned", track.thinned))
            track.thinned = []
        if flat is not None:
            leaves, treedef = flat
        else:
            leaves, treedef = self._fast_leaves(value)
        if any(not getattr(x, "is_fully_addressable", True) for x in leaves):
            track.across = sum(1 for x in leaves if not getattr(x, "is_fully_addressable", True))
            track.spanning = sum(1 for x in leaves if spans_processes(x))
            leaves = local_parts(leaves)  # never a computation across processes
        if any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves):
            self._latest.pop(name, None)
            if name not in self._noted:
                self._noted.add(name)
                print(f"jaxinspect: watch({name!r}, ...) got a jax.ShapeDtypeStruct: a shape with "
                      "no values to check; pass the arrays themselves", file=sys.stderr)  # fmt: skip
            return
        self._treedefs[name] = treedef
        plan = self.checker.plan(leaves, treedef)
        if plan.failed is not None:
            self.checker.skipped(key, call, step, f"the check could not be built: {plan.failed}")
            return
        if plan.compiled is None:
            self.checker.skipped(key, call, step, "the check was still compiling")
            return
        if not self.checker.submit(key, call, step, leaves, plan):
            self._variables.pop(id(value), None)  # e.g. a structure changed: look again next time
        plan.uses += 1
        if plan.uses == 1:
            return  # this call built (and maybe compiled) the check: not its steady cost
        took = _time.perf_counter() - start
        track.dispatch_s = took if track.dispatch_s is None else 0.8 * track.dispatch_s + 0.2 * took
        track.exec_s = plan.exec_s
        if track.tokens is not None:
            track.tokens -= took + (plan.exec_s or 0.0)

    def _fast_leaves(self, value: Any) -> tuple[list[Any], Any]:
        """(leaves, treedef-like key) of ``value``. NNX graph objects (Module, Optimizer) are
        read through their Variables, found once per object and kept until the end of the cell
        (``forget_structures``): flattening a 200-block Module costs ~30 ms, reading its 800
        Variables ~5 ms. Other pytrees: ``tree_flatten``."""
        import jax

        nnx = compat.loaded_module("flax.nnx")
        graph_types = tuple(t for t in (getattr(nnx, n, None) for n in ("Pytree", "Object", "Module")) if isinstance(t, type)) if nnx is not None else ()
        if graph_types and isinstance(value, graph_types):
            cached = self._variables.get(id(value))
            if cached is None or cached[0]() is not value:
                import weakref

                variable = nnx.Variable
                found = [(p, v) for p, v in nnx.iter_graph(value) if isinstance(v, variable)]
                paths = tuple("".join(f"[{k!r}]" for k in p) for p, _ in found)
                cached = (weakref.ref(value), [v for _, v in found], _PathsKey(paths))
                self._variables[id(value)] = cached
            return [_raw_value(v) for v in cached[1]], cached[2]
        return jax.tree_util.tree_flatten(value)

    def forget_structures(self) -> None:
        """Look NNX objects' Variables up again on their next watch (a cell may have changed a
        model's structure: parameter surgery)."""
        self._variables.clear()

    @staticmethod
    def _affordable(track: _Track) -> bool:
        """The cost cap, a token bucket: checking may take ``config.watch_budget`` of the time
        between calls on average (bursts of a few checks allowed). A check that costs more than
        that runs on every k-th call instead."""

        if track.dispatch_s is None:
            return True  # nothing measured yet: check
        cost = track.dispatch_s + (track.exec_s or 0.0)
        track.cost = cost
        full = max(4 * cost, 1e-3)  # the bucket holds a few checks (or 1 ms) of credit
        if track.tokens is None:
            track.tokens = full
        elif track.last_gap is not None:
            track.tokens = min(track.tokens + config.watch_budget * track.last_gap, full)
        return track.tokens >= cost

    def _watch_traced(self, name: str, step: Any, leaves: list[Any], treedef: Any) -> None:
        """``watch()`` inside ``jit``: the counts are computed in the step's own program (fused
        with it) and only the small count table reaches the host, through a callback."""
        import jax
        import numpy as np

        from . import finitelib

        float_idx = [i for i, x in enumerate(leaves) if finitelib.inexact(x)]
        xs = [leaves[i] for i in float_idx]
        counts = finitelib.check_fn([int(x.size) for x in xs])(xs)
        self._treedefs[name] = treedef

        self._tracks.setdefault(name, _Track())

        def arrived(counts: Any, step: Any) -> None:
            try:  # runs inside the user's compiled step: never raise there
                track = self._tracks.setdefault(name, _Track())
                call = track.calls
                track.calls += 1
                s = int(step) if step is not None else None
                self._latest.setdefault(name, (None, s, None))
                self._on_check((name, call), call, s, np.asarray(counts), None, float_idx)
            except Exception as exc:  # noqa: BLE001
                errors.record("paramlib.watch_in_jit", exc)

        jax.debug.callback(arrived, counts, step)

    def check_latest(self, wait_s: float = 1.0) -> None:
        """Check the newest value of every tree whose last call was thinned out (at cell end,
        and before ``sample_watched``), so a run never ends on an unchecked step; then wait up
        to ``wait_s`` for the checks to be read (the alert lands in the cell that caused it)."""
        for name, track in list(self._tracks.items()):
            value, step, resolver = self._latest.get(name, (None, None, None))
            if not track.skipped_latest or value is None or resolver is not None:
                continue
            import time as _time

            call = track.calls - 1  # the same call, checked now
            if track.thinned:
                track.thinned.pop()
            self._check(name, track, call, step, value, None, _time.perf_counter())
        self.checker.drain(wait_s)
        self.forget_structures()

    def force_check(self) -> None:
        """Check the next call of every watched tree whatever the cost cap (a logged scalar
        turned non-finite: the watched trees' exact state at that moment matters)."""
        for track in self._tracks.values():
            track.force = True

    # -- the reader thread ---------------------------------------------------------------------
    def _on_check(self, key, call, step, counts, note, float_idx=None) -> None:
        name = key[0]
        step = _as_step(step)
        track = self._tracks.get(name)
        if track is None:
            return
        if isinstance(note, tuple):  # ("thinned", [steps]): calls the cost cap skipped, in one go
            why, steps = note
            track.unchecked_total += len(steps)
            room = max(0, 10_000 - len(track.unchecked))
            track.unchecked.extend((_as_step(s), why) for s in steps[:room])
            return
        if counts is None:
            track.unchecked_total += 1
            if len(track.unchecked) < 10_000:
                track.unchecked.append((step if step is not None else call, note or "not checked"))
            return
        track.checked += 1
        at = step if step is not None else call
        bad = counts.sum(axis=1) > 0 if len(counts) else counts[:0, 0] > 0
        ref = self.listeners.get(name)
        listener = ref() if ref is not None else None
        if not bad.any():
            track.last_finite = at
            track.unchecked.clear()
            track.bad = False
            if listener is not None:
                listener(at, None)
            return
        if track.bad:
            return  # still non-finite: alerted already
        track.bad = True
        alert = self._alert(name, track, at, step is not None, counts, bad, float_idx)
        self.publish(alert)
        if listener is not None:
            listener(at, alert)

    def publish(self, alert: Any) -> None:
        """Keep and send an alert (a later one with the same id updates it: ``nan_guard``'s
        cause)."""
        self.alerts.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert)

    def _leaf_paths(self, name: str) -> list[str]:
        import jax

        treedef = self._treedefs.get(name)
        if treedef is None:
            return []
        if isinstance(treedef, _PathsKey):
            return list(treedef.paths)
        try:
            skeleton = jax.tree_util.tree_unflatten(treedef, list(range(treedef.num_leaves)))
            flat, _ = jax.tree_util.tree_flatten_with_path(skeleton)
            paths = [_path_text(path) for path, _ in flat]
            if name in self.listeners:  # a nan_guard's inputs by argument: model.fc1.kernel
                paths = [re.sub(r"^\['([A-Za-z_]\w*)'\]", r"\1", p) for p in paths]
            return paths
        except Exception:  # noqa: BLE001 - a treedef that cannot be rebuilt
            return [f"leaf {i}" for i in range(treedef.num_leaves)]

    def _alert(self, name, track, at, is_step, counts, bad, float_idx) -> Any:
        import time as _time


        paths = self._leaf_paths(name)
        rows = [
            (paths[i] if i < len(paths) else f"leaf {i}", int(counts[j, 0]), int(counts[j, 1]))
            for j, i in enumerate(float_idx)
            if bad[j]
        ]
        total = len(float_idx)
        nan = sum(r[1] for r in rows)
        inf = sum(r[2] for r in rows)
        what = "NaN" if nan and not inf else "Inf" if inf and not nan else "NaN/Inf"
        unit = self.units.get(name) or ("step" if is_step else "watch call")
        named = ", ".join(f"{p} ({_counts(a, b)})" for p, a, b in rows[: self.MAX_LEAVES_NAMED])
        if len(rows) > self.MAX_LEAVES_NAMED:
            named += f", … {len(rows) - self.MAX_LEAVES_NAMED} more"
        if len(rows) == total and total > 1:
            which = (
                f"all {total} of {total} leaves turned at once: the {what} came through the step "
                "(the update spread it to every leaf), not from one leaf"
            )
        else:
            which = f"{len(rows)} of {total} leaves: {named}"
        checked = self._coverage(track, at, unit, config.watch_budget)
        if track.spanning:
            import jax

            n = track.spanning
            checked += (
                f" — process {jax.process_index()} of {jax.process_count()} checks its own shards "
                f"of the {n} {'leaf' if n == 1 else 'leaves'} sharded across processes"
            )
        if track.last_finite is not None:
            when = f"first {what} at {unit} {at}, last finite {unit} {track.last_finite}"
        else:
            when = f"{what} at {unit} {at}, the first {unit} checked"
        self._alert_id += 1
        if track.across:  # nan_guard never replays a multi-process step, so it is not offered
            hint = ("a multi-process job's step is not replayed (one process alone would wait in "
                    "its collectives forever): the step and leaves above are what is known")
        elif name in self.listeners:
            hint = "the operation and line that made it follow when the replay of the call before ends"
        else:
            hint = ("find the operation that made it: wrap the step with jaxinspect.nan_guard(step) "
                    "to replay that step with NaN checking")
        hint += "; lower the learning rate or clip gradients (optax.clip_by_global_norm)"
        return ParamAlert(
            id=self._alert_id, time=_time.time(), name=name, step=at if is_step else None,
            path=rows[0][0] if rows else "", nan=nan, inf=inf,
            message=f"{name}: {when} ({checked}); {which}", hint=hint,
            last_finite_step=track.last_finite if is_step else None,
            bad_leaves=len(rows), total_leaves=total,
            leaves=tuple(r[0] for r in rows[: self.MAX_LEAVES_NAMED]), checked=checked, cause=None,
            watched_at=compilelib.locate(*track.where, compilelib.collector().cell_of) if track.where else None,
        )  # fmt: skip

    @staticmethod
    def _coverage(track: _Track, at: Any, unit: str, budget: float) -> str:
        """Which calls the exact check saw, said precisely."""
        gaps = [s for s, _ in track.unchecked]
        every = {"step": "every watched step", "watch call": "every watch() call"}.get(unit, f"every {unit}")
        if not gaps and track.unchecked_total == 0:
            return f"{every} checked"
        if not gaps:
            return f"{every} since the last finite one checked"
        why = sorted({w for _, w in track.unchecked})
        reasons = []
        for w in why:
            if w == "thinned":
                n = max(1, track.thin_n)
                reasons.append(
                    f"a check cost {_seconds(track.thin_cost_s / n)} against "
                    f"{_seconds(track.thin_gap_s / n)} between the calls it skipped (averages), so "
                    f"checks were thinned to stay within {budget * 100:g}% of the step time "
                    "(config.watch_budget)"
                )
            else:
                reasons.append(w)
        lo, hi = gaps[0], gaps[-1]
        span = f"{unit} {lo}" if lo == hi else f"{unit}s {lo}–{hi}"
        count = "" if len(gaps) == (hi - lo + 1 if isinstance(lo, int) and isinstance(hi, int) else len(gaps)) else f" ({len(gaps)} calls)"
        return f"{span}{count} not checked: {'; '.join(reasons)}"

    def unwatch(self, name: str | None = None) -> None:
        with self._lock:
            names = [name] if name is not None else list(self._latest)
            for n in names:
                self._latest.pop(n, None)
                self._sketch.pop(n, None)
                self._last_updates.pop(n, None)
                self._tracks.pop(n, None)
                self._treedefs.pop(n, None)
                self.listeners.pop(n, None)
                self.units.pop(n, None)

    def watch_expression(self, name: str, resolver: Any) -> None:
        """Sample ``resolver()`` (e.g. an expression in the user's namespace) each time."""
        self._latest[name] = (None, None, resolver)

    def close(self) -> None:
        self.checker.close()

    @property
    def names(self) -> list[str]:
        return list(self._latest)

    def sample(self, interval_s: float | None = None) -> tuple[list, list]:
        import time as _time

        records, alerts = [], []
        for name, (value, step, resolver) in list(self._latest.items()):
            start = _time.perf_counter()
            if resolver is not None:
                try:
                    value = resolver()
                except Exception as exc:  # noqa: BLE001 - the expression fails right now
                    records.append(self._empty(name, step, f"evaluating the watched expression raised {type(exc).__name__}: {exc}", interval_s))
                    continue
                try:  # an expression is checked when sampled (there is no call to check)
                    self.watch(name, value, step)
                    self._latest[name] = (None, step, resolver)
                except Exception as exc:  # noqa: BLE001
                    errors.record("paramlib.watch_expression", exc)
            if value is None or name in self.listeners:
                continue  # watched inside jit (the counts arrive through the callback), or a
                # nan_guard's inputs (checked, not shown as parameters)
            try:
                leaf_records, arrays = leaves(value)
            except Exception as exc:  # noqa: BLE001
                records.append(self._empty(name, step, f"not a pytree of arrays: {type(exc).__name__}", interval_s))
                continue
            if not leaf_records:
                records.append(self._empty(name, step, "no array leaves to watch (expected a params pytree)", interval_s))
                continue
            try:
                table = watch_sample(local_parts(arrays))
            except Exception as exc:  # noqa: BLE001 - never raise from a sample
                del arrays, value
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
                note = f"norms and update ratios could not be sampled ({why}); NaN/Inf checks still run"
                records.append(self._empty(name, _as_step(step), note, interval_s))
                continue
            del arrays, value
            if table is None:
                note = "leaves were donated or deleted before they could be read: sample skipped"
                records.append(self._empty(name, _as_step(step), note if name not in self._noted else None, interval_s))
                self._noted.add(name)
                continue
            rec = self._record(name, _as_step(step), leaf_records, table, _time.perf_counter() - start, interval_s)
            records.append(rec)
            self.history.append(rec)
        return records, alerts

    def _empty(self, name: str, step: int | None, note: str | None, interval_s: float | None):
        import time as _time


        with self._lock:
            self._seq[name] = seq = self._seq.get(name, 0) + 1
        return ParamWatchRecord(
            name=name, seq=seq, step=step, time=_time.time(), leaves=0, values=0, norm=0.0,
            update=None, nonfinite=0, layers=(), more_layers=0, took_s=0.0,
            interval_s=interval_s, note=note,
        )  # fmt: skip

    def _record(self, name, step, leaf_records, table, took, interval_s):
        import math
        import time as _time

        import numpy as np


        prev = self._sketch.get(name, {})
        sketches: dict[str, Any] = {}
        layers: dict[str, list] = {}
        total_sq = 0.0
        delta_sq = 0.0
        have_delta = bool(prev)
        nonfinite = 0
        for leaf, row in zip(leaf_records, table, strict=True):
            sq, nan, inf = float(row[0]), int(row[1]), int(row[2])
            total, finite, lo, hi, zeros = float(row[3]), float(row[4]), float(row[5]), float(row[6]), float(row[7])
            sketch = row[HEAD:]
            sketches[leaf.path] = sketch
            old = prev.get(leaf.path)
            d = float(np.sum((sketch - old) ** 2)) if old is not None else None
            if d is None:
                have_delta = False
            else:
                delta_sq += d
            total_sq += sq
            if nan or inf:
                nonfinite += 1
            key = "".join(leaf.components[:-1]) or leaf.path
            entry = layers.setdefault(key, [0, 0, 0.0, 0.0, 0, 0, True, 0.0, 0.0, math.inf, -math.inf, 0.0])
            entry[0] += 1
            entry[1] += leaf.size
            entry[2] += sq
            if d is None:
                entry[6] = False
            else:
                entry[3] += d
            entry[4] += nan
            entry[5] += inf
            entry[7] += total
            entry[8] += finite
            if finite:
                entry[9] = min(entry[9], lo)
                entry[10] = max(entry[10], hi)
            entry[11] += zeros
        self._sketch[name] = sketches
        norm = math.sqrt(total_sq) if not nonfinite else None  # NaN/Inf: the norm is not a number
        update = math.sqrt(delta_sq) / norm if have_delta and norm else None
        items = list(layers.items())
        def layer(path: str, e: list) -> ParamLayer:
            n, v, sq, dsq, nan, inf, ok, total, finite, lo, hi, zeros = e
            mean = total / finite if finite else None  # no finite value: no statistic
            var = max(sq / finite - mean * mean, 0.0) if finite else None
            clean = not (nan or inf)
            return ParamLayer(
                path=path,
                leaves=n,
                values=v,
                norm=math.sqrt(sq) if clean else None,
                update=(math.sqrt(dsq) / math.sqrt(sq)) if ok and sq > 0 and clean else None,
                nan=nan,
                inf=inf,
                mean=mean,
                std=math.sqrt(var) if var is not None else None,
                min=lo if finite else None,
                max=hi if finite else None,
                zeros=zeros / v if v else 0.0,
            )

        layer_records = tuple(layer(path, e) for path, e in items[: self.MAX_LAYERS])
        last = self._last_updates.get(name)
        if have_delta and delta_sq == 0.0 and last is not None and (step is None or step == last[0]):
            # nothing moved since the last sample (training paused, the same step sampled
            # again): the update ratio is the last step's, not 0
            update = last[1]
            layer_records = tuple(
                dataclasses.replace(r, update=last[2].get(r.path, r.update)) for r in layer_records
            )
        else:
            self._last_updates[name] = (step, update, {r.path: r.update for r in layer_records})
        with self._lock:
            self._seq[name] = seq = self._seq.get(name, 0) + 1
        rec = ParamWatchRecord(
            name=name, seq=seq, step=step, time=_time.time(), leaves=len(leaf_records),
            values=sum(leaf.size for leaf in leaf_records), norm=norm, update=update,
            nonfinite=nonfinite, layers=layer_records,
            more_layers=max(0, len(items) - self.MAX_LAYERS), took_s=took,
            interval_s=interval_s, note=None,
        )  # fmt: skip
        return rec
