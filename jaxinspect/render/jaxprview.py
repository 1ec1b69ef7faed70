"""``%jaxpr`` views from ``JaxprDoc`` records: text twin, HTML, diff, dataflow graph, cost.

The HTML is usable without scripts (``<details>`` folds nested jaxprs and name-stack groups); a
small script, when the frontend runs it, adds search and highlights a variable's definition and
uses on hover. Every view is bounded by a byte budget with explicit "N more" markers.
"""

from __future__ import annotations

import itertools
from typing import Any

from .. import units
from ..records import CostRecord, JaxprBody, JaxprDiff, JaxprDoc, JaxprEqn, JaxprStats, KeyFlow
from .doc import (
    Alert,
    Blank,
    Fast,
    Group,
    Line,
    Markup,
    More,
    Pre,
    Raw,
    Section,
    Table,
    Text,
    View,
    esc,
    to_html,
    to_text,
)  # fmt: skip

_plural = units.plural

OUTPUT_BUDGET = 2_000_000  # bytes of HTML/text one view may produce
BODY_OPEN_LIMIT = 8  # nested jaxprs with at most this many equations start unfolded
PRIM_CHIPS = 24
INPUT_ROWS = 40
CODE_LINES = 20_000
VARS_SHOWN = 200  # binders / operands shown per equation or lambda head in HTML
GRAPH_MAX_NODES = 300
GRAPH_MAX_NESTED = 12
_uid = itertools.count(1)

JAXPR_CSS = Markup("""
<style>
.jx .jx-code{font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.45;
 white-space:pre;overflow-x:auto}
.jx .jx-code div{white-space:pre}
.jx .p{color:var(--jp-mirror-editor-keyword-color,#008000);font-weight:600}
.jx .v{color:var(--jp-mirror-editor-variable-color,#212121)}
.jx .t{color:var(--jp-mirror-editor-number-color,#7a5c00);opacity:.85}
.jx .l{color:var(--jp-mirror-editor-number-color,#080)}
.jx .k{color:var(--jp-mirror-editor-attribute-color,#00c)}
.jx .s{color:var(--jp-ui-font-color2,#888)}
.jx .jx-random{background:rgba(180,120,255,.14)}
.jx .jx-keymark{color:#7a3fc0;font-size:.9em}
.jx .jx-keyreuse{background:rgba(255,60,60,.18)}
.jx .jx-callback{background:rgba(255,160,0,.16)}
.jx .jx-convert{background:rgba(0,160,255,.10)}
.jx .hl{background:rgba(255,220,0,.55);border-radius:2px}
.jx details{margin-left:2ch}
.jx details>summary{font-weight:400;color:var(--jp-ui-font-color2,#555)}
.jx .jx-more{color:var(--jp-warn-color0,#b26b00)}
.jx .chip{display:inline-block;padding:0 6px;margin:1px 3px 1px 0;border-radius:8px;
 background:var(--jp-layout-color2,#eee);font-family:var(--jp-code-font-family,monospace);font-size:11px}
.jx .flag-random{background:rgba(180,120,255,.25)}.jx .flag-callback{background:rgba(255,160,0,.3)}
.jx .flag-convert{background:rgba(0,160,255,.2)}
.jx table.jx-diff td{font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:pre}
.jx tr.d-added td.b,.jx tr.d-added td.m{background:rgba(0,200,0,.15)}
.jx tr.d-removed td.a,.jx tr.d-removed td.m{background:rgba(255,0,0,.13)}
.jx tr.d-changed td{background:rgba(255,200,0,.18)}
</style>
""")

_SCRIPT = """<script>(function(){var r=document.getElementById('%s');if(!r||r.dataset.ready)return;
r.dataset.ready='1';var last=null;r.addEventListener('mouseover',function(e){var t=e.target;
if(!t.classList||!t.classList.contains('v'))return;var n=t.textContent;if(n===last)return;last=n;
r.querySelectorAll('.hl').forEach(function(x){x.classList.remove('hl')});
r.querySelectorAll('.v').forEach(function(x){if(x.textContent===n)x.classList.add('hl')})});
var c=r.querySelector('.jx-code');if(!c)return;var i=document.createElement('input');
i.placeholder='search: primitive, variable or text';i.style.cssText='margin:4px 0;width:22em';
i.addEventListener('input',function(){var q=i.value.trim();
c.querySelectorAll('.jx-e').forEach(function(e){var hit=!q||e.textContent.indexOf(q)>=0;
e.style.display=hit?'':'none';if(hit&&q){var d=e.parentElement;while(d&&d!==c){
if(d.tagName==='DETAILS')d.open=true;d=d.parentElement}}})});c.parentElement.insertBefore(i,c)})();</script>"""


def human_bytes(n: float | None) -> str:
    return units.human_bytes(n, none="unavailable")


def human_count(n: float | None) -> str:
    return units.human_count(n, none="unavailable")


def human_flops(n: float | None) -> str:
    return units.human_flops(n, none="unavailable")


