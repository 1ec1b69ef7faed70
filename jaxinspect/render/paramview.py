"""Parameter tree views (``jaxinspect.params``): a foldable tree with per-subtree totals, the
text twin, and optional per-leaf statistics. Never imports jax."""

from __future__ import annotations

from typing import Any

from .. import units
from ..records import ParamLeaf, ParamStats
from ..units import human_bytes
from .doc import (
    Alert,
    Column,
    Group,
    Line,
    Markup,
    More,
    Raw,
    Section,
    Table,
    Text,
    View,
    to_html,
    to_text,
)

LEAF_BUDGET = 5000  # leaves rendered in HTML; the rest are counted per folded subtree
OPEN_DEPTH = 1

_CSS = Markup("""<style>
.jp-pt details{margin-left:1.4em}.jp-pt summary{font-weight:400}
.jp-pt .pt-n{color:var(--jp-ui-font-color2,#666)}
.jp-pt .pt-leaf{margin-left:2.6em;font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:nowrap}
.jp-pt .pt-bad{color:var(--jp-error-color1,#c00);font-weight:600}
.jp-pt .pt-kind{display:inline-block;padding:0 5px;border-radius:7px;background:var(--jp-layout-color2,#eee);font-size:11px}
</style>""")


_SCRIPT = """<script>(function(){var r=document.getElementById('%s');if(!r||r.dataset.ready)return;
r.dataset.ready='1';var t=r.querySelector('.jp-pt');if(!t)return;var i=document.createElement('input');
i.placeholder='filter by path, e.g. kernel or blocks[3]';i.style.cssText='margin:4px 0;width:24em';
i.addEventListener('input',function(){var q=i.value.trim().toLowerCase();
t.querySelectorAll('.pt-leaf').forEach(function(e){var hit=!q||(e.dataset.path||'').toLowerCase().indexOf(q)>=0;
e.style.display=hit?'':'none';if(hit&&q){var d=e.parentElement;while(d&&d!==t){if(d.tagName==='DETAILS')d.open=true;
d=d.parentElement}}})});t.parentElement.insertBefore(i,t)})();</script>"""
_uid = [0]


def human_count(n: int) -> str:
    """A count as every view shows it (``units.human_count``)."""
    return units.human_count(n)


class _Node:
    __slots__ = ("name", "children", "leaves", "size", "bytes", "count", "bad")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: dict[str, _Node] = {}
        self.leaves: list[int] = []
        self.size = 0
        self.bytes = 0
        self.count = 0
        self.bad = 0


def build_tree(leaves: list[ParamLeaf], stats: list[ParamStats | None] | None = None) -> _Node:
    root = _Node("")
    for i, leaf in enumerate(leaves):
        node = root
        bad = bool(stats and stats[i] and (stats[i].nan or stats[i].inf))
        for comp in (leaf.components[:-1] or ()):
            node.size += leaf.size
            node.bytes += leaf.bytes
            node.count += 1
            node.bad += bad
            node = node.children.setdefault(comp, _Node(comp))
        node.size += leaf.size
        node.bytes += leaf.bytes
        node.count += 1
        node.bad += bad
        node.leaves.append(i)
    return root


def kinds_summary(leaves: list[ParamLeaf]) -> list[tuple[str, int, int, int]]:
    acc: dict[str, list[int]] = {}
    for leaf in leaves:
        e = acc.setdefault(leaf.kind, [0, 0, 0])
        e[0] += 1
        e[1] += leaf.size
        e[2] += leaf.bytes
    return sorted(((k, *v) for k, v in acc.items()), key=lambda r: -r[2])


def headline(title: str, leaves: list[ParamLeaf]) -> str:
    size = sum(leaf.size for leaf in leaves)
    nbytes = sum(leaf.bytes for leaf in leaves)
    kinds = ", ".join(f"{k} {human_count(s)}" for k, _n, s, _b in kinds_summary(leaves))
    return f"{title}: {human_count(size)} values in {len(leaves)} leaves, {human_bytes(nbytes)} ({kinds})"


def _stats_text(s: ParamStats | None) -> str:
    if s is None:
        return ""
    bad = f"  NaN {s.nan} Inf {s.inf}" if (s.nan or s.inf) else ""
    return (
        f"mean {_num(s.mean)} std {_num(s.std)} min {_num(s.min)} max {_num(s.max)} "
        f"‖·‖ {_num(s.norm, bad)} zeros {s.zeros:.0%}{bad}"
    )


def _num(x: float | None, nonfinite: str = "") -> str:
    """A statistic, or "–" when there is none (no finite value), or "nan" for a norm over
    NaN/Inf values."""
    return units.human_norm(x, nan=1 if nonfinite else 0)  # as the sidebar shows it


FOLDED_SUBTREES = 100  # subtrees listed (folded, with their totals) once the leaf budget is spent


