"""Jaxprs: trace a call the way ``jit`` would, and turn the jaxpr into records.

Runs on the user's thread only (``%jaxpr`` / ``jaxinspect.jaxpr``); it may import.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import linecache
import os
from collections import Counter
from typing import Any

from .. import units
from ..records import CostRecord, JaxprBody, JaxprDoc, JaxprEqn, JaxprStats
from . import compat, compilelib

RANDOM_PRIMS = frozenset(
    {"random_seed", "random_split", "random_fold_in", "random_bits", "random_wrap",
     "random_unwrap", "threefry2x32", "random_clone", "random_clone_p", "rng_bit_generator",
     "rng_uniform"}
)  # fmt: skip
CALLBACK_PRIMS = frozenset(
    {"pure_callback", "io_callback", "debug_callback", "callback", "outside_call",
     "host_callback"}
)  # fmt: skip
CONVERT_PRIMS = frozenset({"convert_element_type", "bitcast_convert_type", "reduce_precision"})
# params that are noise at their default value (jit's bookkeeping)
_QUIET_PARAMS = frozenset(
    {"in_shardings", "out_shardings", "in_layouts", "out_layouts", "donated_invars", "ctx_mesh",
     "keep_unused", "inline", "compiler_options_kvs", "resource_env", "ft_in", "ft_out",
     "accuracy", "sharding", "out_dtype"}
)  # fmt: skip
# scan's flat-tree bookkeeping: never informative to a reader
_HIDDEN_PARAMS = frozenset({"ft_in", "ft_out"})
PARAM_TEXT_LIMIT = 160
MAX_DEPTH = 64


def _tag(prim: str) -> str | None:
    if prim in RANDOM_PRIMS or prim.startswith("random_"):
        return "random"
    if prim in CALLBACK_PRIMS or prim.endswith("_callback"):
        return "callback"
    if prim in CONVERT_PRIMS:
        return "convert"
    return None


def alpha_name(n: int) -> str:
    """0 → a, 25 → z, 26 → ba: JAX's own variable naming."""
    out = ""
    while True:
        out = chr(97 + n % 26) + out
        n //= 26
        if n == 0:
            return out


def _is_default(value: Any) -> bool:
    if value is None or value is False or value == () or value == 0:
        return True
    if isinstance(value, tuple):
        return all(_is_default(v) or type(v).__name__ in ("UnspecifiedValue", "AUTO") for v in value)
    if getattr(value, "empty", False) is True:  # an empty mesh
        return True
    name = type(value).__name__
    return name in ("UnspecifiedValue", "Inline") and str(value).endswith(("Unspecified", "AUTO"))


def _param_text(value: Any) -> str:
    text = getattr(value, "name", None) if type(value).__name__.endswith("DType") else None
    if text is None:
        text = str(value)
    text = " ".join(text.split())
    if len(text) > PARAM_TEXT_LIMIT:
        text = text[: PARAM_TEXT_LIMIT - 1] + "…"
    return text


def _literal_text(value: Any) -> str:
    for kind in (bool, int, float, complex):  # TypedInt / TypedFloat subclasses print noisily
        if isinstance(value, kind):
            return repr(kind(value))
    try:
        if getattr(value, "shape", None) == () and hasattr(value, "item"):
            return repr(value.item())
    except Exception:  # noqa: BLE001
        pass
    return _param_text(value)


def scope_parts(stack: Any) -> tuple[str, ...]:
    """A name stack as group names, outermost first: each named scope (a Flax module, a
    ``jax.named_scope``) is one part, a run of transforms is one part (``jvp``,
    ``transpose(jvp)``). Scope names may contain "/" (they are not split on it)."""
    elems = getattr(stack, "stack", None)
    if not isinstance(elems, tuple):
        text = str(stack)
        return tuple(p for p in text.split("/") if p) if text else ()
    parts: list[str] = []
    transforms: list[str] = []
    for elem in elems:
        name = str(getattr(elem, "name", elem))
        if type(elem).__name__ == "Transform":
            transforms.append(name)
            continue
        if transforms:
            parts.append(_transforms_text(transforms))
            transforms = []
        parts.append(name)
    if transforms:
        parts.append(_transforms_text(transforms))
    return tuple(parts)


def _transforms_text(names: list[str]) -> str:
    text = names[-1]
    for name in reversed(names[:-1]):
        text = f"{name}({text})"
    return text