def body_labels(doc: JaxprDoc) -> dict[int, str]:
    """Display names of shared (hoisted) bodies, unique within the doc."""
    labels: dict[int, str] = {}
    seen: set[str] = set()
    for body in doc.bodies[1:]:
        if body.uses > 1:
            name = body.name if body.name not in seen else f"{body.name}_{body.index}"
            seen.add(name)
            labels[body.index] = name
    return labels


# -- summary -------------------------------------------------------------------------------------


def summary_title(stats: JaxprStats, title: str) -> list[Any]:
    return [
        "jaxpr of ", Text(title, role="code"),
        f": {_plural(stats.equations, 'equation')} ({stats.top_level} top-level, "
        f"{_plural(stats.bodies, 'nested jaxpr')}" + (f", {stats.shared} shared" if stats.shared else "")
        + f", depth {stats.max_depth})",
    ]  # fmt: skip


def _listed(items: list[Any], more: int) -> list[Any]:
    """Inline items separated by ", " then "… N more"."""
    out: list[Any] = []
    for k, item in enumerate(items):
        if k:
            out.append(", ")
        out.append(item)
    if more > 0:
        out.append(Text(f", … {more} more", role="muted"))
    return out


def _chips(pairs: list[tuple[str, str]]) -> list[Any]:
    """Chips in HTML, a comma-separated list in text."""
    out: list[Any] = []
    for k, (text, cls) in enumerate(pairs):
        if k:
            out.append(Text(", ", only="text"))
        out.append(Text(text, cls=cls))
    return out


def summary_blocks(stats: JaxprStats) -> list[Any]:
    """Primitives, inputs, outputs, constants (each bounded) and what is highlighted."""
    out: list[Any] = []
    prims = _chips([(f"{n} {p}", "chip") for p, n in stats.by_primitive[:PRIM_CHIPS]])
    if prims:
        more = len(stats.by_primitive) - PRIM_CHIPS
        out.append(Line(["by primitive: ", *prims] + ([Text(f", … {more} more primitives", role="muted")] if more > 0 else [])))
    for what, items in (("inputs", stats.inputs), ("outputs", stats.outputs)):
        shown = [[Text(label, role="code"), f": {typ}"] for label, typ in items[:INPUT_ROWS]]
        out.append(Line([f"{what} ({len(items)}): ", *(_listed(shown, len(items) - INPUT_ROWS) or ["–"])]))
    if stats.consts:
        total = sum(c[2] for c in stats.consts)
        shown = [[Text(n, role="code"), f": {t}"] for n, t, _ in stats.consts[:8]]
        out.append(Line([f"constants ({len(stats.consts)}, {human_bytes(total)}): ",
                         *_listed(shown, len(stats.consts) - 8)]))  # fmt: skip
        if total >= 1 << 20:
            out.append(Alert("large closed-over constants are baked into the program: pass them as arguments"))
    if stats.flagged:
        flags = _chips([(f"{n} {_FLAG_WORDS[k]}", f"chip flag-{k}") for k, n in stats.flagged])
        out.append(Line(["highlighted: ", *flags]))
    return out


def summary_lines(stats: JaxprStats, title: str) -> list[str]:
    return to_text(View(summary_title(stats, title), [Group(summary_blocks(stats), indent=2)])).split("\n")


_FLAG_WORDS = {"random": "random", "callback": "host callback", "convert": "dtype conversion"}


# -- text twin -----------------------------------------------------------------------------------


def _operand_text(op: tuple[str, str, bool]) -> str:
    return f"{op[0]}:{op[1]}" if op[2] else op[0]


def eqn_text(eqn: JaxprEqn, labels: dict[int, str] | None = None) -> str:
    """``c:f32[3] = mul a b`` with params in brackets; nested bodies as ``jaxpr=…``."""
    outs = " ".join(f"{n}:{t}" for n, t in eqn.outs)
    params = [f"{k}={v}" for k, v in eqn.params]
    for key, index in eqn.subs:
        if labels and index in labels:
            params.append(f"{key}={labels[index]}")
    head = eqn.prim + (f"[{' '.join(params)}]" if params else "")
    ins = " ".join(_operand_text(op) for op in eqn.ins)
    return f"{outs} = {head} {ins}".rstrip() if outs else f"{head} {ins}".rstrip()


class _Budget:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self.skipped = 0

    def take(self, n: int) -> bool:
        if self.limit is not None and self.used + n > self.limit:
            return False
        self.used += n
        return True


def _lambda_head(body: JaxprBody) -> str:
    consts = " ".join(f"{n}:{t}" for n, t in body.consts)
    invars = " ".join(f"{n}:{t}" for n, t in body.invars)
    return f"{{ lambda {consts}; {invars}. let" if consts else f"{{ lambda ; {invars}. let"


def _outs_text(body: JaxprBody) -> str:
    outs = ", ".join(_operand_text(o) for o in body.outvars)
    return f"in ({outs},) }}" if len(body.outvars) == 1 else f"in ({outs}) }}"


