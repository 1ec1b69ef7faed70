"""Jaxprs: trace a call the way ``jit`` would, and turn the jaxpr into records.

Runs on the user's thread only (``%jaxpr`` / ``jaxinspect.jaxpr``); it may import.
"""

from __future__ import annotations

import dataclasses
import inspect
import linecache
import os
from collections import Counter
from typing import Any

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
            text = str(stack)
            cached = tuple(p for p in text.split("/") if p) if text else ()
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
        return JaxprDoc(title=title, bodies=tuple(bodies), stats=stats)


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
    """``eqn -> "cell [3]:4 (fn)"`` (its first user frame), or None; cached per traceback."""
    sourcer = _Builder(True, cell_of)
    return lambda eqn: sourcer.source(eqn.source_info)


# -- tracing a call ------------------------------------------------------------------------------


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

    def __init__(self, stage: Any, label: str, labels: tuple = ()) -> None:
        self.stage = stage
        self.label = label
        self.labels = labels
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

    label = label or _callable_name(fn)
    if not callable(fn):
        raise TraceFailure(
            f"%jaxpr: `{label}` is a {type(fn).__name__}, not something to call. "
            "Give a call expression such as `f(x, y)`."
        )
    with compilelib.collector().quiet():
        try:
            wrapped = None
            if callable(getattr(fn, "trace", None)) and callable(getattr(fn, "lower", None)):
                stage = fn.trace(*args, **kwargs)
            else:
                target, args2 = fn, tuple(args)
                self_obj = getattr(fn, "__self__", None)
                if self_obj is not None and not isinstance(self_obj, type) and _holds_arrays(self_obj):
                    func = fn.__func__
                    target, args2 = _named(lambda self, *a, **k: func(self, *a, **k), fn), (self_obj, *args2)
                    wrapped = ("self", func, 1)
                elif not inspect.isroutine(fn) and _holds_arrays(fn):
                    target, args2 = _named(lambda model, *a, **k: model(*a, **k), fn), (fn, *args2)
                    wrapped = ("model", type(fn).__call__, 1)
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
        except Exception as exc:  # noqa: BLE001
            raise TraceFailure(describe_failure(exc, label, "tracing")) from None
    return TracedCall(stage, label, _rename_inputs(stage, fn, label, wrapped))


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
    out = [f"%jaxpr: {stage} `{label}` failed: {kind}: {message}{more}"]
    where = _user_frame_of(exc)
    if where:
        out.append(f"  at {where}")
    hint = _HINTS.get(kind)
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
    place = f"cell [{cell}] line {lineno}" if cell is not None else f"{compilelib.short_path(filename)}:{lineno}"
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
