"""Parameter trees: the leaves of a Flax linen/NNX model, optimizer or any pytree, with their
variable kind, and per-leaf statistics computed on device in one batched call."""

from __future__ import annotations

from typing import Any

from ..records import ParamLeaf, ParamStats
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
        out[i] = ParamStats(*(float(v) for v in row[:6]), int(row[6]), int(row[7]))
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


class Watcher:
    """Watched parameter trees: ``watch()`` only stores a reference (the newest value replaces
    the previous one, so no old buffers are kept); ``sample()`` (sampler thread) turns them into
    ``params_watch`` records and raises one ``params_alert`` when a tree first holds NaN/Inf."""

    MAX_LAYERS = 64

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._latest: dict[str, tuple[Any, int | None, Any]] = {}  # name → (value, step, resolver)
        self._seq: dict[str, int] = {}
        self._sketch: dict[str, dict[str, Any]] = {}  # name → leaf path → previous sketch
        self._bad: dict[str, bool] = {}
        self._good_step: dict[str, int | None] = {}  # step of the last all-finite sample
        self._noted: set[str] = set()
        self._alert_id = 0
        import collections

        self.history: collections.deque = collections.deque(maxlen=2000)  # records, all names

    def watch(self, name: str, value: Any, step: int | None = None) -> None:
        self._latest[name] = (value, step, None)

    def watch_expression(self, name: str, resolver: Any) -> None:
        """Sample ``resolver()`` (e.g. an expression in the user's namespace) each time."""
        self._latest[name] = (None, None, resolver)

    def unwatch(self, name: str | None = None) -> None:
        with self._lock:
            names = [name] if name is not None else list(self._latest)
            for n in names:
                self._latest.pop(n, None)
                self._sketch.pop(n, None)
                self._bad.pop(n, None)

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
            try:
                leaf_records, arrays = leaves(value)
            except Exception as exc:  # noqa: BLE001
                records.append(self._empty(name, step, f"not a pytree of arrays: {type(exc).__name__}", interval_s))
                continue
            if not leaf_records:
                records.append(self._empty(name, step, "no array leaves to watch (expected a params pytree)", interval_s))
                continue
            table = watch_sample(arrays)
            del arrays, value
            if table is None:
                note = "leaves were donated or deleted before they could be read: sample skipped"
                records.append(self._empty(name, step, note if name not in self._noted else None, interval_s))
                self._noted.add(name)
                continue
            rec, alert = self._record(name, step, leaf_records, table, _time.perf_counter() - start, interval_s)
            records.append(rec)
            self.history.append(rec)
            if alert is not None:
                alerts.append(alert)
        return records, alerts

    def _empty(self, name: str, step: int | None, note: str | None, interval_s: float | None):
        import time as _time

        from ..records import ParamWatchRecord

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

        from ..records import ParamAlert, ParamLayer, ParamWatchRecord

        prev = self._sketch.get(name, {})
        sketches: dict[str, Any] = {}
        layers: dict[str, list] = {}
        total_sq = 0.0
        delta_sq = 0.0
        have_delta = bool(prev)
        nonfinite = 0
        first_bad = None
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
                if first_bad is None:
                    first_bad = (leaf.path, nan, inf)
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
        norm = math.sqrt(total_sq)
        update = math.sqrt(delta_sq) / norm if have_delta and norm > 0 else None
        items = list(layers.items())
        def layer(path: str, e: list) -> ParamLayer:
            n, v, sq, dsq, nan, inf, ok, total, finite, lo, hi, zeros = e
            mean = total / finite if finite else 0.0
            var = max(sq / finite - mean * mean, 0.0) if finite else 0.0
            return ParamLayer(
                path=path,
                leaves=n,
                values=v,
                norm=math.sqrt(sq),
                update=(math.sqrt(dsq) / math.sqrt(sq)) if ok and sq > 0 else None,
                nan=nan,
                inf=inf,
                mean=mean,
                std=math.sqrt(var),
                min=lo if finite else 0.0,
                max=hi if finite else 0.0,
                zeros=zeros / v if v else 0.0,
            )

        layer_records = tuple(layer(path, e) for path, e in items[: self.MAX_LAYERS])
        with self._lock:
            self._seq[name] = seq = self._seq.get(name, 0) + 1
        rec = ParamWatchRecord(
            name=name, seq=seq, step=step, time=_time.time(), leaves=len(leaf_records),
            values=sum(leaf.size for leaf in leaf_records), norm=norm, update=update,
            nonfinite=nonfinite, layers=layer_records,
            more_layers=max(0, len(items) - self.MAX_LAYERS), took_s=took,
            interval_s=interval_s, note=None,
        )  # fmt: skip
        alert = None
        was_bad = self._bad.get(name, False)
        self._bad[name] = first_bad is not None
        last_good = self._good_step.get(name)
        if first_bad is None:
            self._good_step[name] = step
        if first_bad is not None and not was_bad:
            path, nan, inf = first_bad
            what = "NaN" if nan else "Inf"
            if step is not None and last_good is not None and last_good < step - 1:
                at = f" between step {last_good} (finite) and step {step}"
            else:
                at = f" at step {step}" if step is not None else ""
            self._alert_id += 1
            alert = ParamAlert(
                id=self._alert_id, time=_time.time(), name=name, step=step, path=path, nan=nan,
                inf=inf,
                message=f"{name}: {path} turned {what}{at} ({nan} NaN, {inf} Inf values; "
                f"{nonfinite} of {len(leaf_records)} leaves affected)",
                hint="lower the learning rate or clip gradients (optax.clip_by_global_norm); "
                "find the first NaN with jax.config.update('jax_debug_nans', True)",
            )  # fmt: skip
        return rec, alert
