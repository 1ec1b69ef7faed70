"""Align two jaxprs (records only, no JAX): which equations and inputs are the same, changed,
added or removed. The natural way to see why two calls compiled differently."""

from __future__ import annotations

import difflib

from ..records import JaxprBody, JaxprDiff, JaxprDiffRow, JaxprDoc, JaxprEqn, JaxprIODiff


class _Sigs:
    """Structural signatures of equations and bodies, ignoring variable names."""

    def __init__(self, doc: JaxprDoc) -> None:
        self.doc = doc
        self.bodies: dict[int, tuple] = {}

    def body(self, index: int) -> tuple:
        sig = self.bodies.get(index)
        if sig is None:
            self.bodies[index] = ()  # recursion guard
            body: JaxprBody = self.doc.bodies[index]
            sig = (
                tuple(t for _n, t in body.invars),
                tuple(self.eqn(e) for e in body.eqns),
                tuple(t for _n, t, _l in body.outvars),
            )
            self.bodies[index] = sig
        return sig

    def eqn(self, e: JaxprEqn) -> tuple:
        return (
            e.prim,
            e.params,
            tuple(t for _n, t in e.outs),
            tuple((t, n if lit else None) for n, t, lit in e.ins),
            tuple((k, self.body(i)) for k, i in e.subs),
        )


def _what(a: JaxprEqn, b: JaxprEqn, sa: _Sigs, sb: _Sigs) -> tuple[str, ...]:
    what = []
    if tuple(t for _n, t in a.outs) != tuple(t for _n, t in b.outs) or tuple(
        t for _n, t, _l in a.ins
    ) != tuple(t for _n, t, _l in b.ins):
        what.append("types")
    if a.params != b.params:
        what.append("params")
    if tuple(n for n, _t, lit in a.ins if lit) != tuple(n for n, _t, lit in b.ins if lit):
        what.append("literals")
    if tuple(sa.body(i) for _k, i in a.subs) != tuple(sb.body(i) for _k, i in b.subs):
        what.append("nested")
    return tuple(what)


def _io(a: tuple, b: tuple) -> tuple[JaxprIODiff, ...]:
    rows = []
    for i in range(max(len(a), len(b))):
        la, ta = a[i] if i < len(a) else (None, None)
        lb, tb = b[i] if i < len(b) else (None, None)
        label = la if la is not None else lb
        if la is not None and lb is not None and la != lb:
            label = f"{la} / {lb}"
        if ta is None:
            status = "added"
        elif tb is None:
            status = "removed"
        else:
            status = "same" if ta == tb else "changed"
        rows.append(JaxprIODiff(status, str(label), ta, tb))
    return tuple(rows)


MATCH_CELLS = 4_000_000  # len(a) × len(b) above which the middle is aligned greedily
LOOKAHEAD = 64  # equations searched ahead for a partner of the same primitive


def _opcodes(a: list, b: list) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes, in linear time for the common prefix and suffix; the differing middle
    gets difflib only while that stays cheap (its worst case is quadratic, minutes for two
    20 000-equation programs), else one greedy "replace" block."""
    n = min(len(a), len(b))
    p = 0
    while p < n and a[p] == b[p]:
        p += 1
    q = 0
    while q < n - p and a[len(a) - 1 - q] == b[len(b) - 1 - q]:
        q += 1
    mid_a, mid_b = a[p : len(a) - q], b[p : len(b) - q]
    ops: list[tuple[str, int, int, int, int]] = []
    if p:
        ops.append(("equal", 0, p, 0, p))
    if mid_a or mid_b:
        if len(mid_a) * len(mid_b) <= MATCH_CELLS:
            matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
            ops += [(op, i1 + p, i2 + p, j1 + p, j2 + p) for op, i1, i2, j1, j2 in matcher.get_opcodes()]
        elif not mid_a:
            ops.append(("insert", p, p, p, len(b) - q))
        elif not mid_b:
            ops.append(("delete", p, len(a) - q, p, p))
        else:
            ops.append(("replace", p, len(a) - q, p, len(b) - q))
    if q:
        ops.append(("equal", len(a) - q, len(a), len(b) - q, len(b)))
    return ops


def diff(a: JaxprDoc, b: JaxprDoc) -> JaxprDiff:
    """Align the top-level equations of ``a`` and ``b`` by primitive sequence, then compare each
    aligned pair structurally (types, params, literals, nested bodies)."""
    ea, eb = a.bodies[0].eqns, b.bodies[0].eqns
    sa, sb = _Sigs(a), _Sigs(b)
    keys_a = [(e.prim, len(e.ins), len(e.outs)) for e in ea]
    keys_b = [(e.prim, len(e.ins), len(e.outs)) for e in eb]
    rows: list[JaxprDiffRow] = []

    def pair(i: int, j: int) -> None:
        x, y = ea[i], eb[j]
        if sa.eqn(x) == sb.eqn(y):
            rows.append(JaxprDiffRow("same", i, j))
        else:
            rows.append(JaxprDiffRow("changed", i, j, _what(x, y, sa, sb)))

    for op, i1, i2, j1, j2 in _opcodes(keys_a, keys_b):
        if op == "equal":
            for k in range(i2 - i1):
                pair(i1 + k, j1 + k)
        elif op == "delete":
            rows.extend(JaxprDiffRow("removed", i, None) for i in range(i1, i2))
        elif op == "insert":
            rows.extend(JaxprDiffRow("added", None, j) for j in range(j1, j2))
        else:  # replace: pair equations of the same primitive in order, the rest added/removed
            j = j1
            for i in range(i1, i2):
                k, stop = j, min(j2, j + LOOKAHEAD)
                while k < stop and eb[k].prim != ea[i].prim:
                    k += 1
                if k == stop:
                    k = j2
                if k < j2:
                    rows.extend(JaxprDiffRow("added", None, m) for m in range(j, k))
                    pair(i, k)
                    j = k + 1
                else:
                    rows.append(JaxprDiffRow("removed", i, None))
            rows.extend(JaxprDiffRow("added", None, m) for m in range(j, j2))
    return JaxprDiff(
        a=a,
        b=b,
        inputs=_io(a.stats.inputs, b.stats.inputs),
        outputs=_io(a.stats.outputs, b.stats.outputs),
        rows=tuple(rows),
    )
