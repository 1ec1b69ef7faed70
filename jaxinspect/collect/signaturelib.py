"""Signatures of jitted calls, and the smallest differences between two of them.

A signature is what jit's cache keys on, as plain data: every dynamic leaf (path, shape, dtype,
weak type, sharding), every static argument's value, the pytree structure, and the tracing
context (x64, matmul precision, ...). Diffing two signatures of the same function names the
argument and the change that forced a recompile — computed from the call itself, never from
``jax_explain_cache_misses`` text (whose format drifts and which is silent for static arguments).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from typing import Any

from ..records import Reason
from . import compat

MAX_REPR = 80
MAX_LEAVES = 4096
MAX_REASONS = 8
MAX_DEPTH = 6

# Tracing-context settings that are part of jit's cache key.
CONTEXT_STATES = (
    "enable_x64",
    "default_matmul_precision",
    "numpy_rank_promotion",
    "numpy_dtype_promotion",
    "default_device",
    "debug_nans",
    "debug_infs",
    "disable_jit",
)


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a user's __repr__ may raise
        text = f"<{type(value).__name__}: repr failed: {type(exc).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One dynamic (traced) leaf of a call's arguments."""

    path: str
    shape: tuple[int, ...] | None
    dtype: str | None
    weak_type: bool
    sharding: str | None
    python_type: str | None  # set for Python scalars and non-array leaves

    def describe(self) -> str:
        if self.python_type is not None and self.shape == ():
            return f"Python {self.python_type} (weak-typed)"
        if self.shape is None:
            return self.python_type or "?"
        weak = ", weak" if self.weak_type else ""
        return f"{self.dtype}{list(self.shape)}{weak}"


@dataclasses.dataclass(frozen=True)
class Signature:
    """What jit's cache keys a call on, as plain data (static values are kept for diffing)."""

    fun_id: int
    leaves: tuple[Leaf, ...]
    static: tuple[tuple[str, Any], ...]
    context: tuple[tuple[str, str], ...]
    truncated: bool = False
    treedefs: tuple[tuple[str, Any], ...] = ()  # per dynamic argument: its PyTreeDef
    # per argument in call order: (name, passed positionally?, static?) — enough to rebuild an
    # abstract call (ShapeDtypeStructs + static values) and re-trace it for a jaxpr diff
    layout: tuple[tuple[str, bool, bool], ...] = ()

    def leaf_map(self) -> dict[str, Leaf]:
        return {leaf.path: leaf for leaf in self.leaves}


def sharding_message(path: str, before: str | None, after: str | None) -> str:
    """Say what changed; a change of mesh axis types alone (Auto vs. Explicit sharding, same
    spec) is named as such — JAX's own explanation does not mention it."""
    import re  # noqa: PLC0415

    types = re.compile(r", axis_types=([\w/]+)")
    strip = lambda t: types.sub("", t or "")  # noqa: E731
    if before and after and strip(before) == strip(after):
        kind = lambda t: m.group(1) if (m := types.search(t)) else "Auto"  # noqa: E731
        return (
            f"`{path}` has the same spec on a mesh whose axis types changed {kind(before)} → {kind(after)} "
            "(jit compiles separately for explicit and auto sharding): build the mesh once, with one "
            "axis_types, and reuse it"
        )
    message = f"`{path}` changed sharding {before} → {after}"
    if before and after:
        kind = lambda t: m.group(1) if (m := types.search(t)) else "Auto"  # noqa: E731
        if kind(before) != kind(after):
            message += f" (and the mesh's axis types {kind(before)} → {kind(after)})"
    return message


def sharding_text(x: Any) -> str | None:
    sharding = getattr(x, "sharding", None)
    if sharding is None:
        return None
    spec = getattr(sharding, "spec", None)
    mesh = getattr(sharding, "mesh", None)
    if spec is not None and mesh is not None:
        axes = dict(
            zip(
                getattr(mesh, "axis_names", ()), getattr(mesh, "axis_sizes", ()) or (), strict=False
            )
        )
        types = tuple(str(t).rsplit(".", 1)[-1] for t in (getattr(mesh, "axis_types", None) or ()))
        kinds = f", axis_types={'/'.join(types)}" if any(t != "Auto" for t in types) else ""
        return f"NamedSharding(mesh={axes}, spec={spec}{kinds})"
    devices = getattr(sharding, "device_set", None)
    if devices is not None and len(devices) == 1:
        (d,) = tuple(devices)
        return f"{type(sharding).__name__}({d})"
    return short_repr(sharding, 120)