def jaxpr_text(
    doc: JaxprDoc,
    *,
    source: bool = False,
    limit: int | None = OUTPUT_BUDGET,
    header: bool = True,
    root: int = 0,
) -> str:
    """The plain-text twin: summary, shared ``let`` bodies, then the program with nested bodies
    inline. ``limit`` (characters) bounds it, with a marker saying how much was left out."""
    labels = body_labels(doc)
    budget = _Budget(limit)
    out: list[str] = summary_lines(doc.stats, doc.title) + keys_lines(doc.keys) if header and root == 0 else []
    if root:
        labels.pop(root, None)
        main = doc.bodies[root]
        if header:
            out.append(f"{main.name} (nested jaxpr #{root} of {doc.title}, {_plural(main.total, 'equation')})")
    for index, name in labels.items() if root == 0 else ():
        out.append(f"let {name} = {_lambda_head(doc.bodies[index])}")
        _body_text(doc, doc.bodies[index], 2, labels, source, budget, out)
        out.append(f"  {_outs_text(doc.bodies[index])} in")
    out.append(_lambda_head(doc.bodies[root]))
    _body_text(doc, doc.bodies[root], 2, labels, source, budget, out)
    out.append(f"  {_outs_text(doc.bodies[root])}")
    if budget.skipped:
        out.append(
            f"… {budget.skipped} more equations not shown (output budget {human_bytes(limit)}); "
            "view.text(limit=None) prints everything"
        )
    return "\n".join(out)


# what JAX's transform names mean in a reverse-mode differentiated step (grad, value_and_grad,
# vjp): "jvp" alone is also forward-mode AD (jax.jvp, jacfwd), so it is only explained when the
# program has a transposed (backward) part
_TRANSFORM_NOTES = {
    "jvp": " (forward pass, differentiated)",
    "transpose(jvp)": " (backward pass)",
}


def scope_text(scope: tuple[str, ...]) -> str:
    """A name stack for a header: ``jvp/model.blocks[1].fc1`` (a module path's enclosing
    modules, which are its prefixes, are left out); ``(top level)`` outside every scope."""
    if not scope:
        return "(top level)"
    parts = [
        part
        for i, part in enumerate(scope)
        if not (i + 1 < len(scope) and scope[i + 1][len(part) : len(part) + 1] in (".", "[")
                and scope[i + 1].startswith(part))
    ]
    return "/".join(parts)


def _body_text(
    doc: JaxprDoc,
    body: JaxprBody,
    indent: int,
    labels: dict[int, str],
    source: bool,
    budget: _Budget,
    out: list[str],
) -> None:
    pad = " " * indent
    scope: tuple[str, ...] = ()
    marks = key_marks(doc)
    for i, eqn in enumerate(body.eqns):
        if budget.limit is not None and budget.used > budget.limit:
            budget.skipped += sum(1 + _nested_total(doc, e, labels) for e in body.eqns[i:])
            return
        if eqn.scope != scope:
            if eqn.scope or scope:
                out.append(f"{pad}# {scope_text(eqn.scope)}")
            scope = eqn.scope
        line = pad + eqn_text(eqn, labels)
        if source and eqn.source:
            line = f"{line:<72}  # {eqn.source}"
        mark = marks.get((body.index, i))
        if mark:
            line = f"{line}  # key: {mark}"
        if not budget.take(len(line) + 1):
            budget.skipped += sum(1 + _nested_total(doc, e, labels) for e in body.eqns[i:])
            return
        out.append(line)
        for key, index in eqn.subs:
            if index in labels:
                continue
            sub = doc.bodies[index]
            out.append(f"{pad}  {key}={_lambda_head(sub)}")
            _body_text(doc, sub, indent + 4, labels, source, budget, out)
            out.append(f"{pad}    {_outs_text(sub)}")


def _nested_total(doc: JaxprDoc, eqn: JaxprEqn, labels: dict[int, str]) -> int:
    return sum(doc.bodies[i].total for _k, i in eqn.subs if i not in labels)


# -- HTML ----------------------------------------------------------------------------------------


def _var(name: str, typ: str) -> str:
    return f'<span class="v">{esc(name)}</span><span class="t">:{esc(typ)}</span>'


def _operand_html(op: tuple[str, str, bool]) -> str:
    if op[2]:
        return f'<span class="l">{esc(op[0])}</span><span class="t">:{esc(op[1])}</span>'
    return f'<span class="v">{esc(op[0])}</span>'


def _more(items: tuple, render, sep: str = " ") -> str:
    """At most VARS_SHOWN items (a 10 000-parameter model has 10 000 inputs), then a count."""
    if len(items) <= VARS_SHOWN:
        return sep.join(render(x) for x in items)
    shown = sep.join(render(x) for x in items[:VARS_SHOWN])
    return f'{shown}{sep}<span class="jx-more">… {len(items) - VARS_SHOWN} more</span>'


def key_marks(doc: JaxprDoc) -> dict[tuple[int, int], str]:
    """(body index, equation index) -> what the equation does to a PRNG key."""
    if doc.keys is None:
        return {}
    return {(b, i): note for b, i, note in doc.keys.marks}


KEY_FIX = ["fix: split the key (", Text("jax.random.split", role="code"), ") and give each use its own part"]


