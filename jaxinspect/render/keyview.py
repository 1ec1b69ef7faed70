"""PRNG key views (``jaxinspect.keys()``): reuses first, then the lineage tree and the consumers
table, with a text twin. Never imports jax."""

from __future__ import annotations

from typing import Any

from .. import units
from ..records import KeyNodeRecord, KeyReuse, KeysRecord
from ..units import plural
from .doc import (
    Column,
    Group,
    Line,
    Markup,
    More,
    Section,
    Table,
    Text,
    View,
    place,
    to_html,
    to_text,
)

_CSS = Markup("""<style>
.ji-keys .k-row{font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:nowrap}
.ji-keys .k-st{display:inline-block;padding:0 5px;border-radius:7px;font-size:11px;
 background:var(--jp-layout-color2,#eee)}
.ji-keys .k-reused{background:rgba(255,60,60,.25);font-weight:600}
.ji-keys .k-fresh{background:rgba(60,160,60,.2)}
.ji-keys .k-reuse{border-left:3px solid var(--jp-error-color1,#c00);padding:2px 8px;margin:4px 0}
</style>""")
MAX_REUSES = 20
RULE = (
    "a key is its bits: a root made again from the same seed (key(0), PRNGKey, nnx.Rngs(0)) "
    "within one notebook cell execution (outside IPython: the whole session) is the same key, "
    "so drawing from it again is a reuse; a re-run cell starts fresh lineages"
)


def _use(op: str, site: str | None) -> str:
    return units.key_use(op, site)


def state_line(rec: KeysRecord) -> str:
    mode = {"warn": "warns", "error": "raises", "ignore": "records only"}.get(rec.on_reuse, rec.on_reuse)
    on = f"on ({mode} on reuse)" if rec.tracking else "off"
    return (
        f"key tracking {on}: {_n(rec.created, 'key')} created, {rec.derived:,} derived, "
        f"{_n(rec.consumed, 'use')}, {_n(rec.reuses, 'reuse')}"
    )


def _n(n: int, word: str) -> str:
    return plural(n, word, thousands=True)


def reuse_lines(r: KeyReuse) -> list[str]:
    where = "eager" if r.where == "eager" else f"jit, in {r.function or '?'}"
    count = f" ×{r.count}" if r.count > 1 else ""
    lines = [
        f"⚠ {r.key}: {r.reuse}{count} ({where})",
        f"    first:  {_use(r.first_op, r.first_site)}",
        f"    then:   {_use(r.second_op, r.second_site)}",
    ]
    remade = _remade(r)
    if remade:
        lines.append(f"    why:    {remade}")
    if r.path:
        lines.append(f"    lineage: {' → '.join(r.path)}")
    return lines


def _remade(r: KeyReuse) -> str | None:
    """The clause of a reuse's message saying its root was made again from the same seed."""
    marker = " was made again from the same seed"
    at = r.message.find(marker)
    if at < 0:
        return None
    start = r.message.rfind(" (", 0, at)
    end = r.message.find(")", at)
    return r.message[start + 2 : end if end > 0 else None] if start >= 0 else None


def _node_line(n: KeyNodeRecord, places: dict[str, Any] | None = None) -> Line:
    used = ", ".join(n.used_by) + (f", +{n.uses - len(n.used_by)} more" if n.uses > len(n.used_by) else "")
    parts: list[Any] = [f"#{n.id} {n.label} ", Text(f"[{n.state}]", cls=f"k-st k-{n.state}")]
    if n.site:  # a site in a cell links to it in HTML
        parts += [Text(" @ ", role="muted"), place((places or {}).get(n.site), n.site, role="muted")]
    if used:
        parts.append(f"  used by: {used}")
    if n.folded:
        parts.append(Text(f"  (+{n.folded} hidden)", role="muted"))
    return Line(parts, indent=min(n.depth, 30), cls="k-row")


def keys_doc(rec: KeysRecord, reuses: list[KeyReuse], limit: int | None = 200) -> View:
    """Reuses first (newest first, bounded), the rule, the lineage tree (at most ``limit`` rows
    and the record's own bound, with "… N more"), then uses by sampler and line."""
    children: list[Any] = []
    if not rec.tracking and not rec.nodes and not reuses:
        children.append(
            Line(
                ["turn it on with ", Text("%jaxinspect keys on", role="code"), " or ",
                 Text("with jaxinspect.track_keys(): ...", role="code"),
                 "; jit-compiled code is also checked statically by ", Text("%jaxpr", role="code")],
                role="muted",
            )
        )  # fmt: skip
        return View(state_line(rec), children, cls="ji-keys", css=_CSS)
    if rec.tracking or rec.nodes:
        children.append(Line(f"rule: {RULE}", role="muted"))
    if reuses:
        blocks: list[Any] = []
        for r in reuses[-MAX_REUSES:][::-1]:
            head, *rest = reuse_lines(r)
            uses = {1: ("first:  ", r.first_at, r.first_use), 2: ("then:   ", r.second_at, r.second_use)}
            lines = [
                # the two uses: their places link to the cell (HTML), the text twin reads the same
                Line([uses[i][0], place(uses[i][1], uses[i][2])], indent=2, cls="k-row")
                if i in uses and uses[i][1] is not None
                else Line(x.strip(), indent=2, cls="k-row")
                for i, x in enumerate(rest, start=1)
            ]
            blocks.append(Group([Line(Text(head, role="bold")), *lines], cls="k-reuse"))
        blocks.append(More(len(reuses) - MAX_REUSES, "older reuses"))
        blocks.append(Line(f"fix: {reuses[-1].hint}", role="muted"))
        children.append(Section(f"reuses ({len(reuses)})", blocks, fold=False))
    if rec.nodes:
        rows = rec.nodes if limit is None else rec.nodes[:limit]
        more = rec.more_nodes + (len(rec.nodes) - len(rows))
        children.append(
            Section(
                f"lineage ({plural(len(rows), 'key')} shown: the newest and their ancestors)",
                [*(_node_line(n, rec.places) for n in rows), More(more, "more keys not shown", thousands=True)],
                open=True,
            )
        )
    if rec.note:
        children.append(Line(rec.note, role="muted"))
    if rec.consumers:
        table = Table(
            (Column("uses", "right"), "sampler", "where"),
            [(f"{c.count:,}", Text(c.name, role="code"), c.site or "") for c in rec.consumers],
        )
        children.append(Section("uses by sampler and line", [table]))
    return View(state_line(rec), children, cls="ji-keys", css=_CSS)


def keys_text(rec: KeysRecord, reuses: list[KeyReuse], limit: int | None = 200) -> str:
    return to_text(keys_doc(rec, reuses, limit))


def keys_html(rec: KeysRecord, reuses: list[KeyReuse], limit: int | None = None) -> str:
    return to_html(keys_doc(rec, reuses, limit))