def _leaf(path: str, x: Any) -> Leaf:
    if isinstance(x, (bool, int, float, complex)):
        return Leaf(path, (), None, True, None, type(x).__name__)
    aval = getattr(x, "aval", None)
    shape = getattr(x, "shape", None) if aval is None else getattr(aval, "shape", None)
    dtype = getattr(x, "dtype", None) if aval is None else getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return Leaf(path, None, None, False, None, type(x).__name__)
    weak = bool(getattr(aval, "weak_type", getattr(x, "weak_type", False)))
    sharding = None
    if "Tracer" not in type(x).__name__:  # a tracer raises on .sharding / .addressable_shards
        try:
            sharding = sharding_text(x)
        except Exception:  # noqa: BLE001 - deleted or donated arrays, odd array types
            sharding = None
    return Leaf(path, tuple(int(d) for d in shape), str(dtype), weak, sharding, None)


def _bind_names(
    fun: Any, jit_signature: Any, args: tuple, kwargs: dict, static_defaults: Iterable[str] = ()
) -> list[tuple[str, Any]]:
    """(name, value) for each argument, named after the function's parameters where possible."""
    sig = jit_signature
    if sig is None:
        try:
            sig = inspect.signature(fun)
        except (TypeError, ValueError):
            sig = None
    if sig is not None:
        try:
            bound = sig.bind(*args, **kwargs)
            for name in static_defaults or ():
                param = sig.parameters.get(name)
                if (
                    name not in bound.arguments
                    and param is not None
                    and param.default is not param.empty
                ):
                    bound.arguments[name] = param.default  # `mode='fast'` vs. `mode='exact'`
            out: list[tuple[str, Any]] = []
            for name, value in bound.arguments.items():
                kind = sig.parameters[name].kind
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    out += [(f"{name}[{i}]", v) for i, v in enumerate(value)]
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    out += [(f"{name}[{k!r}]", v) for k, v in value.items()]
                else:
                    out.append((name, value))
            return out
        except TypeError:
            pass
    return [(f"args[{i}]", a) for i, a in enumerate(args)] + list(kwargs.items())


def _context() -> tuple[tuple[str, str], ...]:
    cfg = compat.loaded_module("jax._src.config")
    if cfg is None:
        return ()
    out = []
    for name in CONTEXT_STATES:
        state = getattr(cfg, name, None)
        value = getattr(state, "value", None) if state is not None else None
        if state is not None:
            out.append((name, short_repr(value)))
    mesh = compat.current_mesh_text()
    if mesh:
        out.append(("mesh", mesh))
    return tuple(out)


def signature(
    fun: Any,
    args: tuple,
    kwargs: dict,
    static_argnums: Iterable[int] = (),
    static_argnames: Iterable[str] = (),
    jit_signature: Any = None,
) -> Signature:
    """The signature of calling ``fun(*args, **kwargs)`` under jit."""
    tree_util = compat.loaded_module("jax.tree_util")
    static_nums = set(static_argnums or ())
    static_names = set(static_argnames or ())
    named = _bind_names(fun, jit_signature, tuple(args), dict(kwargs), static_names)
    positional_names = [n for n, _ in named[: len(args)]]
    static: list[tuple[str, Any]] = []
    leaves: list[Leaf] = []
    treedefs: list[tuple[str, Any]] = []
    truncated = False
    layout: list[tuple[str, bool, bool]] = []
    for i, (name, value) in enumerate(named):
        is_static = (i < len(args) and i in static_nums) or name in static_names
        if i >= len(args) and name in kwargs and name in static_names:
            is_static = True
        if i < len(args) and positional_names[i] in static_names:
            is_static = True
        layout.append((name, i < len(args), is_static))
        if is_static:
            static.append((name, value))
            continue
        flat, treedef = tree_util.tree_flatten_with_path(value)
        treedefs.append((name, treedef))
        for path, leaf in flat:
            if len(leaves) >= MAX_LEAVES:
                truncated = True
                break
            leaves.append(_leaf(name + tree_util.keystr(path), leaf))
    return Signature(
        id(fun), tuple(leaves), tuple(static), _context(), truncated, tuple(treedefs), tuple(layout)
    )


# ---------------------------------------------------------------------------------------------
# diffing


def _fields(value: Any) -> dict[str, Any] | None:
    """Named parts of a value, for descending into it; None for atoms."""
    if isinstance(value, dict):
        return {f"[{k!r}]": v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        names = getattr(value, "_fields", None)
        if names:
            return {f".{n}": getattr(value, n) for n in names}
        out: dict[str, Any] = {}
        for i, v in enumerate(value):
            # (name, value) pairs, e.g. an NNX GraphDef's attributes, read as `.name`
            if (
                isinstance(v, tuple)
                and len(v) == 2
                and isinstance(v[0], str)
                and v[0].isidentifier()
            ):
                key = f".{v[0]}"
                out[key if key not in out else f"[{i}]"] = v[1]
            else:
                out[f"[{i}]"] = v
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f".{f.name}": getattr(value, f.name, None) for f in dataclasses.fields(value)}
    slots = getattr(type(value), "__slots__", None)
    if isinstance(slots, (tuple, list)) and slots:
        return {f".{s}": getattr(value, s, None) for s in slots if isinstance(s, str)}
    d = getattr(value, "__dict__", None)
    if isinstance(d, dict) and d and not callable(value):
        return {f".{k}": v for k, v in d.items() if not k.startswith("__")}
    return None