class _Builder:
    """One pass over a jaxpr (and every nested one) producing records."""

    def __init__(self, source: bool, cell_of: Any) -> None:
        api = compat.jaxpr_api()
        self.jaxpr_types = api["jaxpr_types"]
        self.literal = api["literal"]
        self.dropvar = api["dropvar"]
        self.user_frames = api["user_frames"] if source else None
        self.frame_cache: dict[int, Any] = {}
        self.cell_of = cell_of
        self.names: dict[int, str] = {}
        self.count = 0
        self.bodies: list[Any] = []  # JaxprBody, or a placeholder list while being built
        self.index_of: dict[int, int] = {}
        self.uses: Counter = Counter()
        self.types: dict[Any, str] = {}
        self.scopes: dict[int, tuple[str, ...]] = {}
        self.sources: dict[tuple, str | None] = {}
        self.places: dict[str, Any] = {}  # source text -> its Location
        self.keep: list[Any] = []  # keeps ids stable while building
        self.by_prim: Counter = Counter()
        self.flagged: Counter = Counter()

    # -- pieces ------------------------------------------------------------------------------
    def type_of(self, var: Any) -> str:
        aval = getattr(var, "aval", None)
        try:
            cached = self.types.get(aval)
        except TypeError:  # an unhashable aval
            cached = None
        if cached is not None:
            return cached
        try:
            text = aval.str_short(short_dtypes=True)
        except Exception:  # noqa: BLE001
            text = str(aval)
        try:
            self.types[aval] = text
        except TypeError:
            pass
        return text

    def bind(self, var: Any) -> tuple[str, str]:
        if isinstance(var, self.dropvar):
            return ("_", self.type_of(var))
        key = id(var)
        name = self.names.get(key)
        if name is None:
            name = alpha_name(self.count)
            self.count += 1
            self.names[key] = name
            self.keep.append(var)
        return (name, self.type_of(var))

    def operand(self, var: Any) -> tuple[str, str, bool]:
        if isinstance(var, self.literal):
            return (_literal_text(var.val), self.type_of(var), True)
        name = self.names.get(id(var))
        if name is None:
            name = self.bind(var)[0]
        return (name, self.type_of(var), False)

    def scope(self, source_info: Any) -> tuple[str, ...]:
        stack = getattr(source_info, "name_stack", None)
        if stack is None:
            return ()
        key = id(stack)
        cached = self.scopes.get(key)
        if cached is None:
            cached = scope_parts(stack)
            self.scopes[key] = cached
            self.keep.append(stack)
        return cached

    def source(self, source_info: Any) -> str | None:
        if self.user_frames is None:
            return None
        tb = getattr(source_info, "traceback", None)
        if tb is None:
            return None
        key = id(tb)
        if key in self.frame_cache:
            frame = self.frame_cache[key]
        else:
            frame = None
            try:
                for candidate in self.user_frames(tb):
                    # JAX skips its own frames; skip jaxinspect's hooks as well
                    if not os.path.abspath(candidate.file_name).startswith(compilelib._OWN_DIR):
                        frame = candidate
                        break
            except Exception:  # noqa: BLE001
                frame = None
            self.frame_cache[key] = frame
            self.keep.append(tb)
        if frame is None:
            return None
        key = (frame.file_name, frame.start_line, frame.function_name)
        if key in self.sources:
            return self.sources[key]
        loc = compilelib.locate(frame.file_name, frame.start_line, self.cell_of)
        if loc is not None:
            text = compilelib.site_text(loc, str(frame.function_name) or None)
            self.places[text] = loc
        else:
            where = f"{compilelib.place(frame.file_name, self.cell_of)}:{frame.start_line}"
            text = f"{where} ({str(frame.function_name).rsplit('<locals>.', 1)[-1]})"
        self.sources[key] = text
        return text

    # -- bodies --------------------------------------------------------------------------------
    def body(self, jaxpr: Any, name: str, depth: int) -> int:
        inner, consts = compat.open_jaxpr(jaxpr)
        key = id(inner)
        self.uses[key] += 1
        if key in self.index_of:
            return self.index_of[key]
        index = len(self.bodies)
        self.index_of[key] = index
        self.keep.append(inner)
        self.bodies.append(None)
        constvars = tuple(self.bind(v) for v in inner.constvars)
        invars = tuple(self.bind(v) for v in inner.invars)
        eqns = []
        total = 0
        for eqn in inner.eqns:
            if depth >= MAX_DEPTH:
                break
            record, nested = self.eqn(eqn, depth)
            eqns.append(record)
            total += 1 + nested
        outvars = tuple(self.operand(v) for v in inner.outvars)
        self.bodies[index] = (key, name, constvars, invars, outvars, tuple(eqns), depth, total)
        return index

    def eqn(self, eqn: Any, depth: int) -> tuple[JaxprEqn, int]:
        prim = eqn.primitive.name
        self.by_prim[prim] += 1
        tag = _tag(prim)
        if tag is not None:
            self.flagged[tag] += 1
        ins = tuple(self.operand(v) for v in eqn.invars)
        params: list[tuple[str, str]] = []
        subs: list[tuple[str, int]] = []
        nested = 0
        jaxpr_types = self.jaxpr_types
        jit_name = eqn.params.get("name") if prim in ("pjit", "jit", "closed_call") else None
        for key, value in eqn.params.items():
            if isinstance(value, jaxpr_types):
                label = jit_name if isinstance(jit_name, str) else f"{prim}.{key}"
                sub = self._sub(value, label, depth)
                subs.append((key, sub))
                nested += self._fresh_total(sub)
            elif (
                isinstance(value, (tuple, list))
                and value
                and all(isinstance(v, jaxpr_types) for v in value)
            ):
                for i, v in enumerate(value):
                    sub = self._sub(v, f"{prim}.{key}[{i}]", depth)
                    subs.append((f"{key}[{i}]", sub))
                    nested += self._fresh_total(sub)
            elif (
                value is None
                or key in _HIDDEN_PARAMS
                or (key in _QUIET_PARAMS and _is_default(value))
            ):
                continue
            elif (callable(value) and not isinstance(value, type)) or type(value).__name__ in (
                "WrappedFun",
                "Partial",
            ):
                continue  # thunks (custom_jvp's jvp_jaxpr_fun ...): not readable
            else:
                params.append((key, _param_text(value)))
        outs = tuple(self.bind(v) for v in eqn.outvars)
        info = eqn.source_info
        record = JaxprEqn(
            prim, outs, ins, tuple(params), tuple(subs), self.scope(info), self.source(info), tag
        )
        return record, nested

    def _sub(self, jaxpr: Any, label: str, depth: int) -> int:
        before = len(self.bodies)
        index = self.body(jaxpr, label, depth + 1)
        self._fresh = index >= before
        return index

    def _fresh_total(self, index: int) -> int:
        if not self._fresh:
            return 0  # shared body: counted where it first appeared
        return self.bodies[index][7]

    def finish(self, title: str, in_labels: tuple, out_labels: tuple, const_values: tuple) -> JaxprDoc:
        bodies = []
        for i, (key, name, constvars, invars, outvars, eqns, depth, total) in enumerate(self.bodies):
            bodies.append(
                JaxprBody(i, name, constvars, invars, outvars, eqns, self.uses[key], depth, total)
            )
        top = bodies[0]
        inputs = tuple(
            (in_labels[i] if i < len(in_labels) and in_labels[i] else name, typ)
            for i, (name, typ) in enumerate(top.invars)
        )
        outputs = tuple(
            (out_labels[i] if i < len(out_labels) and out_labels[i] else text, typ)
            for i, (text, typ, _lit) in enumerate(top.outvars)
        )
        consts = tuple(
            (name, typ, int(getattr(const_values[i], "nbytes", 0) or 0) if i < len(const_values) else 0)
            for i, (name, typ) in enumerate(top.consts)
        )
        stats = JaxprStats(
            equations=top.total,
            top_level=len(top.eqns),
            by_primitive=tuple(sorted(self.by_prim.items(), key=lambda kv: (-kv[1], kv[0]))),
            bodies=len(bodies) - 1,
            shared=sum(1 for b in bodies[1:] if b.uses > 1),
            max_depth=max((b.depth for b in bodies), default=0),
            inputs=inputs,
            outputs=outputs,
            consts=consts,
            flagged=tuple(sorted(self.flagged.items())),
        )
        return JaxprDoc(title=title, bodies=tuple(bodies), stats=stats, places=dict(self.places))


