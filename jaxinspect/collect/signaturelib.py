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
import os
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
        # JAX's TypedFloat / TypedInt (Python scalars it already converted) read as float / int
        kind = next(t for t in (bool, int, float, complex) if isinstance(x, t))
        return Leaf(path, (), None, True, None, kind.__name__)
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
        named_paths = _node_states_paths(value, name, flat)
        for i, (path, leaf) in enumerate(flat):
            if len(leaves) >= MAX_LEAVES:
                truncated = True
                break
            text = named_paths[i] if named_paths is not None else name + tree_util.keystr(path)
            leaves.append(_leaf(text, leaf))
    return Signature(
        id(fun), tuple(leaves), tuple(static), _context(), truncated, tuple(treedefs), tuple(layout)
    )


def _primitive_arg_names(prim: str, params: dict, n: int) -> list[str]:
    """Names for the flat operands of an eagerly run primitive, by role where known."""

    def count(key: str) -> int:
        value = params.get(key, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    groups: list[tuple[str, int]] = []
    if prim == "scan":
        # jax 0.12: ft_in is a flat tree of (consts, carry, xs); its `elts` count their leaves
        parts = getattr(params.get("ft_in"), "elts", None)
        if isinstance(parts, tuple) and len(parts) == 3:
            try:
                groups = [("consts", len(parts[0])), ("init", len(parts[1]))]
            except TypeError:
                groups = []
        if not groups:
            groups = [("consts", count("num_consts")), ("init", count("num_carry"))]
        rest = "xs"
    elif prim == "while":
        groups = [("cond_consts", count("cond_nconsts")), ("body_consts", count("body_nconsts"))]
        rest = "init"
    elif prim == "cond":
        groups = [("index", 1)]
        rest = "operands"
    else:
        rest = "args"
    names: list[str] = []
    for group, k in groups:
        if group == "index":
            names.append("index")
        else:
            names += [f"{group}[{i}]" for i in range(k)]
    start = len(names)
    names += [f"{rest}[{i - start}]" for i in range(start, max(n, start))]
    return names[:n]


def primitive_signature(prim: str, params: dict, args: tuple) -> Signature:
    """The signature of a primitive run eagerly (``lax.scan`` outside jit): its flat operands,
    named by role (``init[0]``, ``xs[1]``, ``operands[0]``), and the tracing context."""
    names = _primitive_arg_names(prim, params, len(args))
    leaves = tuple(_leaf(name, a) for name, a in zip(names, args[:MAX_LEAVES], strict=False))
    return Signature(0, leaves, (), _context(), len(args) > MAX_LEAVES)


# ---------------------------------------------------------------------------------------------
# NNX graphs: a GraphDef is a flat encoding (nodes and attributes in depth-first order, leaves
# counted along); walking it gives each leaf, node and static attribute its path in the model,
# e.g. `model.blocks[1].fc1.kernel` for what jit sees as `model.states[0][7]`


def _kind(obj: Any) -> str:
    return type(obj).__name__


def _key_text(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


def is_graphdef(obj: Any) -> bool:
    return _kind(obj) == "GraphDef" and hasattr(obj, "nodes") and hasattr(obj, "attributes")


def graph_entries(graphdef: Any, root: str) -> dict[str, tuple] | None:
    """Path -> what a GraphDef says is there: ("node", class), ("variable", class, metadata),
    ("ref",), ("leaf",), ("static", value); and "#leaves" -> paths of the leaves in order.
    None when the encoding is not one this walk knows (then paths stay as jit sees them)."""
    try:
        nodes = iter(list(graphdef.nodes))
        attrs = iter(list(graphdef.attributes))
        out: dict[str, tuple] = {}
        leaves: list[str] = []

        def visit(nodedef: Any, path: str) -> None:
            kind = _kind(nodedef)
            if kind == "NodeRef":
                out[path] = ("ref",)
            elif kind == "VariableDef":
                meta = getattr(nodedef, "metadata", None)
                out[path] = ("variable", nodedef.type, dict(meta) if meta is not None else None)
                if _kind(getattr(nodedef, "array_refdef", None)) != "NodeRef":
                    leaves.append(path)
            elif kind == "ArrayRefDef":
                out[path] = ("leaf",)
                leaves.append(path)
            elif kind == "NodeDef":
                out[path] = ("node", nodedef.type)
                for _ in range(int(nodedef.num_attributes)):
                    key, value = next(attrs)
                    sub = path + _key_text(key)
                    akind = _kind(value)
                    if akind == "Static":
                        out[sub] = ("static", value.value)
                    elif akind == "LeafAttr":
                        out[sub] = ("leaf",)
                        leaves.append(sub)
                    elif akind == "NodeAttr":
                        visit(next(nodes), sub)
                    else:
                        raise ValueError(akind)
            else:
                raise ValueError(kind)  # e.g. TreeNodeDef: leaves not known here

        visit(next(nodes), root)
        if next(nodes, None) is not None or next(attrs, None) is not None:
            return None
        out["#leaves"] = tuple(leaves)
        return out
    except Exception:  # noqa: BLE001 - another flax version's encoding
        return None


def _node_states_paths(value: Any, name: str, flat: list) -> list[str] | None:
    """Paths for the leaves of an ``nnx.jit`` argument (flax's ``NodeStates``: a GraphDef and
    its state's leaves, which jit sees as ``model.states[0][i]``)."""
    if _kind(value) != "NodeStates":
        return None
    states = getattr(value, "states", None)
    graphdef = getattr(value, "_graphdef", None)
    if graphdef is None or not isinstance(states, tuple) or len(states) != 1:
        return None
    entries = graph_entries(graphdef, name)
    if entries is None or len(entries["#leaves"]) != len(flat):
        return None
    return list(entries["#leaves"])


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
    if isinstance(a, type) or isinstance(b, type):
        # two classes: the same one defined twice (a re-run cell), or really another class
        return (
            isinstance(a, type)
            and isinstance(b, type)
            and a is not b
            and a.__qualname__ == b.__qualname__
            and a.__module__ == b.__module__
        )
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


def _named_aux(aux: Any) -> tuple[tuple, tuple, tuple] | None:
    """Flax's pytree aux data (children's names, static fields' names, their values), else None."""
    if (
        isinstance(aux, tuple)
        and len(aux) == 3
        and all(isinstance(part, tuple) for part in aux)
        and len(aux[1]) == len(aux[2])
        and all(isinstance(n, str) for n in (*aux[0], *aux[1]))
    ):
        return aux
    return None


def _common_path(paths: list[str]) -> str | None:
    """The longest common prefix of leaf paths that ends at a path boundary."""
    if not paths:
        return None
    prefix = os.path.commonprefix(paths)
    if len(paths) > 1 and all(len(p) > len(prefix) and p[len(prefix)] in ".[" for p in paths):
        return prefix  # `a.b.x`, `a.b[0]` -> `a.b`
    cut = max(prefix.rfind("."), prefix.rfind("["))
    return prefix[:cut] if cut > 0 else None  # `a.b.x`, `a.b.y` -> `a.b`; one leaf -> its parent


def _treedef_walk(
    a: Any, b: Any, path: str, depth: int, leaves: list[str] | None = None, offset: int = 0
) -> list[tuple[str, Any, Any]]:
    """Where two PyTreeDefs with the same leaf paths differ: the node whose static (aux) data
    changed, narrowed to its smallest differing field (e.g. an NNX GraphDef's re-created part).
    ``leaves`` (the new call's leaf paths of this argument, from ``offset``) name custom nodes."""
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
    named = _named_aux(da[1]) if _named_aux(db[1]) is not None else None
    if not _equal(da[1], db[1]):
        if is_graphdef(da[1]) and is_graphdef(db[1]):
            return [(path, da[1], db[1])]  # an NNX graph: diffed path by path by the caller
        if named is not None and named[:2] == db[1][:2]:
            # a flax pytree's static fields, by name: `model.blocks[0].fc1.dtype`
            return [
                (f"{path}.{field}", x, y)
                for field, x, y in zip(named[1], named[2], db[1][2], strict=True)
                if not _equal(x, y)
            ][:MAX_REASONS]
        return [(path + sub, x, y) for sub, x, y in smallest_difference(da[1], db[1])]
    ca, cb = a.children(), b.children()
    if len(ca) != len(cb):
        return [(path, a, b)]
    keys = (
        da[1]
        if da[0] is dict and isinstance(da[1], (list, tuple)) and len(da[1]) == len(ca)
        else None
    )
    child_names = named[0] if named is not None and len(named[0]) == len(ca) else None
    out: list[tuple[str, Any, Any]] = []
    for i, (x, y) in enumerate(zip(ca, cb, strict=True)):
        n = getattr(x, "num_leaves", 0)
        if keys is not None:
            sub = path + f"[{keys[i]!r}]"
        elif child_names is not None:
            sub = path + f".{child_names[i]}"
        else:  # a custom node: name the child by its leaves' common path
            common = _common_path(leaves[offset : offset + n]) if leaves is not None else None
            sub = common if common and common.startswith(path) else path
        out += _treedef_walk(x, y, sub, depth + 1, leaves, offset)
        offset += n
        if len(out) >= MAX_REASONS:
            break
    return out


def _readable(path: str) -> str:
    """Drop NNX GraphDef plumbing from a path: `opt.attributes.tx.value` -> `opt.tx`."""
    if ".attributes." not in path:
        return path
    path = path.replace(".attributes.", ".")
    return path[: -len(".value")] if path.endswith(".value") else path.replace(".value.", ".")


def value_text(value: Any, limit: int = MAX_REPR) -> str:
    """A static value as a user reads it: classes (dtypes, modules) by name."""
    if isinstance(value, type):
        return value.__name__
    return short_repr(value, limit)


def _graph_reasons(name: str, path: str, a: Any, b: Any) -> list[Reason] | None:
    """Why two NNX GraphDefs of argument ``name`` differ, in the model's own paths
    (``model.blocks[1].fc1.dtype``); None when the walk cannot tell (then the generic diff runs)."""
    ea, eb = graph_entries(a, path), graph_entries(b, path)
    if ea is None or eb is None:
        return None
    ea.pop("#leaves"), eb.pop("#leaves")
    out: list[Reason] = []
    changed_class: list[str] = []
    for key in ea:
        if key not in eb:
            continue
        x, y = ea[key], eb[key]
        if x[0] != y[0]:
            out.append(
                Reason("structure", key, x[0], y[0], f"`{key}` changed from a {x[0]} to a {y[0]}")
            )
            changed_class.append(key)
        elif x[0] in ("node", "variable") and x[1] is not y[1]:
            out.append(class_reason(key, x[1], y[1]))
            changed_class.append(key)
        elif x[0] == "variable" and not _equal(x[2], y[2]):
            ma, mb = x[2] or {}, y[2] or {}
            keys = [k for k in dict.fromkeys([*ma, *mb]) if not _equal(ma.get(k), mb.get(k))]
            for k in keys[:3]:
                before, after = short_repr(ma.get(k)), short_repr(mb.get(k))
                out.append(
                    Reason(
                        "metadata",
                        f"{key}.{k}" if str(k).isidentifier() else f"{key}[{k!r}]",
                        before,
                        after,
                        f"metadata `{k}` of variable `{key}` changed {before} → {after}",
                    )
                )
        elif x[0] == "static" and not _equal(x[1], y[1]):
            va, vb = x[1], y[1]
            before, after = value_text(va), value_text(vb)
            if is_recreated(va, vb):
                msg = (
                    f"static part `{key}` of argument `{name}` is a new {type(vb).__name__} object "
                    "that compares by identity (re-created between calls, e.g. an optimizer built "
                    "inside the loop); create it once and reuse it"
                )
                out.append(Reason("static", key, before, after, msg, recreated=True))
            else:
                msg = f"static part `{key}` of argument `{name}` changed {before} → {after}"
                out.append(Reason("static_part", key, before, after, msg))
    # what lies under a node whose class changed follows from that change
    out = [
        r
        for r in out
        if r.path in changed_class
        or not any(r.path.startswith((c + ".", c + "[")) for c in changed_class)
    ]
    added = [k for k in eb if k not in ea and not _under(k, changed_class)]
    removed = [k for k in ea if k not in eb and not _under(k, changed_class)]
    if added or removed:
        parts = []
        for verb, keys in (("added", added), ("removed", removed)):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{verb} " + ", ".join(f"`{k}`" for k in keys[:3]) + more)
        out.insert(
            0,
            Reason(
                "structure",
                path,
                None,
                None,
                f"the structure of `{path}` changed: " + "; ".join(parts),
                details=_bounded_lines([f"added `{k}`" for k in added] + [f"removed `{k}`" for k in removed]),
            ),
        )
    return out or None


def class_reason(path: str, ca: Any, cb: Any) -> Reason:
    """``model class changed LM → RematLM``, or a class defined again under the same name."""
    na, nb = getattr(ca, "__name__", "?"), getattr(cb, "__name__", "?")
    if na == nb:
        msg = (
            f"{path} is an instance of a re-defined class {nb} (same name, a new class "
            "object: the code defining it ran again); jit compiles for each class object"
        )
    else:
        msg = f"{path} class changed {na} → {nb}"
    return Reason("class", path, na, nb, msg)


def _node_type(treedef: Any) -> Any:
    try:
        data = treedef.node_data()
    except Exception:  # noqa: BLE001
        return None
    return data[0] if data else None


def _under(key: str, roots: list[str]) -> bool:
    return any(key.startswith((c + ".", c + "[")) for c in roots)


MAX_DETAILS = 64
NOUNS = {
    "shape": ("leaves", "shape"),
    "dtype": ("leaves", "type"),
    "weak_type": ("leaves", "weak type"),
    "sharding": ("leaves", "sharding"),
    "static_part": ("static fields", ""),
    "metadata": ("variable metadata fields", ""),
    "static": ("static parts", ""),
    "class": ("nodes", "class"),
}


def _bounded_lines(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_DETAILS:
        return tuple(lines)
    return (*lines[: MAX_DETAILS - 1], f"… {len(lines) - (MAX_DETAILS - 1)} more")


def summarise(reasons: list[Reason]) -> list[Reason]:
    """Many differences of one kind with the same change become one line (what changed, how
    many, the first paths); each difference stays in the summary's ``details``."""
    groups: dict[tuple, list[Reason]] = {}
    order: list[tuple] = []
    for r in reasons:
        key = (r.kind, r.before, r.after, r.recreated) if r.kind in NOUNS else ("", id(r))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    out: list[Reason] = []
    for key in order:
        group = groups[key]
        if len(group) < 3:
            out.extend(group)
            continue
        first = group[0]
        noun, what = NOUNS[first.kind]
        change = f"{what} {first.before} → {first.after}".strip()
        if first.recreated:
            change = f"to new {first.after} objects that compare by identity (re-created between calls); create them once and reuse them"
        names = ", ".join(f"`{r.path}`" for r in group[:2])
        message = f"{len(group)} {noun} changed {change}: {names}, … ({len(group) - 2} more)"
        out.append(
            Reason(
                first.kind,
                first.path,
                first.before,
                first.after,
                message,
                recreated=first.recreated,
                details=_bounded_lines([r.message for r in group]),
            )
        )
    return out


def _treedef_reasons(old: Signature, new: Signature) -> list[Reason]:
    old_defs = dict(old.treedefs)
    out: list[Reason] = []
    for name, treedef in new.treedefs:
        prev = old_defs.get(name)
        if prev is None or prev == treedef:
            continue
        leaf_paths = [leaf.path for leaf in new.leaves if _root(leaf.path) == name]
        walk = _treedef_walk(prev, treedef, name, 0, leaf_paths if not new.truncated else None)
        for path, a, b in walk[:MAX_REASONS]:
            if is_graphdef(a) and is_graphdef(b):
                graph = _graph_reasons(name, path, a, b)
                if graph is not None:
                    out.extend(graph)
                    continue
                diffs = [(path + sub, x, y) for sub, x, y in smallest_difference(a, b)]
            elif (
                _kind(a) == "PyTreeDef"
                and _kind(b) == "PyTreeDef"
                and isinstance(ta := _node_type(a), type)
                and isinstance(tb := _node_type(b), type)
                and ta is not tb
                and not (ta in (list, tuple, dict) and tb in (list, tuple, dict))
            ):
                out.append(class_reason(_readable(path), ta, tb))  # a pytree node of another class
                continue
            else:
                diffs = [(path, a, b)]
            out.extend(_static_part_reasons(name, diffs))
    return out


def _static_part_reasons(name: str, diffs: list[tuple[str, Any, Any]]) -> list[Reason]:
    out: list[Reason] = []
    for path, a, b in diffs[:MAX_REASONS]:
        path = _readable(path)
        ra, rb = value_text(a), value_text(b)
        recreated = is_recreated(a, b)
        if recreated:
            msg = (
                f"static part `{path}` of argument `{name}` is a new {type(b).__name__} object that "
                "compares by identity (re-created between calls, e.g. an optimizer built inside "
                "the loop); create it once and reuse it"
            )
        else:
            msg = f"static part `{path}` of argument `{name}` changed {ra} → {rb}"
        out.append(Reason("static" if recreated else "static_part", path, ra, rb, msg, recreated=recreated))
    return out


def _bounded(reasons: list[Reason]) -> list[Reason]:
    reasons = summarise(reasons)
    if len(reasons) <= MAX_REASONS:
        return reasons
    more = len(reasons) - (MAX_REASONS - 1)
    rest = reasons[MAX_REASONS - 1 :]
    return reasons[: MAX_REASONS - 1] + [
        Reason(
            "more",
            None,
            None,
            None,
            f"… {more} more differences",
            details=_bounded_lines([line for r in rest for line in (r.details or (r.message,))]),
        )
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