def _shape(leaf: ParamLeaf) -> str:
    return "×".join(map(str, leaf.shape)) or "scalar"


def _leaf_line(leaf: ParamLeaf, s: ParamStats | None) -> Line:
    parts: list[Any] = [
        leaf.components[-1] if leaf.components else leaf.path, "  ",
        Text(leaf.kind, cls="pt-kind"), f"  {leaf.dtype}[{_shape(leaf)}]  ",
        Text(f"{human_count(leaf.size)} · {human_bytes(leaf.bytes)}", cls="pt-n"),
    ]  # fmt: skip
    if leaf.sharding and leaf.sharding != "single device":
        parts.append(Text(f"  sharding {leaf.sharding}", cls="pt-n"))
    if s is not None:
        parts.append(Text(f"  {_stats_text(s)}", cls="pt-n"))
    bad = bool(s and (s.nan or s.inf))
    return Line(parts, cls="pt-leaf pt-bad" if bad else "pt-leaf", attrs=(("data-path", leaf.path),))


def _totals(node: _Node) -> list[Any]:
    parts: list[Any] = [
        Text(node.name, role="bold"),
        Text(f"  {human_count(node.size)} values · {units.plural(node.count, 'leaf', many='leaves')} · "
             f"{human_bytes(node.bytes)}", cls="pt-n"),
    ]
    if node.bad:
        parts.append(Text(f"  ⚠ {node.bad} NaN/Inf", cls="pt-bad"))
    return parts


def params_doc(
    title: str,
    leaves: list[ParamLeaf],
    stats: list[ParamStats | None] | None = None,
    budget: int | None = LEAF_BUDGET,
    query: str | None = None,
) -> View:
    """The tree: every subtree says how many values/bytes it holds; leaves show kind, dtype,
    shape, sharding and (when computed) statistics. Beyond ``budget`` leaves, at most
    ``FOLDED_SUBTREES`` more subtrees stay folded with their totals and the leaves are counted
    ("… N more leaves"; ``view.subtree(path)`` renders one)."""
    root = build_tree(leaves, stats)
    remaining = [len(leaves) if budget is None else budget]
    folded = [0, 0]  # subtrees listed folded, subtrees left out

    def walk(node: _Node, depth: int) -> list[Any]:
        out: list[Any] = []
        for child in node.children.values():
            if remaining[0] > 0:
                inner = walk(child, depth + 1)
            elif folded[0] < FOLDED_SUBTREES:
                folded[0] += 1
                inner = [More(child.count, "leaves folded (output budget)")]
            else:
                folded[1] += 1
                continue
            out.append(Section(_totals(child), inner, open=depth < OPEN_DEPTH or bool(child.bad), colon=False))
        for k, i in enumerate(node.leaves):
            if remaining[0] <= 0:
                out.append(More(len(node.leaves) - k, "leaves here not shown (output budget)"))
                break
            remaining[0] -= 1
            out.append(_leaf_line(leaves[i], stats[i] if stats else None))
        return out

    tree = walk(root, 0)
    shown = (len(leaves) if budget is None else budget) - remaining[0]
    kinds = Table(
        (Column("kind"), Column("leaves", "right"), Column("values", "right"), Column("bytes", "right")),
        [(k, n, human_count(sz), human_bytes(b)) for k, n, sz, b in kinds_summary(leaves)],
    )
    children: list[Any] = []
    if query:
        children.append(Line(f"filter: {query}", cls="pt-n"))
    children.append(Group([kinds], indent=2))
    children.append(Group(tree, indent=2, cls="jp-pt"))
    more = [More(folded[1], "more subtrees not listed")]
    if len(leaves) > shown:
        more.append(More(len(leaves) - shown, "more leaves (view.text(limit=None) lists all)"))
    children.append(Group(more, indent=2))
    bad = [leaves[i].path for i, s in enumerate(stats or []) if s and (s.nan or s.inf)]
    if bad:
        children.append(Group([Alert(f"{len(bad)} leaves hold NaN/Inf, first: {bad[0]}")], indent=2))
    _uid[0] += 1
    uid = f"jipt{_uid[0]}"
    children.append(Raw(Markup(_SCRIPT % uid), only="html"))  # a filter box, where scripts run
    return View(headline(title, leaves), children, css=_CSS, attrs=(("id", uid),))


def params_text(
    title: str,
    leaves: list[ParamLeaf],
    stats: list[ParamStats | None] | None = None,
    limit: int | None = 400,
) -> str:
    return to_text(params_doc(title, leaves, stats, budget=limit))


def params_html(
    title: str,
    leaves: list[ParamLeaf],
    stats: list[ParamStats | None] | None = None,
    budget: int = LEAF_BUDGET,
    query: str | None = None,
) -> str:
    return to_html(params_doc(title, leaves, stats, budget=budget, query=query))