def build_doc(
    jaxpr: Any,
    title: str = "jaxpr",
    *,
    source: bool = False,
    cell_of: Any = None,
    in_labels: tuple = (),
    out_labels: tuple = (),
) -> JaxprDoc:
    """Records for a (closed) jaxpr: every nested body once, names unique across the doc."""
    builder = _Builder(source, cell_of)
    builder.body(jaxpr, "main", 0)
    _inner, consts = compat.open_jaxpr(jaxpr)
    if not in_labels or not out_labels:
        debug = getattr(getattr(jaxpr, "jaxpr", jaxpr), "debug_info", None)
        if not in_labels:
            in_labels = tuple(getattr(debug, "arg_names", None) or ())
        if not out_labels:
            out_labels = tuple(getattr(debug, "result_paths", None) or ())
    doc = builder.finish(title, in_labels, out_labels, consts)
    if "random" not in dict(doc.stats.flagged):
        return doc
    from . import keyflow

    sourcer = _Builder(True, cell_of)  # key sites are always named, whatever --source says
    flow = keyflow.analyze(
        jaxpr,
        lambda eqn: sourcer.source(eqn.source_info),
        tuple(name for name, _typ in doc.stats.inputs),
        builder.index_of.get,
    )
    return dataclasses.replace(doc, keys=flow)


def source_namer(cell_of: Any = None) -> Any:
    """``eqn -> "cell [3] line 4 (fn)"`` (its first user frame), or None; cached per traceback."""
    sourcer = _Builder(True, cell_of)
    return lambda eqn: sourcer.source(eqn.source_info)


# -- tracing a call ------------------------------------------------------------------------------


# who is speaking in messages: the magic (``%jaxpr``) or the Python API (``jaxinspect.jaxpr``)
PREFIX: contextvars.ContextVar[str] = contextvars.ContextVar("jaxinspect_jaxpr_prefix", default="%jaxpr")


def _short_repr(value: Any) -> str:
    import reprlib

    try:
        return reprlib.Repr(maxstring=40, maxother=40).repr(value)
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__}>"


class TraceFailure(Exception):
    """Tracing the user's call failed; ``str()`` is the one message the user sees."""


