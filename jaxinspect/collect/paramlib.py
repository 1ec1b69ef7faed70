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