def _equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays, odd __eq__
        return False


def smallest_difference(
    a: Any, b: Any, path: str = "", depth: int = 0
) -> list[tuple[str, Any, Any]]:
    """The deepest paths where ``a`` and ``b`` differ (e.g. ``.tx`` of a re-created optimizer)."""
    if _equal(a, b):
        return []
    if depth >= MAX_DEPTH or type(a) is not type(b):
        return [(path, a, b)]
    fa, fb = _fields(a), _fields(b)
    if fa is None or fb is None:
        return [(path, a, b)]
    if set(fa) != set(fb):
        return [(path, a, b)]
    out = []
    for key in fa:
        out += smallest_difference(fa[key], fb[key], path + key, depth + 1)
        if len(out) >= MAX_REASONS:
            break
    # equal parts but unequal wholes: an identity-compared object that was re-created; and
    # when only functions differ (optax's init/update closures), the re-created thing is `a`
    if not out or all(_recreated_function(x, y) for _, x, y in out):
        return [(path, a, b)]
    return out


def _recreated_function(a: Any, b: Any) -> bool:
    return (
        callable(a)
        and callable(b)
        and getattr(a, "__qualname__", 1) == getattr(b, "__qualname__", 2)
        and a is not b
    )


def is_recreated(a: Any, b: Any) -> bool:
    """Do ``a`` and ``b`` differ only by identity (the same thing built twice)?"""
    if short_repr(a) == short_repr(b) or _recreated_function(a, b):
        return True
    if type(a) is type(b) and type(a).__eq__ is object.__eq__:
        return True
    fa, fb = _fields(a), _fields(b)
    if fa is None or fb is None or set(fa) != set(fb):
        return False
    differing = [(fa[k], fb[k]) for k in fa if not _equal(fa[k], fb[k])]
    return bool(differing) and all(is_recreated(x, y) for x, y in differing)


def _static_reason(name: str, old: Any, new: Any) -> list[Reason]:
    out = []
    for sub, a, b in smallest_difference(old, new)[:MAX_REASONS]:
        path = name + sub
        ra, rb = short_repr(a), short_repr(b)
        if is_recreated(a, b):
            msg = (
                f"static argument `{path}` is a new {type(b).__name__} object that compares by "
                "identity (re-created between calls); create it once and reuse it"
            )
            out.append(Reason("static", path, ra, rb, msg, recreated=True))
        else:
            out.append(
                Reason("static", path, ra, rb, f"static argument `{path}` changed {ra} → {rb}")
            )
    return out


def diff(old: Signature, new: Signature) -> list[Reason]:
    """Why ``new`` missed the cache entry of ``old``; empty when nothing differs."""
    reasons: list[Reason] = []
    old_leaves, new_leaves = old.leaf_map(), new.leaf_map()
    added = [p for p in new_leaves if p not in old_leaves]
    removed = [p for p in old_leaves if p not in new_leaves]
    if added or removed:
        parts = []
        if added:
            parts.append(
                "added "
                + ", ".join(added[:4])
                + (f" (+{len(added) - 4} more)" if len(added) > 4 else "")
            )
        if removed:
            parts.append(
                "removed "
                + ", ".join(removed[:4])
                + (f" (+{len(removed) - 4} more)" if len(removed) > 4 else "")
            )
        roots = sorted({_root(p) for p in added + removed})
        reasons.append(
            Reason(
                "structure",
                ", ".join(roots),
                f"{len(old_leaves)} leaves",
                f"{len(new_leaves)} leaves",
                f"pytree structure of `{', '.join(roots)}` changed: " + "; ".join(parts),
            )
        )
    if not (added or removed):
        reasons.extend(_treedef_reasons(old, new))
    old_static, new_static = dict(old.static), dict(new.static)
    for name in sorted(set(old_static) | set(new_static)):
        if name not in old_static or name not in new_static:
            reasons.append(
                Reason("static", name, None, None, f"static argument `{name}` added or removed")
            )
        elif not _equal(old_static[name], new_static[name]):
            reasons.extend(_static_reason(name, old_static[name], new_static[name]))
    for path, leaf in new_leaves.items():
        prev = old_leaves.get(path)
        if prev is None or prev == leaf:
            continue
        if prev.shape != leaf.shape:
            reasons.append(
                Reason(
                    "shape",
                    path,
                    _shape(prev),
                    _shape(leaf),
                    f"`{path}` changed shape {_shape(prev)} → {_shape(leaf)}",
                )
            )
        if prev.dtype != leaf.dtype or prev.python_type != leaf.python_type:
            reasons.append(
                Reason(
                    "dtype",
                    path,
                    prev.describe(),
                    leaf.describe(),
                    f"`{path}` changed type {prev.describe()} → {leaf.describe()}",
                )
            )
        elif prev.weak_type != leaf.weak_type:
            reasons.append(
                Reason(
                    "weak_type",
                    path,
                    prev.describe(),
                    leaf.describe(),
                    f"`{path}` changed weak type {prev.describe()} → {leaf.describe()} (a Python scalar vs. an array)",
                )
            )
        elif prev.sharding != leaf.sharding:
            reasons.append(
                Reason(
                    "sharding",
                    path,
                    prev.sharding,
                    leaf.sharding,
                    sharding_message(path, prev.sharding, leaf.sharding),
                )
            )
    old_ctx, new_ctx = dict(old.context), dict(new.context)
    for name in sorted(set(old_ctx) | set(new_ctx)):
        if old_ctx.get(name) != new_ctx.get(name):
            reasons.append(
                Reason(
                    "context",
                    name,
                    old_ctx.get(name),
                    new_ctx.get(name),
                    f"tracing context `{name}` changed {old_ctx.get(name)} → {new_ctx.get(name)}",
                )
            )
    return _bounded(reasons)