class _Box:
    """An unhashable static argument, compared by identity (jit needs hashable statics)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Box) and other.value is self.value


def _arraylike(leaf: Any) -> bool:
    import numpy as np

    if isinstance(leaf, (bool, int, float, complex, np.ndarray, np.generic)):
        return True
    if hasattr(leaf, "__jax_array__"):
        return True
    mod = type(leaf).__module__ or ""
    return mod.startswith(("jax", "jaxlib")) and (hasattr(leaf, "shape") and hasattr(leaf, "dtype"))


def _is_static(value: Any) -> bool:
    """A top-level argument jit cannot trace: no array-like leaf at all (a str, a callable ...)."""
    import jax

    if value is None:
        return False
    leaves = jax.tree_util.tree_leaves(value)
    return bool(leaves) and not any(_arraylike(leaf) for leaf in leaves)


def _holds_arrays(obj: Any) -> bool:
    """True for callables that are pytrees of arrays (an NNX module): pass them as an argument
    instead of closing over them, so their parameters are inputs, not baked-in constants."""
    import jax

    try:
        leaves = jax.tree_util.tree_leaves(obj)
    except Exception:  # noqa: BLE001
        return False
    return len(leaves) > 0 and not (len(leaves) == 1 and leaves[0] is obj)


def _unbox(value: Any) -> Any:
    return value.value if isinstance(value, _Box) else value


class TracedCall:
    """A traced call: the jax ``Traced`` stage, lowered and compiled on demand."""

    def __init__(self, stage: Any, label: str, labels: tuple = (), modules: Any = ()) -> None:
        self.stage = stage
        self.label = label
        self.labels = labels
        self.modules = frozenset(modules)  # module paths named while tracing
        self.out_labels: tuple = ()
        self._lowered = None
        self._compiled = None

    @property
    def jaxpr(self) -> Any:
        return self.stage.jaxpr

    def lowered(self) -> Any:
        if self._lowered is None:
            with compilelib.collector().quiet():
                try:
                    self._lowered = self.stage.lower()
                except Exception as exc:  # noqa: BLE001
                    raise TraceFailure(describe_failure(exc, self.label, "lowering")) from None
        return self._lowered

    def compiled(self) -> Any:
        if self._compiled is None:
            lowered = self.lowered()
            with compilelib.collector().quiet():
                try:
                    self._compiled = lowered.compile()
                except Exception as exc:  # noqa: BLE001
                    raise TraceFailure(describe_failure(exc, self.label, "compiling")) from None
        return self._compiled


def trace_call(fn: Any, args: tuple, kwargs: dict, label: str | None = None) -> TracedCall:
    """Trace ``fn(*args, **kwargs)`` as ``jax.jit`` would, without running it.

    A ``jax.jit``-ed function is traced with its own static arguments. Anything else is wrapped
    in ``jax.jit``; top-level arguments without any array leaf (strings, callables, configs)
    become static, and a callable that is a pytree of arrays (an NNX module, or a bound method of
    one) is passed as an input so its parameters show as inputs with their paths.
    """
    import jax

    if not callable(fn):
        kind = type(fn).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        if PREFIX.get() == "%jaxpr":
            raise TraceFailure(
                f"%jaxpr: `{label or _short_repr(fn)}` is {article} {kind}, not something to call. "
                "Give a call expression such as `%jaxpr f(x, y)`."
            )
        raise TraceFailure(
            f"{PREFIX.get()}: the first argument is {article} {kind} ({_short_repr(fn)}), not a "
            f"function. Pass the function, then its arguments: {PREFIX.get()}(f, x, y)."
        )
    named = label is not None  # the magic names the callee as typed; the API does not
    label = label or _callable_name(fn)
    namer = ModuleNamer(label)
    with compilelib.collector().quiet(), _fresh_trace(), namer:
        try:
            wrapped = None
            if callable(getattr(fn, "trace", None)) and callable(getattr(fn, "lower", None)):
                stage = _jax_stage(fn.trace(*args, **kwargs), label)
            else:
                target, args2 = fn, tuple(args)
                self_obj = getattr(fn, "__self__", None)
                if self_obj is not None and not isinstance(self_obj, type) and _holds_arrays(self_obj):
                    func = fn.__func__
                    target, args2 = _named(lambda self, *a, **k: func(self, *a, **k), fn), (self_obj, *args2)
                    wrapped = ("self", func, 1)
                    owner = label.rsplit(".", 1)[0] if named and "." in label else _caller_name(self_obj)
                    if owner:
                        namer.name_local(target.__code__, "self", owner)
                elif not inspect.isroutine(fn) and _holds_arrays(fn):
                    target, args2 = _named(lambda model, *a, **k: model(*a, **k), fn), (fn, *args2)
                    wrapped = ("model", type(fn).__call__, 1)
                    owner = label if named else _caller_name(fn)
                    if owner:
                        namer.name_local(target.__code__, "model", owner)
                static_nums = []
                boxed = list(args2)
                for i, value in enumerate(args2):
                    if _is_static(value):
                        static_nums.append(i)
                        boxed[i] = _static(value)
                static_names = [k for k, v in kwargs.items() if _is_static(v)]
                kwargs2 = {k: (_static(v) if k in static_names else v) for k, v in kwargs.items()}
                if any(isinstance(v, _Box) for v in (*boxed, *kwargs2.values())):
                    inner = target

                    def target(*a, **k):  # noqa: F811 - unbox identity-compared statics
                        return inner(*map(_unbox, a), **{n: _unbox(v) for n, v in k.items()})

                    _named(target, fn)
                jitted = jax.jit(target, static_argnums=tuple(static_nums), static_argnames=tuple(static_names))
                stage = jitted.trace(*boxed, **kwargs2)
        except TraceFailure:
            raise
        except RecursionError:
            raise TraceFailure(
                f"{PREFIX.get()}: tracing `{label}` failed: RecursionError (the call nests deeper "
                "than Python's recursion limit; sys.setrecursionlimit raises it)"
            ) from None
        except Exception as exc:  # noqa: BLE001
            raise TraceFailure(describe_failure(exc, label, "tracing")) from None
    labels, out_labels = _rename_inputs(stage, fn, label, wrapped), ()
    if not labels:
        labels, out_labels = _graph_labels(stage, fn, args, kwargs)
    traced = TracedCall(stage, label, labels, namer.paths)
    traced.out_labels = out_labels
    return traced


def _caller_name(obj: Any) -> str | None:
    """The name of the variable that holds ``obj`` in the innermost user frame, or None."""
    import sys

    frame = sys._getframe(1)
    for _ in range(100):
        if frame is None:
            return None
        if compilelib.is_user_file(frame.f_code.co_filename):
            for name, value in frame.f_locals.items():
                if value is obj and name != "self":
                    return name
        frame = frame.f_back
    return None


def _jax_stage(stage: Any, label: str) -> Any:
    """JAX's own ``Traced`` stage: Flax's ``nnx.jit(...).trace`` returns a wrapper around it
    (``.traced``) that has no ``.jaxpr``; its program is the wrapped one."""
    for _ in range(4):
        if hasattr(stage, "jaxpr") and callable(getattr(stage, "lower", None)):
            return stage
        inner = getattr(stage, "traced", None)
        if inner is None:
            inner = getattr(stage, "_inner_obj", None)
        if inner is None or inner is stage:
            break
        stage = inner
    raise TraceFailure(
        f"{PREFIX.get()}: `{label}.trace(...)` returned a {type(stage).__module__}."
        f"{type(stage).__name__}, which holds no jaxpr jaxinspect can read. Trace the function "
        f"it wraps instead, e.g. jaxinspect.jaxpr(jax.jit(inner_fn), ...)."
    )


@contextlib.contextmanager
def _fresh_trace() -> Any:
    """Make JAX trace the function again instead of answering from its trace cache (a step
    already called once is cached): module names are recorded while Python runs. A trace-context
    setting that changes nothing in the program (a source-file regex that never matches) keys a
    separate cache entry; the user's own cache entries are untouched."""
    try:
        from jax._src import config as jax_config

        state = jax_config.hlo_source_file_canonicalization_regex
        value = state.value
        ctx = state("(?!)" if value is None else f"(?:{value})|(?!)")
    except Exception:  # noqa: BLE001 - another JAX: traces may come from the cache
        ctx = contextlib.nullcontext()
    with ctx:
        yield


