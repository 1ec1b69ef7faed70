"""PRNG key data flow read from a jaxpr: where keys are split, folded and consumed, and which key
is consumed twice — found statically, before anything runs.

The rules follow JAX's own key-reuse checker (``jax.experimental.key_reuse``): ``random_bits`` and
``random_split`` (and any unknown primitive taking a typed key) consume their key; ``random_fold_in``,
``random_clone``, ``random_seed`` and ``random_wrap`` make new keys without consuming; reshapes,
copies and sharding constraints forward a key unchanged; a static slice of a key array is its own
key, so ``keys[0]`` and ``keys[1]`` are different keys but ``keys[0]`` twice is the same one. Unlike
JAX's checker this also follows raw ``uint32`` keys: ``random_wrap`` of the same raw value twice is
the same key. Loops: a key consumed in a scan/while body that is not replaced in the carry (or is a
loop constant) is reused on every iteration.

Runs on the user's thread (``%jaxpr``, or when jit traces while key tracking is on). Never raises:
an unexpected jaxpr shape stops the walk and marks the result partial.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..records import KeyFinding, KeyFlow

MAX_EQNS = 200_000  # equations visited (inlined calls count each time) before giving up
MAX_FINDINGS = 50
FORWARD = frozenset(
    {"copy", "copy_p", "convert_element_type", "reshape", "squeeze", "sharding_constraint",
     "layout_constraint", "reshard", "device_put", "broadcast_in_dim", "optimization_barrier",
     "stage"}
)  # fmt: skip
STATIC_VIEWS = frozenset({"slice", "dynamic_slice", "gather", "index_in_dim", "unstack"})
CALLS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
NEUTRAL = frozenset({"eq", "ne", "random_unwrap", "debug_callback", "random_key_impl"})


class _Key:
    __slots__ = ("id", "parent", "label", "consumed", "below", "views", "typed", "origin")

    def __init__(self, kid: int, label: str, parent: _Key | None = None) -> None:
        self.id = kid
        self.parent = parent
        self.label = label
        # the key this one was made from by folding in a constant (or cloning): the same bits
        # on every call of the program, so consuming this one consumes that one's bits per call
        self.origin: _Key | None = None
        self.consumed: tuple[str, str | None] | None = None  # (op, site) of the first use
        self.below: tuple[str, str | None] | None = None  # first use of a part of this key
        self.views: dict[Any, _Key] = {}


def _is_key_aval(aval: Any) -> bool:
    dtype = getattr(aval, "dtype", None)
    return dtype is not None and "key<" in str(dtype)


def _jaxpr_types() -> tuple:
    from . import compat

    return compat.jaxpr_api()["jaxpr_types"]


def _open(j: Any) -> Any:
    return getattr(j, "jaxpr", j)


def _is_var(v: Any) -> bool:
    return hasattr(v, "aval") and not hasattr(v, "val")


def _op_name(prim: str, eqn: Any) -> tuple[str, bool]:
    """(a reader's name, whether it is one of JAX's own helpers) of a call-chain equation."""
    if prim in ("pjit", "jit", "closed_call"):
        name = eqn.params.get("name")
        if isinstance(name, str):
            return name.lstrip("_"), name.startswith("_")
    if prim.startswith("random_"):
        return prim[7:], True
    return prim, False


def keyish(aval: Any) -> bool:
    """A typed key, or a uint32 array shaped like raw key data (``PRNGKey``: [..., 2])."""
    if _is_key_aval(aval):
        return True
    shape = getattr(aval, "shape", None)
    return str(getattr(aval, "dtype", "")) == "uint32" and bool(shape) and shape[-1] in (2, 4)


class Analyzer:
    def __init__(self, source_of: Callable[[Any], str | None]) -> None:
        self.source_of = source_of
        self.types = _jaxpr_types()
        self.env: dict[Any, _Key] = {}
        self.wrapped: dict[Any, _Key] = {}
        self.findings: list[KeyFinding] = []
        self.seen_findings: set = set()
        self.marks: dict[tuple[int, int], list[str]] = {}
        self.journal: list[tuple[_Key, str, Any]] = []
        self.next_id = 0
        self.visited = 0
        self.partial = False
        self.splits = self.folds = self.consumes = 0
        self.chain: list[tuple[Any, int, Any]] = []  # (inner jaxpr, eqn index, eqn) being inlined
        self.per_call: set[int] = set()  # ids of keys consumed through a constant fold_in / clone

    # -- keys ---------------------------------------------------------------------------------
    def new(self, label: str, parent: _Key | None = None) -> _Key:
        self.next_id += 1
        return _Key(self.next_id, label, parent)

    def set(self, key: _Key, attr: str, value: Any) -> None:
        self.journal.append((key, attr, getattr(key, attr)))
        setattr(key, attr, value)

    def view(self, key: _Key, how: Any, label: str) -> _Key:
        child = key.views.get(how)
        if child is None:
            child = self.new(label, key)
            key.views[how] = child
        return child

    def site(self) -> str | None:
        """The innermost user source line of the equation chain being walked."""
        for _inner, _i, eqn in reversed(self.chain):
            text = self.source_of(eqn)
            if text:
                return text
        return None

    def op(self) -> str:
        """A reader's name for the use: the user-level call chain down to the first of JAX's
        own helpers (``step → normal``)."""
        out: list[str] = []
        for _inner, _i, eqn in self.chain:
            name, internal = _op_name(eqn.primitive.name, eqn)
            if not out or out[-1] != name:
                out.append(name)
            if internal:
                break
        return " → ".join(out[-3:]) if out else "?"

    def mark(self, text: str) -> None:
        for inner, i, _eqn in self.chain:
            notes = self.marks.setdefault((id(inner), i), [])
            if text not in notes and len(notes) < 4:
                notes.append(text)

    def consume(self, key: _Key, what: str) -> None:
        op, site = self.op(), self.site()
        self.consumes += 1
        k: _Key | None = key
        while k is not None:
            if k.origin is not None:
                self.per_call.add(id(k.origin))
                break
            k = k.parent
        conflict, how = None, ""
        if key.consumed is not None:
            conflict, how = key.consumed, "consumed twice"
        elif key.below is not None:
            conflict, how = key.below, "consumed after a part of it was used"
        else:
            p = key.parent
            while p is not None:
                if p.consumed is not None:
                    conflict, how = p.consumed, "consumed after its parent was used"
                    break
                p = p.parent
        if conflict is not None:
            if what == "split" and how == "consumed twice":
                how = "consumed then split" if conflict[0] != "split" else "split twice"
            self.finding(how, key, conflict, (op, site))
            self.mark(f"REUSE of {key.label}: first {conflict[0]} at {conflict[1] or '?'}")
            return
        self.set(key, "consumed", (op, site))
        p = key.parent
        while p is not None and p.below is None:
            self.set(p, "below", (op, site))
            p = p.parent
        self.mark(f"{'splits' if what == 'split' else 'consumes'} {key.label}")

    def finding(self, how: str, key: _Key, first: tuple, second: tuple) -> None:
        dedupe = (how, key.id, first, second)
        if dedupe in self.seen_findings or len(self.findings) >= MAX_FINDINGS:
            return
        self.seen_findings.add(dedupe)
        message = (
            f"{key.label} {how}: first {first[0]} at {first[1] or 'an unknown line'}, "
            f"then {second[0]} at {second[1] or 'an unknown line'}"
        )
        self.findings.append(KeyFinding(how, key.label, first[0], first[1], second[0], second[1], message))

    # -- walking ------------------------------------------------------------------------------
    def run(self, jaxpr: Any, in_labels: tuple = ()) -> KeyFlow:
        inner = _open(jaxpr)
        inputs = []
        for i, v in enumerate(inner.invars):
            if keyish(v.aval):
                label = in_labels[i] if i < len(in_labels) and in_labels[i] else f"input {i}"
                self.env[v] = self.new(str(label))
                inputs.append(str(label))
        for i, v in enumerate(inner.constvars):
            if _is_key_aval(v.aval):
                self.env[v] = self.new(f"constant {i}")
        self.labels = {v: (in_labels[i] if i < len(in_labels) and in_labels[i] else f"input {i}")
                       for i, v in enumerate(inner.invars)}  # fmt: skip
        try:
            self.body(inner)
        except _Stop:
            self.partial = True
        return KeyFlow(
            inputs=tuple(inputs),
            splits=self.splits,
            folds=self.folds,
            consumes=self.consumes,
            findings=tuple(self.findings),
            marks=(),
            partial=self.partial,
        )

    def body(self, inner: Any) -> None:
        for i, eqn in enumerate(inner.eqns):
            self.visited += 1
            if self.visited > MAX_EQNS:
                raise _Stop
            self.chain.append((inner, i, eqn))
            try:
                self.eqn(eqn)
            finally:
                self.chain.pop()

    def get(self, v: Any) -> _Key | None:
        if not _is_var(v):
            return None
        try:
            return self.env.get(v)
        except TypeError:
            return None

    def eqn(self, eqn: Any) -> None:
        prim = eqn.primitive.name
        ins = [self.get(v) for v in eqn.invars]
        outs = eqn.outvars
        if not any(k is not None for k in ins) and prim not in ("random_wrap", "random_seed"):
            if not self._has_sub(eqn):
                return
        if prim == "random_wrap":
            src = eqn.invars[0]
            key = ins[0]
            if key is None:
                try:
                    key = self.wrapped.get(src)
                except TypeError:
                    key = None
                if key is None:
                    label = self.labels.get(src) if _is_var(src) and src in self.labels else None
                    key = self.new(str(label) if label else f"wrap#{self.next_id + 1}")
                    try:
                        self.wrapped[src] = key
                    except TypeError:
                        pass
            self.bind(outs[0], key)
        elif prim == "random_unwrap":
            if ins[0] is not None:
                self.bind(outs[0], ins[0])
        elif prim == "random_seed":
            self.bind(outs[0], self.new(f"seed#{self.next_id + 1}"))
        elif prim == "random_split":
            key = ins[0]
            if key is not None:
                self.splits += 1
                self.consume(key, "split")
                self.bind(outs[0], self.new(f"split({key.label})", None))
        elif prim == "random_fold_in":
            key = ins[0]
            if key is not None:
                self.folds += 1
                self.mark(f"folds {key.label}")
                folded = self.new(f"fold_in({key.label})", None)
                if len(eqn.invars) > 1 and not _is_var(eqn.invars[1]):  # a constant folded in
                    folded.origin = key.origin or key
                self.bind(outs[0], folded)
        elif prim in ("random_clone", "random_clone_p"):
            if ins[0] is not None:
                cloned = self.new(f"clone({ins[0].label})", None)
                cloned.origin = ins[0].origin or ins[0]
                self.bind(outs[0], cloned)
        elif prim in FORWARD:
            for k, o in zip(ins, outs, strict=False):
                if k is not None:
                    self.bind(o, k)
        elif prim in STATIC_VIEWS:
            self.views(prim, eqn, ins)
        elif prim in NEUTRAL:
            pass
        elif prim in ("pjit", "jit", "closed_call", "core_call", "remat", "checkpoint",
                      "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr",
                      "shard_map", "xla_pmap", "custom_lin"):  # fmt: skip
            self.call(eqn, ins)
        elif prim == "cond":
            self.cond(eqn, ins)
        elif prim == "scan":
            self.scan(eqn, ins)
        elif prim == "while":
            self.while_(eqn, ins)
        else:
            # random_bits, random_gamma, and anything unknown: typed keys are consumed
            for v, k in zip(eqn.invars, ins, strict=False):
                if k is not None and _is_key_aval(v.aval):
                    self.consume(k, "use")

    def bind(self, var: Any, key: _Key) -> None:
        try:
            self.env[var] = key
        except TypeError:
            pass

    def _has_sub(self, eqn: Any) -> bool:
        for name in CALLS + ("branches", "body_jaxpr"):
            if name in eqn.params:
                return True
        return False

    def views(self, prim: str, eqn: Any, ins: list) -> None:
        key = ins[0]
        if key is None:
            return
        if prim == "slice":
            how = ("slice", tuple(eqn.params.get("start_indices", ())),
                   tuple(eqn.params.get("limit_indices", ())))  # fmt: skip
            start = how[1][0] if how[1] else 0
            self.bind(eqn.outvars[0], self.view(key, how, f"{key.label}[{start}]"))
        elif prim == "unstack":
            for i, o in enumerate(eqn.outvars):
                self.bind(o, self.view(key, ("slice", (i,), (i + 1,)), f"{key.label}[{i}]"))
        else:
            # indices only known at run time: the part is a key of its own, never equal to another
            self.bind(eqn.outvars[0], self.new(f"{key.label}[?]", key))

    # -- calls and control flow --------------------------------------------------------------
    def _sub_jaxpr(self, eqn: Any) -> Any:
        for name in CALLS:
            sub = eqn.params.get(name)
            if isinstance(sub, self.types):
                return sub
        return None

    def call(self, eqn: Any, ins: list) -> None:
        sub = self._sub_jaxpr(eqn)
        if sub is None:
            return self._consume_typed(eqn, ins)
        inner = _open(sub)
        if len(inner.invars) != len(ins):
            return self._consume_typed(eqn, ins)
        outs = self.inline(inner, ins)
        for o, k in zip(eqn.outvars, outs, strict=False):
            if k is not None:
                self.bind(o, k)
        return None

    def inline(self, inner: Any, ins: list, fresh: dict[int, _Key] | None = None) -> list:
        for v, k in zip(inner.invars, ins, strict=False):
            if k is not None:
                self.bind(v, k)
            elif fresh and id(v) in fresh:
                self.bind(v, fresh[id(v)])
            elif keyish(v.aval):
                self.bind(v, self.new(f"arg#{self.next_id + 1}"))
        for v in inner.constvars:
            if _is_key_aval(v.aval) and self.get(v) is None:
                self.bind(v, self.new(f"constant#{self.next_id + 1}"))
        self.body(inner)
        return [self.get(v) for v in inner.outvars]

    def _consume_typed(self, eqn: Any, ins: list) -> None:
        for v, k in zip(eqn.invars, ins, strict=False):
            if k is not None and _is_key_aval(v.aval):
                self.consume(k, "use")

    def cond(self, eqn: Any, ins: list) -> None:
        branches = eqn.params.get("branches") or ()
        ops = ins[1:]
        start = len(self.journal)
        effects: list[tuple[_Key, str, Any]] = []
        results = []
        for br in branches:
            inner = _open(br)
            if len(inner.invars) != len(ops):
                return self._consume_typed(eqn, ins)
            results.append(self.inline(inner, ops))
            effects.extend((k, a, getattr(k, a)) for k, a, _old in self.journal[start:])
            for k, a, old in reversed(self.journal[start:]):  # each branch starts from the same state
                setattr(k, a, old)
            del self.journal[start:]
        for k, a, value in effects:  # afterwards: what any branch used counts as used
            if getattr(k, a) is None and value is not None:
                self.set(k, a, value)
        for j, o in enumerate(eqn.outvars):
            keys = {id(r[j]): r[j] for r in results if j < len(r) and r[j] is not None}
            if len(keys) == 1 and all(j < len(r) and r[j] is not None for r in results):
                self.bind(o, next(iter(keys.values())))
            elif keys or _is_key_aval(o.aval):
                self.bind(o, self.new(f"cond output#{self.next_id + 1}"))
        return None

    def _loop(self, eqn: Any, inner: Any, consts: list, carry: list, xs: list, what: str) -> list:
        """Walk a loop body once; flag keys it consumes that the next iteration sees again."""
        before = len(self.journal)
        consts = [k if k is not None or not keyish(v.aval) else self.new(f"{what} constant#{self.next_id + 1}")
                  for k, v in zip(consts, inner.invars, strict=False)]  # fmt: skip
        carry = [k if k is not None or not keyish(v.aval) else self.new(f"{what} carry#{self.next_id + 1}")
                 for k, v in zip(carry, inner.invars[len(consts):], strict=False)]  # fmt: skip
        fresh = {id(v): self.new(f"{what} slice#{self.next_id + 1}")
                 for v in inner.invars[len(consts) + len(carry):]}  # fmt: skip
        outs = self.inline(inner, consts + carry + [None] * len(xs), fresh)
        used = {id(k): k for k, a, _old in self.journal[before:] if a == "consumed"}
        carried_out = outs[: len(carry)]
        for i, k in enumerate(consts + carry):
            if k is None or id(k) not in used:
                continue
            is_const = i < len(consts)
            if not is_const and carried_out[i - len(consts)] is not k and not _within(carried_out[i - len(consts)], k):
                continue  # the body hands the next iteration a new key
            first = k.consumed or ("?", None)
            where = "a loop constant" if is_const else "the loop carry"
            self.finding(
                f"consumed on every {what} iteration",
                k,
                first,
                (f"next {what} iteration ({where})", first[1]),
            )
        return outs

    def scan(self, eqn: Any, ins: list) -> None:
        p = eqn.params
        inner = _open(p.get("jaxpr"))
        n_consts, n_carry = p.get("num_consts"), p.get("num_carry")
        if n_consts is None or n_carry is None:
            ft = p.get("ft_in")
            try:
                n_consts, n_carry, _ = (len(g) for g in ft.unpack())
            except Exception:  # noqa: BLE001
                return self._consume_typed(eqn, ins)
        if inner is None or len(inner.invars) != len(ins):
            return self._consume_typed(eqn, ins)
        consts, carry, xs = ins[:n_consts], ins[n_consts : n_consts + n_carry], ins[n_consts + n_carry :]
        outs = self._loop(eqn, inner, consts, carry, xs, "scan")
        for j, o in enumerate(eqn.outvars):
            k = outs[j] if j < n_carry and j < len(outs) else None
            if k is not None:
                self.bind(o, k)
            elif _is_key_aval(o.aval):
                self.bind(o, self.new(f"scan output#{self.next_id + 1}"))
        return None

    def while_(self, eqn: Any, ins: list) -> None:
        p = eqn.params
        cn, bn = p.get("cond_nconsts", 0), p.get("body_nconsts", 0)
        body = _open(p.get("body_jaxpr"))
        carry = ins[cn + bn :]
        if body is None or len(body.invars) != bn + len(carry):
            return self._consume_typed(eqn, ins)
        outs = self._loop(eqn, body, ins[cn : cn + bn], carry, [], "while")
        for o, k in zip(eqn.outvars, outs, strict=False):
            if k is not None:
                self.bind(o, k)
        return None


def _within(key: _Key | None, ancestor: _Key) -> bool:
    while key is not None:
        if key is ancestor:
            return True
        key = key.parent
    return False


class _Stop(Exception):
    pass


def has_keys(jaxpr: Any, limit: int = MAX_EQNS) -> bool:
    """A quick scan (each nested body once): does the program take, make or use a PRNG key?"""
    types = _jaxpr_types()
    seen: set[int] = set()
    stack = [_open(jaxpr)]
    visited = 0
    while stack:
        inner = stack.pop()
        if id(inner) in seen:
            continue
        seen.add(id(inner))
        if any(keyish(v.aval) for v in inner.invars) or any(_is_key_aval(v.aval) for v in inner.constvars):
            return True
        for eqn in inner.eqns:
            visited += 1
            if visited > limit or eqn.primitive.name.startswith("random_"):
                return True
            for value in eqn.params.values():
                if isinstance(value, types):
                    stack.append(_open(value))
                elif isinstance(value, (tuple, list)):
                    stack.extend(_open(v) for v in value if isinstance(v, types))
    return False


def consumed_inputs(jaxpr: Any) -> tuple[int, ...]:
    """Indices of the inputs the program consumes as keys on every call — split or drawn from,
    directly, through a view (``keys[0]``), or through a constant folded in (Linen's
    ``fold_in(rng, hash(module path))``, the same bits each call); a key folded with a value
    that changes per call (``fold_in(key, step)``) is not consumed. Used to record, per call of
    a compiled function, a use of each key it consumes. Never raises: a program it cannot read
    consumes nothing."""
    analyzer = Analyzer(lambda eqn: None)
    try:
        analyzer.run(jaxpr)
        inner = _open(jaxpr)
        out = []
        for i, v in enumerate(inner.invars):
            key = analyzer.get(v)
            if key is not None and (
                key.consumed is not None or key.below is not None or id(key) in analyzer.per_call
            ):
                out.append(i)
        return tuple(out)
    except Exception:  # noqa: BLE001
        return ()


def analyze(
    jaxpr: Any,
    source_of: Callable[[Any], str | None],
    in_labels: tuple = (),
    body_index: Callable[[int], int | None] | None = None,
) -> KeyFlow | None:
    """The key flow of a (closed) jaxpr, or None when it has no keys at all. ``source_of(eqn)``
    names an equation's user line; ``body_index(id(inner jaxpr))`` maps marks to a doc's bodies."""
    analyzer = Analyzer(source_of)
    try:
        flow = analyzer.run(jaxpr, in_labels)
    except Exception:  # noqa: BLE001 - a jaxpr shape we do not know: say less, never fail
        return None
    if not (flow.inputs or flow.splits or flow.folds or flow.consumes or analyzer.wrapped):
        return None
    marks = []
    if body_index is not None:
        for (jid, i), notes in analyzer.marks.items():
            b = body_index(jid)
            if b is not None:
                marks.append((b, i, "; ".join(notes)))
        marks.sort()
    return dataclasses.replace(flow, marks=tuple(marks))