def keys_blocks(flow: KeyFlow | None) -> list[Any]:
    """The PRNG key summary of a traced program, with any reuse found statically."""
    if flow is None:
        return []
    head = (
        f"PRNG keys: {_plural(flow.splits, 'split')}, {_plural(flow.folds, 'fold_in')}, "
        f"{_plural(flow.consumes, 'use')}"
        + (f"; key inputs: {', '.join(flow.inputs[:8])}" if flow.inputs else "")
        + ("" if not flow.partial else " (partial: program too large to follow every key)")
    )
    out: list[Any] = [Line(head, cls="jx-keys")]
    findings = [Line(f"⚠ key reuse: {f.message}", role="warn", cls="jx-keyfinding") for f in flow.findings]
    if flow.findings:
        findings.append(Line(KEY_FIX, role="muted", indent=1))
    return out + [Group(findings, indent=2)]


def keys_lines(flow: KeyFlow | None) -> list[str]:
    blocks = keys_blocks(flow)
    return to_text(blocks).split("\n") if blocks else []


def keys_html(flow: KeyFlow | None) -> str:
    return to_html(keys_blocks(flow))


def _source_html(text: str, places: dict[str, Any] | None) -> str:
    """``# cell [3] line 5 (loss)``: a notebook cell's place links to the cell (class and data
    attributes the JupyterLab extension acts on) and shows the line's code on hover."""
    loc = places.get(text) if places else None
    if loc is None or loc.cell is None:
        return f'  <span class="s"># {esc(text)}</span>'
    line = f' data-jaxinspect-line="{loc.line}"' if loc.line is not None else ""
    code = f' title="{esc(loc.code)}"' if loc.code else ""  # the extension reads the code here
    return (
        f'  <span class="s"># <span class="jaxinspect-cell" data-jaxinspect-cell="{loc.cell}"{line}{code}>'
        f"{esc(text)}</span></span>"
    )


def _eqn_html(
    eqn: JaxprEqn,
    labels: dict[int, str],
    uid: str,
    source: bool,
    mark: str | None = None,
    places: dict[str, Any] | None = None,
) -> str:
    outs = _more(eqn.outs, lambda o: _var(*o))
    params = [f'<span class="k">{esc(k)}</span>={esc(v)}' for k, v in eqn.params]
    for key, index in eqn.subs:
        if index in labels:
            params.append(
                f'<span class="k">{esc(key)}</span>=<a href="#{uid}-b{index}">{esc(labels[index])}</a>'
            )
    head = f'<span class="p">{esc(eqn.prim)}</span>' + (f"[{' '.join(params)}]" if params else "")
    ins = _more(eqn.ins, _operand_html)
    cls = f"jx-e jx-{eqn.tag}" if eqn.tag else "jx-e"
    src = _source_html(eqn.source, places) if source and eqn.source else ""
    title = f' title="{esc(eqn.source)}"' if eqn.source and not source else ""
    if mark:
        cls += " jx-keyreuse" if "REUSE" in mark else ""
        src += f'  <span class="jx-keymark">🔑 {esc(mark)}</span>'
    return f'<div class="{cls}"{title}>{outs}{" = " if outs else ""}{head} {ins}{src}</div>'


def _head_html(body: JaxprBody) -> str:
    consts = _more(body.consts, lambda v: _var(*v))
    invars = _more(body.invars, lambda v: _var(*v))
    return f"{{ lambda {consts}; {invars}. let"


def _outs_html(body: JaxprBody) -> str:
    outs = _more(body.outvars, _operand_html, ", ")
    return f"in ({outs}{',' if len(body.outvars) == 1 else ''}) }}"