_STATE_NAME = r"([A-Za-z_]\w*)\.states\[0\]\[(\d+)\](.*)"


def _graph_labels(stage: Any, fn: Any, args: tuple, kwargs: dict) -> tuple[tuple, tuple]:
    """Input and output labels for an ``nnx.jit`` call, whose leaves JAX names by graph index
    (``model.states[0][3]``): the same leaves under their module paths (``model.fc1.kernel``).
    The arguments are flattened the way ``nnx.jit`` does (in order, shared variables once) and
    every leaf's shape and dtype must match the program's input; else ((), ())."""
    import re
    import sys

    nnx = sys.modules.get("flax.nnx")
    if nnx is None:
        return (), ()
    jaxpr = getattr(stage.jaxpr, "jaxpr", stage.jaxpr)
    debug = getattr(jaxpr, "debug_info", None)
    names = tuple(getattr(debug, "arg_names", None) or ())
    results = tuple(getattr(debug, "result_paths", None) or ())
    if not any(isinstance(n, str) and re.fullmatch(_STATE_NAME, n) for n in names):
        return (), ()
    if any(isinstance(n, str) and re.match(r"[A-Za-z_]\w*\.states\[[1-9]", n) for n in names):
        return (), ()  # several state groups (filters): not the plain flat order
    try:
        params = list(inspect.signature(getattr(fn, "fun", fn)).parameters)
        ref_index = nnx.graph.RefMap()
        flat_paths: dict[str, list[tuple[str, Any]]] = {}
        ordered = list(zip(params, args, strict=False)) + list(kwargs.items())
        for name, value in ordered:
            if nnx.graph.is_graph_node(value):
                _gd, flat = nnx.graph.flatten(value, with_paths=True, ref_index=ref_index)
                flat_paths[name] = [(_path_text(path), leaf) for path, leaf in flat]
    except Exception:  # noqa: BLE001
        return (), ()
    renamed = []
    for name, var in zip(names, jaxpr.invars, strict=False):
        m = re.fullmatch(_STATE_NAME, name) if isinstance(name, str) else None
        if m:
            entries = flat_paths.get(m.group(1))
            k = int(m.group(2))
            if entries is None or k >= len(entries) or m.group(3):
                return (), ()
            path, leaf = entries[k]
            leaf = _raw(leaf)
            aval = getattr(var, "aval", None)
            if getattr(leaf, "shape", None) != getattr(aval, "shape", ()) or str(
                getattr(leaf, "dtype", "")
            ) != str(getattr(aval, "dtype", "")):
                return (), ()
            name = f"{m.group(1)}{path}"
        renamed.append(name)
    outs = []
    positional = [n for n, _v in zip(params, args, strict=False)]

    def same_type(entry: tuple[str, Any], var: Any) -> bool:
        leaf, aval = _raw(entry[1]), getattr(var, "aval", None)
        return getattr(leaf, "shape", None) == getattr(aval, "shape", ()) and str(
            getattr(leaf, "dtype", "")
        ) == str(getattr(aval, "dtype", ""))

    for name, var in zip(results, jaxpr.outvars, strict=False):
        text = name
        if isinstance(name, str):
            m = re.fullmatch(r"result\[0\]\[(\d+)\]\.states\[0\]\[(\d+)\]", name)
            k = re.fullmatch(r"result\[1\]\['([^']+)'\]\.states\[0\]\[(\d+)\]", name)
            if m and int(m.group(1)) < len(positional):
                arg = positional[int(m.group(1))]
                entries = flat_paths.get(arg) or []
                i = int(m.group(2))
                if i < len(entries) and same_type(entries[i], var):
                    text = f"{arg}{entries[i][0]} (written back)"
            elif k and k.group(1) in flat_paths:
                entries = flat_paths[k.group(1)]
                i = int(k.group(2))
                if i < len(entries) and same_type(entries[i], var):
                    text = f"{k.group(1)}{entries[i][0]} (written back)"
            elif name.startswith("result[2]"):
                text = "result" + name[len("result[2]") :]
        outs.append(text)
    return tuple(renamed), tuple(outs)


def _raw(leaf: Any) -> Any:
    """A Variable's value (or the raw value itself)."""
    get = getattr(leaf, "get_value", None)
    if callable(get):
        try:
            return get()
        except Exception:  # noqa: BLE001
            return leaf
    return leaf


def _path_text(path: Any) -> str:
    """``('blocks', 1, 'fc1')`` → ``.blocks[1].fc1``."""
    out = []
    for key in path:
        key = getattr(key, "key", getattr(key, "idx", getattr(key, "name", key)))
        if isinstance(key, str) and key.isidentifier():
            out.append(f".{key}")
        else:
            out.append(f"[{key!r}]")
    return "".join(out)


