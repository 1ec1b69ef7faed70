"""PRNG key views (``jaxinspect.keys()``): reuses first, then the lineage tree and the consumers
table, with a text twin. Never imports jax."""

from __future__ import annotations

from ..records import KeyReuse, KeysRecord
from ..units import plural
from .htmllib import esc, view

_CSS = """<style>
.ji-keys .k-row{font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:nowrap}
.ji-keys .k-st{display:inline-block;padding:0 5px;border-radius:7px;font-size:11px;
 background:var(--jp-layout-color2,#eee)}
.ji-keys .k-reused{background:rgba(255,60,60,.25);font-weight:600}
.ji-keys .k-fresh{background:rgba(60,160,60,.2)}
.ji-keys .k-reuse{border-left:3px solid var(--jp-error-color1,#c00);padding:2px 8px;margin:4px 0}
</style>"""
MAX_REUSES = 20
RULE = (
    "a key is its bits: a root made again from the same seed (key(0), PRNGKey, nnx.Rngs(0)) "
    "within one notebook cell execution (outside IPython: the whole session) is the same key, "
    "so drawing from it again is a reuse; a re-run cell starts fresh lineages"
)


def _use(op: str, site: str | None) -> str:
    return f"{op} @ {site}" if site else op


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


def keys_text(rec: KeysRecord, reuses: list[KeyReuse], limit: int | None = 200) -> str:
    out = [state_line(rec)]
    if not rec.tracking and not rec.nodes and not reuses:
        out.append(
            "turn it on with `%jaxinspect keys on` or `with jaxinspect.track_keys(): ...`; "
            "jit-compiled code is also checked statically by %jaxpr"
        )
        return "\n".join(out)
    if rec.tracking or rec.nodes:
        out.append(f"rule: {RULE}")
    if reuses:
        out.append(f"reuses ({len(reuses)}):")
        for r in reuses[-MAX_REUSES:][::-1]:
            out.extend("  " + line for line in reuse_lines(r))
        if len(reuses) > MAX_REUSES:
            out.append(f"  … {len(reuses) - MAX_REUSES} older reuses")
        out.append(f"  fix: {reuses[-1].hint}")
    if rec.nodes:
        out.append("lineage (newest keys and their ancestors):")
        rows = rec.nodes if limit is None else rec.nodes[:limit]
        for n in rows:
            used = ", ".join(n.used_by) + (f", +{n.uses - len(n.used_by)} more" if n.uses > len(n.used_by) else "")
            folded = f"  (+{n.folded} hidden)" if n.folded else ""
            site = f" @ {n.site}" if n.site else ""
            out.append(
                f"  {'  ' * min(n.depth, 30)}#{n.id} {n.label} [{n.state}]{site}"
                + (f"  used by: {used}" if used else "")
                + folded
            )
        more = rec.more_nodes + (len(rec.nodes) - len(rows))
        if more:
            out.append(f"  … {more:,} more keys not shown")
    if rec.note:
        out.append(rec.note)
    if rec.consumers:
        out.append("uses by sampler and line:")
        for c in rec.consumers:
            out.append(f"  {c.count:>8,}  {_use(c.name, c.site)}")
    return "\n".join(out)


def keys_html(rec: KeysRecord, reuses: list[KeyReuse]) -> str:
    parts = [_CSS, f'<div class="ji-keys"><div>{esc(state_line(rec))}</div>']
    if not rec.tracking and not rec.nodes and not reuses:
        parts.append(
            '<div class="ji-muted">Turn it on with <code>%jaxinspect keys on</code> or '
            "<code>with jaxinspect.track_keys(): ...</code>. Jit-compiled code is also checked "
            "statically by <code>%jaxpr</code>.</div></div>"
        )
        return view("".join(parts), "PRNG keys")
    for r in reuses[-MAX_REUSES:][::-1]:
        head, *rest = reuse_lines(r)
        parts.append(
            f'<div class="k-reuse"><b>{esc(head)}</b>'
            + "".join(f'<div class="k-row">{esc(line.strip())}</div>' for line in rest)
            + "</div>"
        )
    if rec.tracking or rec.nodes:
        parts.append(f'<div class="ji-muted">rule: {esc(RULE)}</div>')
    if len(reuses) > MAX_REUSES:
        parts.append(f'<div class="ji-muted">… {len(reuses) - MAX_REUSES} older reuses</div>')
    if reuses:
        parts.append(f'<div class="ji-muted">fix: {esc(reuses[-1].hint)}</div>')
    if rec.nodes:
        rows = []
        for n in rec.nodes:
            used = ", ".join(n.used_by) + (f", +{n.uses - len(n.used_by)} more" if n.uses > len(n.used_by) else "")
            rows.append(
                f'<div class="k-row" style="padding-left:{min(n.depth, 30) * 14}px">'
                f"#{n.id} {esc(n.label)} <span class=\"k-st k-{esc(n.state)}\">{esc(n.state)}</span>"
                + (f' <span class="ji-muted">@ {esc(n.site)}</span>' if n.site else "")
                + (f" · used by {esc(used)}" if used else "")
                + (f' <span class="ji-muted">(+{n.folded} hidden)</span>' if n.folded else "")
                + "</div>"
            )
        if rec.more_nodes:
            rows.append(f'<div class="ji-muted">… {rec.more_nodes:,} more keys not shown</div>')
        parts.append(
            f"<details open><summary>lineage ({len(rec.nodes)} keys shown)</summary>{''.join(rows)}</details>"
        )
    if rec.note:
        parts.append(f'<div class="ji-muted">{esc(rec.note)}</div>')
    if rec.consumers:
        body = "".join(
            f"<tr><td>{c.count:,}</td><td><code>{esc(c.name)}</code></td><td>{esc(c.site or '')}</td></tr>"
            for c in rec.consumers
        )
        parts.append(
            "<details><summary>uses by sampler and line</summary><table><thead><tr><th>uses</th>"
            f"<th>sampler</th><th>where</th></tr></thead><tbody>{body}</tbody></table></details>"
        )
    parts.append("</div>")
    return view("".join(parts), "PRNG keys")