def _prims_summary(doc: JaxprDoc, body: JaxprBody, limit: int = 4) -> str:
    counts: dict[str, int] = {}
    for e in body.eqns:
        counts[e.prim] = counts.get(e.prim, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    text = ", ".join(f"{n} {p}" for p, n in top)
    return text + (", …" if len(counts) > limit else "")


class _Html:
    def __init__(self, doc: JaxprDoc, uid: str, source: bool, budget: int | None) -> None:
        self.doc = doc
        self.uid = uid
        self.source = source
        self.labels = body_labels(doc)
        self.budget = _Budget(budget)
        self.out: list[str] = []
        self.marks = key_marks(doc)
        self.reverse = any(
            part.startswith("transpose(") for b in doc.bodies for e in b.eqns for part in e.scope[:1]
        )

    def body(self, body: JaxprBody) -> None:
        self._group(body, body.eqns, 0, len(body.eqns), 0)

    def _group(self, body: JaxprBody, eqns: tuple, start: int, stop: int, level: int) -> None:
        """Equations [start, stop) whose scopes agree up to ``level``: runs sharing a deeper
        scope component fold into a ``<details>`` named after it (Flax modules, named_scope)."""
        i = start
        out = self.out
        while i < stop:
            eqn = eqns[i]
            if len(eqn.scope) > level:
                name = eqn.scope[level]
                j = i + 1
                while j < stop and len(eqns[j].scope) > level and eqns[j].scope[level] == name:
                    j += 1
                if self._over(eqns, i, stop):
                    return
                note = _TRANSFORM_NOTES.get(name, "") if name != "jvp" or self.reverse else ""
                out.append(
                    f'<details open class="jx-scope"><summary>{esc(name)}{note} · '
                    f"{_plural(j - i, 'equation')}</summary>"
                )
                self._group(body, eqns, i, j, level + 1)
                out.append("</details>")
                i = j
                continue
            if self._over(eqns, i, stop):
                return
            line = _eqn_html(
                eqn, self.labels, self.uid, self.source, self.marks.get((body.index, i)), self.doc.places
            )
            self.budget.used += len(line)
            out.append(line)
            for key, index in eqn.subs:
                if index not in self.labels:
                    self.nested(key, self.doc.bodies[index])
            i += 1

    def _over(self, eqns: tuple, i: int, stop: int) -> bool:
        if self.budget.limit is None or self.budget.used <= self.budget.limit:
            return False
        left = sum(1 + _nested_total(self.doc, e, self.labels) for e in eqns[i:stop])
        self.budget.skipped += left
        self.out.append(
            f'<div class="jx-more">… {left} more equations not shown (output budget '
            f"{human_bytes(self.budget.limit)}): <code>view.text(limit=None)</code>, "
            "<code>%jaxpr --text</code> or <code>view.section(name)</code> show them</div>"
        )
        return True

    def nested(self, key: str, body: JaxprBody) -> None:
        opened = " open" if body.total <= BODY_OPEN_LIMIT else ""
        self.out.append(
            f'<details{opened} class="jx-sub" id="{self.uid}-b{body.index}"><summary>'
            f'<span class="k">{esc(key)}</span>={_head_html(body)} '
            f'<span class="s">· {esc(body.name)} · {_plural(body.total, "equation")}'
            f"{': ' + esc(_prims_summary(self.doc, body)) if body.eqns else ''}</span></summary>"
        )
        self.body(body)
        self.out.append(f"<div>{_outs_html(body)}</div></details>")


def page_doc(
    doc: JaxprDoc, *, source: bool = False, limit: int | None = OUTPUT_BUDGET,
    budget: int | None = OUTPUT_BUDGET - 100_000, sections: list[Any] | None = None, script: bool = True,
    root: int = 0, code: bool = True,
) -> View:  # fmt: skip
    """The whole ``%jaxpr`` view as one document: the summary, PRNG keys, the asked-for sections
    (cost, StableHLO/HLO, graph), then the program. The program listing is a :class:`Fast` part:
    its text (bounded by ``limit`` characters) and its HTML (``budget`` bytes, with name-stack
    folds, nested bodies and hover/search) come from the listing's own renderers, because a node
    per equation would cost more than ``str(jaxpr)`` itself (benchmarks/bench_jaxpr.py)."""
    uid = f"jx{next(_uid)}"
    children: list[Any] = []
    if root:
        main = doc.bodies[root]
        title: Any = [Text(main.name, role="bold"), f" (nested jaxpr #{root} of ", Text(doc.title, role="code"),
                      f", {_plural(main.total, 'equation')})"]  # fmt: skip
    else:
        title = summary_title(doc.stats, doc.title)
        children.append(Group(summary_blocks(doc.stats), indent=2))
        children += keys_blocks(doc.keys)
    for block in sections or ():
        children += [Blank(), block]
    if code:
        if sections:
            children.append(Blank())
        children.append(
            Fast(
                text=lambda: jaxpr_text(doc, source=source, limit=limit, header=False, root=root),
                html=lambda: Markup(_listing_html(doc, uid, source, budget, root)),
            )
        )
        if script:
            children.append(Raw(Markup(_SCRIPT % uid), only="html"))
    return View(title, children, cls="jx", css=JAXPR_CSS, attrs=(("id", uid),))


def _listing_html(doc: JaxprDoc, uid: str, source: bool, budget: int | None, root: int) -> str:
    html = _Html(doc, uid, source, budget)
    out = html.out
    if root:
        html.labels.pop(root, None)
    out.append('<div class="jx-code">')
    for index, name in html.labels.items() if root == 0 else ():
        body = doc.bodies[index]
        out.append(
            f'<details class="jx-let" id="{uid}-b{index}"><summary>let <b>{esc(name)}</b> = '
            f'{_head_html(body)} <span class="s">· used {body.uses}× · '
            f"{_plural(body.total, 'equation')}</span></summary>"
        )
        html.body(body)
        out.append(f"<div>{_outs_html(body)} in</div></details>")
    out.append(f"<div>{_head_html(doc.bodies[root])}</div>")
    html.body(doc.bodies[root])
    out.append(f"<div>{_outs_html(doc.bodies[root])}</div>")
    out.append("</div>")
    return "".join(out)


def jaxpr_html(
    doc: JaxprDoc, *, source: bool = False, budget: int | None = OUTPUT_BUDGET - 100_000,
    sections: list[Any] | None = None, script: bool = True, root: int = 0, code: bool = True,
) -> str:  # fmt: skip
    """The rich view: summary header, then the program (shared bodies first, as ``let``)."""
    return to_html(page_doc(doc, source=source, budget=budget, sections=sections, script=script,
                            root=root, code=code))  # fmt: skip


def code_text(title: str, text: str, limit_lines: int = CODE_LINES, limit: int = OUTPUT_BUDGET) -> str:
    """A bounded dump of StableHLO / HLO text."""
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines[:limit_lines]:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    more = len(lines) - len(kept)
    tail = f"\n… {more} more lines (output budget); .{title.split()[0].lower()}() returns all" if more else ""
    return "\n".join(kept) + tail


def code_section(title: str, text: str, limit: int = OUTPUT_BUDGET) -> Section:
    """StableHLO / HLO text, bounded (``limit`` characters, then "… N more lines")."""
    body = code_text(title, text, limit=limit)
    n = text.count("\n") + 1
    return Section(f"{title} · {_plural(n, 'line')}",
                   [Pre(body, cls="jx-code", style="max-height:40em;overflow:auto")], open=True, indent=0)  # fmt: skip


def code_html(title: str, text: str, limit: int = OUTPUT_BUDGET // 2) -> str:
    return to_html(code_section(title, text, limit))


# -- cost ----------------------------------------------------------------------------------------


def cost_rows(cost: CostRecord) -> list[tuple[str, str]]:
    return [
        ("flops", human_flops(cost.flops)),
        ("transcendentals", human_count(cost.transcendentals)),
        ("bytes accessed", human_bytes(cost.bytes_accessed)),
        ("arguments", human_bytes(cost.argument_bytes)),
        ("outputs", human_bytes(cost.output_bytes)),
        ("temporaries", human_bytes(cost.temp_bytes)),
        ("aliased (donated)", human_bytes(cost.alias_bytes)),
        ("generated code", human_bytes(cost.generated_code_bytes)),
    ]


def cost_section(cost: CostRecord) -> Section:
    rows = Table(("", ""), cost_rows(cost), header=False)
    note = [Line(f"note: {cost.note}", role="muted")] if cost.note else []
    return Section(f"cost analysis (XLA{', ' + cost.backend if cost.backend else ''})", [rows, *note], open=True)


def cost_text(cost: CostRecord) -> str:
    return to_text(cost_section(cost))


def cost_html(cost: CostRecord) -> str:
    return to_html(cost_section(cost))


def failure_section(message: str) -> Pre:
    """A section that could not be computed: its one message."""
    return Pre(message, cls="ji-warn", style="white-space:pre-wrap")


# -- diff ----------------------------------------------------------------------------------------

DIFF_CONTEXT = 2
DIFF_MAX_ROWS = 2000
_MARK = {"same": " ", "changed": "~", "added": "+", "removed": "-"}


def diff_headline(d: JaxprDiff) -> str:
    if d.identical:
        return f"jaxpr diff {d.a.title} → {d.b.title}: identical programs"
    io = [r for r in (*d.inputs, *d.outputs) if r.status != "same"]
    return (
        f"jaxpr diff {d.a.title} → {d.b.title}: {d.count('changed')} changed, "
        f"{d.count('added')} added, {d.count('removed')} removed, {d.count('same')} same equations"
        + (f"; {_plural(len(io), 'input/output')} differ" if io else "")
    )


def _diff_runs(d: JaxprDiff) -> list[tuple[str, list]]:
    """Rows grouped as ("show", rows) and ("fold", rows of unchanged equations)."""
    rows = list(d.rows)
    changed = [i for i, r in enumerate(rows) if r.status != "same"]
    near = set()
    for i in changed:
        near.update(range(i - DIFF_CONTEXT, i + DIFF_CONTEXT + 1))
    runs: list[tuple[str, list]] = []
    for i, row in enumerate(rows):
        kind = "show" if (row.status != "same" or i in near) else "fold"
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(row)
        else:
            runs.append((kind, [row]))
    return runs


def _io_lines(d: JaxprDiff) -> list[Line]:
    """Inputs and outputs whose type changed (or that came or went)."""
    return [
        Line(f"{_MARK[r.status]} {what} {r.label}: {r.a or '–'} → {r.b or '–'}", cls=f"d-{r.status}")
        for rows, what in ((d.inputs, "in"), (d.outputs, "out"))
        for r in rows
        if r.status != "same"
    ]


def _diff_rows_text(d: JaxprDiff, limit_rows: int) -> str:
    """Equations as a unified diff: ``~``/``→`` changed, ``-`` removed, ``+`` added, runs of
    unchanged ones counted."""
    lines: list[str] = []
    ea, eb = d.a.bodies[0].eqns, d.b.bodies[0].eqns
    la, lb = body_labels(d.a), body_labels(d.b)
    shown = 0
    for kind, rows in _diff_runs(d):
        if kind == "fold":
            lines.append(f"    … {_plural(len(rows), 'unchanged equation')}")
            continue
        for r in rows:
            if shown >= limit_rows:
                lines.append(f"    … {len(d.rows) - shown} more rows (output budget)")
                return "\n".join(lines)
            shown += 1
            left = eqn_text(ea[r.a], la) if r.a is not None else ""
            right = eqn_text(eb[r.b], lb) if r.b is not None else ""
            if r.status == "same":
                lines.append(f"    {left}")
            elif r.status == "changed":
                lines.append(f"  ~ {left}")
                lines.append(f"    → {right}   [{', '.join(r.what)}]")
            elif r.status == "removed":
                lines.append(f"  - {left}")
            else:
                lines.append(f"  + {right}")
    return "\n".join(lines)


def _diff_rows_html(d: JaxprDiff, uid: str, limit_rows: int) -> str:
    """Equations side by side, runs of unchanged ones folded (``<details>``)."""
    ea, eb = d.a.bodies[0].eqns, d.b.bodies[0].eqns
    la, lb = body_labels(d.a), body_labels(d.b)
    out = [
        f'<table class="jx-diff jx-code"><thead><tr><th></th><th>{esc(d.a.title)}</th>'
        f"<th>{esc(d.b.title)}</th><th>what changed</th></tr></thead><tbody>"
    ]
    shown = 0

    def row_html(r) -> str:
        left = _eqn_html(ea[r.a], la, uid, False) if r.a is not None else ""
        right = _eqn_html(eb[r.b], lb, uid, False) if r.b is not None else ""
        return (
            f'<tr class="d-{r.status}" data-status="{r.status}"><td class="m">{_MARK[r.status]}</td>'
            f'<td class="a">{left}</td><td class="b">{right}</td><td>{esc(", ".join(r.what))}</td></tr>'
        )

    for kind, rows in _diff_runs(d):
        if kind == "fold":
            inner = "".join(row_html(r) for r in rows[:200])
            more = f"<tr><td></td><td colspan=3>… {len(rows) - 200} more</td></tr>" if len(rows) > 200 else ""
            out.append(
                f'<tr><td></td><td colspan="3"><details><summary>{_plural(len(rows), "unchanged equation")}</summary>'
                f'<table class="jx-diff">{inner}{more}</table></details></td></tr>'
            )
            continue
        for r in rows:
            if shown >= limit_rows:
                out.append(f'<tr><td></td><td colspan="3" class="jx-more">… {len(d.rows) - shown} more rows (output budget)</td></tr>')
                break
            shown += 1
            out.append(row_html(r))
    out.append("</tbody></table>")
    return "".join(out)


def diff_doc(d: JaxprDiff, limit_rows: int = DIFF_MAX_ROWS) -> View:
    """Two programs aligned equation by equation: the headline and the changed inputs/outputs
    for both twins; the equations as a :class:`Fast` part, a unified diff in text and a
    side-by-side table in HTML (the layout each medium reads best in), bounded alike."""
    uid = f"jx{next(_uid)}"
    children: list[Any] = [Group(_io_lines(d), indent=2)]
    if d.rows:
        children.append(Fast(text=lambda: _diff_rows_text(d, limit_rows),
                             html=lambda: Markup(_diff_rows_html(d, uid, limit_rows))))  # fmt: skip
    children.append(Raw(Markup(_SCRIPT % uid), only="html"))
    return View(diff_headline(d), children, cls="jx", css=JAXPR_CSS, attrs=(("id", uid),))


def diff_text(d: JaxprDiff, limit_rows: int = DIFF_MAX_ROWS) -> str:
    return to_text(diff_doc(d, limit_rows))


def diff_html(d: JaxprDiff, limit_rows: int = DIFF_MAX_ROWS) -> str:
    return to_html(diff_doc(d, limit_rows))


# -- dataflow graph ---------------------------------------------------------------------------------

_NODE_W, _NODE_H, _GAP_X, _GAP_Y = 132, 34, 18, 30


def graph_layout(body: JaxprBody, max_nodes: int = GRAPH_MAX_NODES) -> dict[str, Any]:
    """Nodes (inputs, equations, outputs) in layers by longest path from the inputs, and edges."""
    producer: dict[str, str] = {}
    layer: dict[str, int] = {}
    nodes: list[dict[str, Any]] = []
    for name, typ in body.invars + body.consts:
        node_id = f"in:{name}"
        producer[name] = node_id
        layer[node_id] = 0
        nodes.append({"id": node_id, "label": name, "sub": typ, "kind": "input"})
    edges: list[tuple[str, str, str]] = []
    eqns = body.eqns[:max_nodes]
    for i, eqn in enumerate(eqns):
        node_id = f"e{i}"
        used = [(producer[n], t) for n, t, lit in eqn.ins if not lit and n in producer]
        layer[node_id] = 1 + max((layer[src] for src, _t in used), default=0)
        for src, t in used:
            edges.append((src, node_id, t))
        for n, _t in eqn.outs:
            if n != "_":
                producer[n] = node_id
        outs = ", ".join(t for _n, t in eqn.outs)
        nodes.append(
            {"id": node_id, "label": eqn.prim, "sub": outs, "kind": eqn.tag or ("call" if eqn.subs else "eqn"),
             "index": i, "subs": eqn.subs}
        )
    last = 1 + max(layer.values(), default=0)
    for k, (n, t, lit) in enumerate(body.outvars):
        node_id = f"out{k}"
        layer[node_id] = last
        nodes.append({"id": node_id, "label": n if lit else f"out {k}", "sub": t, "kind": "output"})
        if not lit and n in producer:
            edges.append((producer[n], node_id, t))
    rows: dict[int, list[dict[str, Any]]] = {}
    for node in nodes:
        rows.setdefault(layer[node["id"]], []).append(node)
    width = max(len(r) for r in rows.values()) if rows else 1
    for depth, row in rows.items():
        offset = (width - len(row)) * (_NODE_W + _GAP_X) / 2
        for k, node in enumerate(row):
            node["x"] = 10 + offset + k * (_NODE_W + _GAP_X)
            node["y"] = 10 + depth * (_NODE_H + _GAP_Y)
    return {
        "nodes": nodes,
        "edges": edges,
        "width": 20 + width * (_NODE_W + _GAP_X),
        "height": 20 + (last + 1) * (_NODE_H + _GAP_Y),
        "omitted": max(0, len(body.eqns) - max_nodes),
    }


_NODE_FILL = {
    "input": "#e8f1fb", "output": "#e8f6ea", "eqn": "#f5f5f5", "call": "#fff4d6",
    "random": "#efe3ff", "callback": "#ffe7c2", "convert": "#e0f3ff",
}  # fmt: skip


def _short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def graph_svg(body: JaxprBody, max_nodes: int = GRAPH_MAX_NODES) -> str:
    g = graph_layout(body, max_nodes)
    pos = {n["id"]: n for n in g["nodes"]}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{g["width"]:.0f}" height="{g["height"]:.0f}" '
        f'font-family="monospace" font-size="11" role="img">'
    ]
    for src, dst, typ in g["edges"]:
        a, b = pos[src], pos[dst]
        x1, y1 = a["x"] + _NODE_W / 2, a["y"] + _NODE_H
        x2, y2 = b["x"] + _NODE_W / 2, b["y"]
        my = (y1 + y2) / 2
        parts.append(
            f'<path d="M{x1:.0f},{y1:.0f} C{x1:.0f},{my:.0f} {x2:.0f},{my:.0f} {x2:.0f},{y2:.0f}" '
            f'fill="none" stroke="#999" stroke-width="1"><title>{esc(typ)}</title></path>'
        )
    for n in g["nodes"]:
        fill = _NODE_FILL.get(n["kind"], "#f5f5f5")
        title = f"{n['label']} → {n['sub']}"
        marker = " ▸" if n.get("subs") else ""
        parts.append(
            f'<g class="jx-node" data-kind="{esc(n["kind"])}"><title>{esc(title)}</title>'
            f'<rect x="{n["x"]:.0f}" y="{n["y"]:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="5" '
            f'fill="{fill}" stroke="#888"/>'
            f'<text x="{n["x"] + 6:.0f}" y="{n["y"] + 14:.0f}" font-weight="bold">{esc(_short(n["label"] + marker))}</text>'
            f'<text x="{n["x"] + 6:.0f}" y="{n["y"] + 27:.0f}" fill="#666">{esc(_short(n["sub"], 19))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def graph_section(doc: JaxprDoc, max_nodes: int = GRAPH_MAX_NODES, max_nested: int = GRAPH_MAX_NESTED) -> Section:
    """The top-level dataflow graph (an SVG in HTML; each node and its inputs in text), then each
    nested call below it as a foldable graph of its own (HTML)."""
    top = doc.bodies[0]
    g = graph_layout(top, max_nodes)
    labels = {n["id"]: n["label"] for n in g["nodes"]}
    preds: dict[str, list[str]] = {}
    for src, dst, _t in g["edges"]:
        preds.setdefault(dst, []).append(labels[src] + ("" if src.startswith("in:") else f"#{src[1:]}"))
    lines = [
        f"{n['label']}{'#' + str(n['index']) if 'index' in n else ''} ← {', '.join(preds.get(n['id'], [])) or '–'}"
        for n in g["nodes"] if n["kind"] != "input"
    ]  # fmt: skip
    svg = Markup(f'<div style="overflow:auto;max-height:48em">{graph_svg(top, max_nodes)}</div>')
    children: list[Any] = [Raw(svg, text="\n".join(lines))]
    children.append(More(g["omitted"], f"more equations not drawn (graph budget {max_nodes} nodes)"))
    seen: set[int] = set()
    queue = [(f"{top.eqns[i].prim} #{i}", k, idx) for i, e in enumerate(top.eqns[:max_nodes]) for k, idx in e.subs]
    shown = 0
    for label, key, index in queue:
        if index in seen:
            continue
        seen.add(index)
        if shown >= max_nested:
            children.append(More(len(queue) - shown, "more nested graphs not drawn", only="html"))
            break
        shown += 1
        body = doc.bodies[index]
        nested = Markup(f'<div style="overflow:auto;max-height:36em">{graph_svg(body, max_nodes)}</div>')
        children.append(
            Section(f"{label} · {key} = {body.name} · {_plural(body.total, 'equation')}", [Raw(nested)], only="html")
        )
    title = f"dataflow of {doc.title}: {len(g['nodes'])} nodes, {len(g['edges'])} edges"
    return Section(title, children, open=True, colon=False)


def graph_html(doc: JaxprDoc, max_nodes: int = GRAPH_MAX_NODES, max_nested: int = GRAPH_MAX_NESTED) -> str:
    return to_html(graph_section(doc, max_nodes, max_nested))


def graph_text(doc: JaxprDoc, max_nodes: int = GRAPH_MAX_NODES) -> str:
    return to_text(graph_section(doc, max_nodes))
