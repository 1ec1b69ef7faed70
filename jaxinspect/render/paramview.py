"""Parameter tree views (``jaxinspect.params``): a foldable tree with per-subtree totals, the
text twin, and optional per-leaf statistics. Never imports jax."""

from __future__ import annotations

from ..records import ParamLeaf, ParamStats
from ..units import human_bytes
from .htmllib import esc, view

LEAF_BUDGET = 5000  # leaves rendered in HTML; the rest are counted per folded subtree
OPEN_DEPTH = 1

_CSS = """<style>
.jp-pt details{margin-left:1.4em}.jp-pt summary{font-weight:400}
.jp-pt .pt-n{color:var(--jp-ui-font-color2,#666)}
.jp-pt .pt-leaf{margin-left:2.6em;font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:nowrap}
.jp-pt .pt-bad{color:var(--jp-error-color1,#c00);font-weight:600}
.jp-pt .pt-kind{display:inline-block;padding:0 5px;border-radius:7px;background:var(--jp-layout-color2,#eee);font-size:11px}
</style>"""


_SCRIPT = """<script>(function(){var r=document.getElementById('%s');if(!r||r.dataset.ready)return;
r.dataset.ready='1';var t=r.querySelector('.jp-pt');if(!t)return;var i=document.createElement('input');
i.placeholder='filter by path, e.g. kernel or blocks[3]';i.style.cssText='margin:4px 0;width:24em';
i.addEventListener('input',function(){var q=i.value.trim().toLowerCase();
t.querySelectorAll('.pt-leaf').forEach(function(e){var hit=!q||(e.dataset.path||'').toLowerCase().indexOf(q)>=0;
e.style.display=hit?'':'none';if(hit&&q){var d=e.parentElement;while(d&&d!==t){if(d.tagName==='DETAILS')d.open=true;
d=d.parentElement}}})});t.parentElement.insertBefore(i,t)})();</script>"""
_uid = [0]


def human_count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)



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
    if x is None:
        return "nan" if nonfinite else "–"
    return f"{x:.3g}"


def params_text(
    title: str,
    leaves: list[ParamLeaf],
    stats: list[ParamStats | None] | None = None,
    limit: int | None = 400,
) -> str:
    lines = [headline(title, leaves)]
    shown = leaves if limit is None else leaves[:limit]
    for i, leaf in enumerate(shown):
        shape = "×".join(map(str, leaf.shape)) or "scalar"
        line = f"  {leaf.path:<48} {leaf.kind:<10} {leaf.dtype}[{shape}] {human_count(leaf.size):>7}"
        if leaf.sharding and leaf.sharding != "single device":
            line += f"  sharding {leaf.sharding}"
        if stats and stats[i] is not None:
            line += "  " + _stats_text(stats[i])
        lines.append(line.rstrip())
    if len(leaves) > len(shown):
        lines.append(f"  … {len(leaves) - len(shown)} more leaves (view.text(limit=None) lists all)")
    bad = [leaves[i].path for i, s in enumerate(stats or []) if s and (s.nan or s.inf)]
    if bad:
        lines.append(f"  ⚠ {len(bad)} leaves hold NaN/Inf, first: {bad[0]}")
    return "\n".join(lines)


def params_html(
    title: str,
    leaves: list[ParamLeaf],
    stats: list[ParamStats | None] | None = None,
    budget: int = LEAF_BUDGET,
    query: str | None = None,
) -> str:
    """The foldable tree: every subtree says how many values/bytes it holds; leaves show kind,
    dtype, shape and (when computed) statistics. Beyond ``budget`` leaves, subtrees stay folded
    with their totals and the leaves are left out (``view.subtree(path)`` renders one)."""
    root = build_tree(leaves, stats)
    out: list[str] = []
    remaining = [budget]

    def leaf_html(i: int) -> str:
        leaf = leaves[i]
        s = stats[i] if stats else None
        shape = "×".join(map(str, leaf.shape)) or "scalar"
        cls = "pt-leaf pt-bad" if s and (s.nan or s.inf) else "pt-leaf"
        extra = f' <span class="pt-n">{esc(_stats_text(s))}</span>' if s else ""
        shard = (
            f' <span class="pt-n">sharding {esc(leaf.sharding)}</span>'
            if leaf.sharding and leaf.sharding != "single device"
            else ""
        )
        return (
            f'<div class="{cls}" data-path="{esc(leaf.path)}">{esc(leaf.components[-1] if leaf.components else leaf.path)} '
            f'<span class="pt-kind">{esc(leaf.kind)}</span> {esc(leaf.dtype)}[{esc(shape)}] '
            f'<span class="pt-n">{esc(human_count(leaf.size))} · {esc(human_bytes(leaf.bytes))}</span>{shard}{extra}</div>'
        )

    def walk(node: _Node, depth: int) -> None:
        for name, child in node.children.items():
            opened = " open" if depth < OPEN_DEPTH or child.bad else ""
            bad = f' <span class="pt-bad">⚠ {child.bad} NaN/Inf</span>' if child.bad else ""
            out.append(
                f"<details{opened}><summary><b>{esc(name)}</b> "
                f'<span class="pt-n">{esc(human_count(child.size))} values · {child.count} leaves · '
                f"{esc(human_bytes(child.bytes))}</span>{bad}</summary>"
            )
            if remaining[0] > 0:
                walk(child, depth + 1)
            else:
                out.append(f'<div class="pt-n">… {child.count} leaves folded (output budget)</div>')
            out.append("</details>")
        for i in node.leaves:
            if remaining[0] <= 0:
                out.append(f'<div class="pt-n">… {len(node.leaves)} leaves here not shown (output budget)</div>')
                break
            remaining[0] -= 1
            out.append(leaf_html(i))

    walk(root, 0)
    kinds = "".join(
        f"<tr><td>{esc(k)}</td><td>{n}</td><td>{esc(human_count(s))}</td><td>{esc(human_bytes(b))}</td></tr>"
        for k, n, s, b in kinds_summary(leaves)
    )
    head = (
        f'<table><thead><tr><th>kind</th><th>leaves</th><th>values</th><th>bytes</th></tr></thead>'
        f"<tbody>{kinds}</tbody></table>"
    )
    note = f'<div class="pt-n">filter: {esc(query)}</div>' if query else ""
    _uid[0] += 1
    uid = f"jipt{_uid[0]}"
    body = f'<div id="{uid}">{note}{head}<div class="jp-pt">{"".join(out)}</div>{_SCRIPT % uid}</div>'
    return _CSS + view(body, headline(title, leaves))