def _treedef_walk(a: Any, b: Any, path: str, depth: int) -> list[tuple[str, Any, Any]]:
    """Where two PyTreeDefs with the same leaf paths differ: the node whose static (aux) data
    changed, narrowed to its smallest differing field (e.g. an NNX GraphDef's re-created part)."""
    if a == b:
        return []
    if depth > 64:
        return [(path, a, b)]
    try:
        da, db = a.node_data(), b.node_data()
    except Exception:  # noqa: BLE001 - very old jaxlib
        return [(path, a, b)]
    if da is None or db is None or da[0] is not db[0]:
        return [(path, a, b)]
    if not _equal(da[1], db[1]):
        return [(path + sub, x, y) for sub, x, y in smallest_difference(da[1], db[1])]
    ca, cb = a.children(), b.children()
    if len(ca) != len(cb):
        return [(path, a, b)]
    keys = (
        da[1]
        if da[0] is dict and isinstance(da[1], (list, tuple)) and len(da[1]) == len(ca)
        else None
    )
    out: list[tuple[str, Any, Any]] = []
    for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
        sub = f"[{keys[i]!r}]" if keys is not None else ""  # custom nodes: no readable key
        out += _treedef_walk(x, y, path + sub, depth + 1)
        if len(out) >= MAX_REASONS:
            break
    return out


def _readable(path: str) -> str:
    """Drop NNX GraphDef plumbing from a path: `opt.attributes.tx.value` -> `opt.tx`."""
    if ".attributes." not in path:
        return path
    path = path.replace(".attributes.", ".")
    return path[: -len(".value")] if path.endswith(".value") else path.replace(".value.", ".")


def _treedef_reasons(old: Signature, new: Signature) -> list[Reason]:
    old_defs = dict(old.treedefs)
    out: list[Reason] = []
    for name, treedef in new.treedefs:
        prev = old_defs.get(name)
        if prev is None or prev == treedef:
            continue
        for path, a, b in _treedef_walk(prev, treedef, name, 0)[:MAX_REASONS]:
            path = _readable(path)
            ra, rb = short_repr(a), short_repr(b)
            recreated = is_recreated(a, b)
            if recreated:
                msg = (
                    f"static part `{path}` of argument `{name}` is a new {type(b).__name__} object that "
                    "compares by identity (re-created between calls, e.g. an optimizer built inside "
                    "the loop); create it once and reuse it"
                )
            else:
                msg = f"static part `{path}` of argument `{name}` changed {ra} → {rb}"
            out.append(Reason("static", path, ra, rb, msg, recreated=recreated))
    return out


def _bounded(reasons: list[Reason]) -> list[Reason]:
    if len(reasons) <= MAX_REASONS:
        return reasons
    more = len(reasons) - (MAX_REASONS - 1)
    return reasons[: MAX_REASONS - 1] + [
        Reason("more", None, None, None, f"… {more} more differences")
    ]


def _shape(leaf: Leaf) -> str:
    if leaf.shape is None:
        return leaf.python_type or "?"
    return "(" + ", ".join(map(str, leaf.shape)) + ("," if len(leaf.shape) == 1 else "") + ")"


def _root(path: str) -> str:
    for i, ch in enumerate(path):
        if ch in "[.":
            return path[:i] or path
    return path