class ModuleNamer:
    """While a trace runs on this thread, every call of an NNX module (its ``__call__`` or another
    public method, such as ``Embed.attend``) opens a ``jax.named_scope`` named after the module's
    path (``model.blocks[1].fc1``), so the jaxpr's equations carry the module that made them in
    their name stack.

    A module's path is exact: the path of the module inside the module whose call is running
    (found in that module's graph), or, at the top, the name of the variable that holds it (or
    holds a graph containing it) in the innermost user frame. A module found neither way is
    named ``<Type>`` (its class, no path). Classes are patched only for the trace and restored
    after (also when it fails); calls on other threads run the original method unchanged."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.paths: set[str] = set()
        self.patched: list[tuple[type, str, Any]] = []  # (class, method name, original)
        self.stack: list[tuple[Any, str]] = []  # (module, its path) of the calls running
        self.locals: dict[Any, dict[str, str]] = {}
        self.maps: dict[int, tuple[Any, dict[int, str]]] = {}
        self.thread = 0
        self.nnx: Any = None

    def name_local(self, code: Any, local: str, name: str) -> None:
        """A jaxinspect wrapper frame: its local ``local`` is what the user called ``name``."""
        self.locals.setdefault(code, {})[local] = name

    def __enter__(self) -> ModuleNamer:
        import sys
        import threading

        global _ACTIVE_NAMER
        nnx = sys.modules.get("flax.nnx")
        if nnx is None or _ACTIVE_NAMER is not None:
            return self
        self.nnx = nnx
        self.thread = threading.get_ident()
        try:
            todo, seen = [nnx.Module], set()
            while todo:
                cls = todo.pop()
                if cls in seen:
                    continue
                seen.add(cls)
                todo.extend(cls.__subclasses__())
                if cls is nnx.Module:
                    continue
                for name, orig in list(cls.__dict__.items()):
                    if (name == "__call__" or not (name.startswith("_") or name in _NOT_COMPUTE)) and (
                        inspect.isfunction(orig)
                    ):
                        type.__setattr__(cls, name, _scoped_call(orig))
                        self.patched.append((cls, name, orig))
            optimizer = getattr(nnx, "Optimizer", None)  # not a Module; its update is a step part
            orig = getattr(optimizer, "__dict__", {}).get("update")
            if inspect.isfunction(orig):
                type.__setattr__(optimizer, "update", _scoped_call(orig))
                self.patched.append((optimizer, "update", orig))
        except Exception:  # noqa: BLE001 - naming is a bonus; never fail the trace for it
            self._restore()
            return self
        _ACTIVE_NAMER = self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _ACTIVE_NAMER
        if _ACTIVE_NAMER is self:
            _ACTIVE_NAMER = None
        self._restore()
        self.maps.clear()
        self.stack.clear()

    def _restore(self) -> None:
        while self.patched:
            cls, name, orig = self.patched.pop()
            try:
                type.__setattr__(cls, name, orig)
            except Exception:  # noqa: BLE001
                pass

    def _map(self, node: Any) -> dict[int, str]:
        entry = self.maps.get(id(node))
        if entry is None or entry[0] is not node:
            found: dict[int, str] = {}
            module = self.nnx.Module
            for path, child in self.nnx.iter_graph(node):
                if isinstance(child, module) and child is not node and id(child) not in found:
                    found[id(child)] = _path_text(path)
            entry = (node, found)
            self.maps[id(node)] = entry
        return entry[1]

    def enter(self, module: Any) -> str | None:
        """The scope name for this call of ``module``, pushed; None: no new scope."""
        if self.stack and self.stack[-1][0] is module:
            return None  # super().__call__ of the same module
        path = None
        for outer, outer_path in reversed(self.stack):
            rel = self._map(outer).get(id(module))
            if rel is not None:
                path = outer_path + rel
                break
        if path is None:
            path = self._frame_name(module) or f"<{type(module).__name__}>"
        self.stack.append((module, path))
        self.paths.add(path)
        return path

    def exit(self) -> None:
        if self.stack:
            self.stack.pop()

    def _frame_name(self, module: Any) -> str | None:
        """The module's name from the innermost user frame that holds it (or a graph holding
        it). Inside a running module's call, that frame is the body of a lifted transform
        (``nnx.scan``/``nnx.remat``/...), which sees a copy of a module of the caller: the copy
        is named after the one module of the same structure that the calling frame holds (or,
        failing that, the one in the running module's graph); without a unique partner it is
        ``function:local``, a name that claims no path."""
        import sys

        frame = sys._getframe(3)
        seen_self = None
        for _ in range(200):
            if frame is None:
                break
            code = frame.f_code
            ours = self.locals.get(code)
            if ours is not None or compilelib.is_user_file(code.co_filename):
                for name, value in frame.f_locals.items():
                    if value is module:
                        if ours is not None and name in ours:
                            return ours[name]
                        if name == "self":
                            seen_self = seen_self or name
                            continue
                        if ours is None:
                            if self.stack:
                                return self._partner(module, frame) or f"{_code_name(code)}:{name}"
                            return name
                for name, value in frame.f_locals.items():
                    if name == "self" or value is module or not self._is_node(value):
                        continue
                    rel = self._map(value).get(id(module))
                    if rel is not None:
                        return (ours.get(name, name) if ours else name) + rel
            frame = frame.f_back
        return seen_self

    def _partner(self, module: Any, inner: Any) -> str | None:
        """The path of the one module of ``module``'s structure in the frame that called the
        lifted transform whose body ``inner`` is (or else in the running module's graph)."""
        frame = inner.f_back
        while frame is not None and not compilelib.is_user_file(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:
            return None
        graphdef = self.nnx.graphdef
        try:
            shape = graphdef(module)
            top, top_path = self.stack[-1]
            local = [
                v
                for n, v in frame.f_locals.items()
                if v is not top and isinstance(v, self.nnx.Module) and graphdef(v) == shape
            ]
            if not local:
                local = [
                    node
                    for path, node in self.nnx.iter_graph(top)
                    if node is not top and isinstance(node, self.nnx.Module) and graphdef(node) == shape
                ]
            if len({id(v) for v in local}) != 1:
                return None
            found = local[0]
            for outer, outer_path in reversed(self.stack):
                if found is outer:
                    return outer_path
                rel = self._map(outer).get(id(found))
                if rel is not None:
                    return outer_path + rel
        except Exception:  # noqa: BLE001
            return None
        return None

    def _is_node(self, value: Any) -> bool:
        try:
            return self.nnx.graph.is_graph_node(value) and not isinstance(value, (list, tuple, dict))
        except Exception:  # noqa: BLE001
            return False


_ACTIVE_NAMER: ModuleNamer | None = None
# Module methods that configure rather than compute: never a scope of their own
_NOT_COMPUTE = frozenset(
    {"set_attributes", "train", "eval", "sow", "perturb", "iter_modules", "iter_children",
     "set_view", "set_mode", "view", "init", "apply", "split", "merge", "update", "replace"}
)  # fmt: skip


def _code_name(code: Any) -> str:
    return str(getattr(code, "co_qualname", code.co_name)).rsplit("<locals>.", 1)[-1]


def _scoped_call(orig: Any) -> Any:
    import functools
    import threading

    @functools.wraps(orig)
    def __call__(self, *args, **kwargs):  # noqa: N807
        namer = _ACTIVE_NAMER
        if namer is None or namer.thread != threading.get_ident():
            return orig(self, *args, **kwargs)
        try:
            path = namer.enter(self)
        except Exception:  # noqa: BLE001
            path = None
        if path is None:
            return orig(self, *args, **kwargs)
        import jax

        try:
            with jax.named_scope(path):
                return orig(self, *args, **kwargs)
        finally:
            namer.exit()

    return __call__


def _rename_inputs(stage: Any, fn: Any, label: str, wrapped: Any) -> tuple:
    """Input labels in the user's terms when jaxinspect wrapped the call: the module's own
    leaves under the expression that named it, positional arguments under their parameter names."""
    if wrapped is None:
        return ()
    import re

    debug = getattr(getattr(stage.jaxpr, "jaxpr", stage.jaxpr), "debug_info", None)
    names = tuple(getattr(debug, "arg_names", None) or ())
    if not names:
        return ()
    first, func, skip = wrapped
    try:
        params = [p.name for p in inspect.signature(func).parameters.values()][skip:]
    except (TypeError, ValueError):
        params = []
    owner = label.rsplit(".", 1)[0] if first == "self" and "." in label else label
    out = []
    for name in names:
        if not isinstance(name, str):
            out.append(name)
            continue
        if name == first or name.startswith((first + ".", first + "[")):
            name = owner + name[len(first) :]
        else:
            m = re.match(r"a\[(\d+)\]", name)
            if m and int(m.group(1)) < len(params):
                name = params[int(m.group(1))] + name[m.end() :]
            else:
                m = re.match(r"k\['([^']+)'\]", name)
                if m:
                    name = m.group(1) + name[m.end() :]
        out.append(name)
    return tuple(out)


def _static(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return _Box(value)


def _named(wrapper: Any, fn: Any) -> Any:
    name = _callable_name(fn)
    try:
        wrapper.__name__ = wrapper.__qualname__ = name.replace(".", "_") or "call"
    except (AttributeError, TypeError):
        pass
    return wrapper


def callable_name(fn: Any) -> str:
    """A readable name for a callable (or what stands in its place); never raises."""
    try:
        return _callable_name(fn)
    except Exception:  # noqa: BLE001
        return type(fn).__name__


def _callable_name(fn: Any) -> str:
    for attr in ("__qualname__", "__name__"):
        name = getattr(fn, attr, None)
        if isinstance(name, str):
            return name.rsplit("<locals>.", 1)[-1]
    inner = getattr(fn, "func", None)
    if inner is not None:
        return _callable_name(inner)
    return type(fn).__name__


# -- failures ------------------------------------------------------------------------------------

_HINTS = {
    "TracerBoolConversionError": (
        "Python `if`/`while`/`and`/`or` on a traced value: use jnp.where, jax.lax.cond or "
        "jax.lax.while_loop, or make that argument static (jax.jit(f, static_argnames=...))."
    ),
    "ConcretizationTypeError": (
        "a concrete value was needed where a traced one was given: make that argument static "
        "(jax.jit(f, static_argnames=...)), or use a shape-polymorphic jnp/lax function."
    ),
    "TracerIntegerConversionError": (
        "int() / indexing with a traced value: use jax.lax.dynamic_slice or make the argument static."
    ),
    "TracerArrayConversionError": (
        "a traced value was converted to a NumPy array: use jax.numpy instead of numpy inside "
        "the function, or jax.pure_callback for host code."
    ),
    "TraceContextError": (
        "Flax: a Variable would be changed from inside a trace it does not belong to (a module "
        "captured by a closure or nnx.cached_partial, traced inside another jit): trace the "
        "nnx.jit function itself with the module as an argument, e.g. jaxinspect.jaxpr(step, model, x)."
    ),
    "UnexpectedTracerError": (
        "a tracer escaped a previous trace (stored on self or a global): return values instead "
        "of storing them."
    ),
}


def describe_failure(exc: BaseException, label: str, stage: str = "tracing") -> str:
    """One readable message for a failed trace/lower/compile: what, where, and the hint."""
    kind = type(exc).__name__
    text = str(exc).strip()
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    see = [ln.strip() for ln in lines if ln.strip().startswith(("See http", "See https"))]
    body = [
        ln
        for ln in lines
        if not ln.strip().startswith(("See http", "----", "For simplicity, JAX", "The stack trace"))
    ]
    shown = body[:8]
    message = "\n    ".join(shown) if shown else "(no message)"
    if len(message) > 1200:
        message = message[:1199] + "…"
    more = f"\n    … {len(body) - len(shown)} more lines" if len(body) > len(shown) else ""
    out = [f"{PREFIX.get()}: {stage} `{label}` failed: {kind}: {message}{more}"]
    where = _user_frame_of(exc)
    if where:
        out.append(f"  at {where}")
    hint = _HINTS.get(kind)
    if hint is None and kind == "TypeError" and "cannot create weak reference" in text:
        hint = (
            f"jit traces Python functions, and `{label}` is not one: wrap it, e.g. "
            f"{PREFIX.get()}(lambda x: {label}(x), x), using jax.numpy inside."
        )
    if hint:
        out.append(f"  hint: {hint}")
    if see:
        out.append(f"  {see[0]}")
    return "\n".join(out)


def _user_frame_of(exc: BaseException) -> str | None:
    """The innermost traceback frame in the user's code (a cell, or a file outside
    site-packages / JAX / jaxinspect), as "cell [3] line 4 in f: `source line`"."""
    best = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if compilelib.is_user_file(filename):
            best = (filename, tb.tb_lineno, tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if best is None:
        return None
    filename, lineno, func = best
    cell = compilelib.cell_number(compilelib.collector().cell_of, filename)
    place = units.location(f"{compilelib.short_path(filename)}:{lineno}", cell)
    line = linecache.getline(filename, lineno).strip()
    return f"{place} in {func}" + (f": `{line}`" if line else "")


# -- lowered / compiled ------------------------------------------------------------------------


def cost(traced: TracedCall) -> CostRecord:
    """Cost and memory analysis of the compiled program (fields None where XLA gives nothing)."""
    compiled = traced.compiled()
    notes = []
    analysis = None
    try:
        analysis = compiled.cost_analysis()
    except Exception as exc:  # noqa: BLE001
        notes.append(f"cost_analysis() raised {type(exc).__name__}: {exc}")
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
        analysis = analysis[0] if analysis else None
    if analysis is None and not notes:
        notes.append("this backend gives no cost analysis")
    memory = None
    try:
        memory = compiled.memory_analysis()
    except Exception as exc:  # noqa: BLE001
        notes.append(f"memory_analysis() raised {type(exc).__name__}: {exc}")
    if memory is None and not any("memory" in n for n in notes):
        notes.append("this backend gives no memory analysis")

    def num(key: str) -> float | None:
        if not isinstance(analysis, dict):
            return None
        value = analysis.get(key)
        return float(value) if isinstance(value, (int, float)) and value >= 0 else None

    def mem(attr: str) -> int | None:
        value = getattr(memory, attr, None)
        return int(value) if isinstance(value, (int, float)) and value >= 0 else None

    backend = None
    try:
        devices = list(compiled.input_shardings[0][0].device_set) if compiled.input_shardings[0] else []
        backend = devices[0].platform if devices else None
    except Exception:  # noqa: BLE001
        backend = None
    return CostRecord(
        flops=num("flops"),
        transcendentals=num("transcendentals"),
        bytes_accessed=num("bytes accessed"),
        optimal_seconds=num("optimal_seconds"),
        argument_bytes=mem("argument_size_in_bytes"),
        output_bytes=mem("output_size_in_bytes"),
        temp_bytes=mem("temp_size_in_bytes"),
        alias_bytes=mem("alias_size_in_bytes"),
        generated_code_bytes=mem("generated_code_size_in_bytes"),
        backend=backend,
        note="; ".join(notes) or None,
    )


def stablehlo_text(traced: TracedCall) -> str:
    text = traced.lowered().as_text()
    return text if isinstance(text, str) else "(unavailable: lowering gave no text)"


def hlo_text(traced: TracedCall) -> str:
    text = traced.compiled().as_text()
    return text if isinstance(text, str) else "(unavailable: this backend gives no compiled HLO text)"


# -- re-tracing a recompile: the jaxpr diff behind a compile event ------------------------------


def _abstract_leaf(leaf: Any) -> Any:
    import jax
    import jax.numpy as jnp

    if leaf.shape is None:
        raise TraceFailure(
            f"`{leaf.path}` was a {leaf.python_type}, which cannot be rebuilt without the call's values"
        )
    if leaf.python_type is not None:
        dtype = {"bool": jnp.bool_, "int": jnp.int32, "float": jnp.float32, "complex": jnp.complex64}
        return jax.ShapeDtypeStruct((), dtype.get(leaf.python_type, jnp.float32), weak_type=True)
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, weak_type=leaf.weak_type)


def abstract_call(sig: Any) -> tuple[tuple, dict]:
    """The call a signature describes, with ``ShapeDtypeStruct`` for every traced leaf and the
    remembered value of every static argument."""
    import re

    if sig.truncated or not sig.layout:
        raise TraceFailure("this call's signature was not fully recorded (too many leaves)")
    leaves = iter(sig.leaves)
    treedefs = iter(sig.treedefs)
    statics = dict(sig.static)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, positional, static in sig.layout:
        if static:
            value = statics[name]
        else:
            _n, treedef = next(treedefs)
            value = treedef.unflatten([_abstract_leaf(next(leaves)) for _ in range(treedef.num_leaves)])
        if positional:
            args.append(value)
        else:
            m = re.fullmatch(r"\w+\['(.+)'\]", name)  # a **kwargs entry
            kwargs[m.group(1) if m else name] = value
    return tuple(args), kwargs


def retrace_event(event_id: int, fun_name: str | None = None) -> tuple[TracedCall, TracedCall]:
    """Re-trace the previous call and this call of a recompile event, from their recorded
    signatures (shapes, dtypes, weak types, static values; shardings are not rebuilt)."""
    import jax

    pair = compilelib.collector().pair_for(event_id)
    if pair is None:
        raise TraceFailure(
            f"no jaxpr diff for compile #{event_id}: only recompiles (not first calls or "
            f"JAX-internal compiles) of the last {compilelib.PAIRS_KEPT} events can be diffed"
        )
    traced = []
    for entry, when in zip(pair, ("before", "after"), strict=True):
        fun = entry[4]()
        if fun is None:
            raise TraceFailure(
                f"`{fun_name or 'the function'}` no longer exists (it was deleted or redefined)"
            )
        fun_name = fun_name or _callable_name(entry[0]() or fun)
        static_argnums, static_argnames = entry[3]
        args, kwargs = abstract_call(entry[2])
        jitted = jax.jit(fun, static_argnums=static_argnums, static_argnames=static_argnames)
        traced.append(trace_call(jitted, args, kwargs, label=f"{fun_name} ({when})"))
    return traced[0], traced[1]
