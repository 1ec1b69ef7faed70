"""Compile reports (``%jit_profile``, ``%jaxinspect compiles``): text twin, HTML, timeline.

Input is JSON records (``compile``, ``compile_stats``, ``compile_alert``); never live objects.
"""

from __future__ import annotations

from typing import Any

from .htmllib import esc, view

MAX_EVENT_ROWS = 50
MAX_FUNCTION_ROWS = 100
PHASE_COLORS = {"trace": "#4e79a7", "lower": "#f28e2b", "compile": "#e15759"}


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


def site(event: dict[str, Any]) -> str:
    where = event.get("call_site") or "?"
    cell = event.get("cell")
    if cell is not None:
        line = where.rsplit(":", 1)[-1]
        return f"cell [{cell}] line {line}"
    return where


def reasons_summary(counts: dict[str, int]) -> str:
    names = {
        "first_call": "first call",
        "static_recreated": "static re-created",
        "weak_type": "weak type",
        "static_part": "static part",
        "redefined_body": "body re-defined",
        "class": "class changed",
    }
    return (
        ", ".join(
            f"{names.get(k, k)} ×{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])
        )
        or "–"
    )


def event_reason(event: dict[str, Any]) -> str:
    reasons = event.get("reasons") or []
    if not reasons:
        return "internal" if event.get("internal") else "–"
    return "; ".join(r["message"] for r in reasons)


def no_compiles_text(hidden: int, include_internal: bool = False) -> str:
    """What an empty report says: "hit the cache" only when nothing compiled at all."""
    if hidden and not include_internal:
        return (
            "none of your functions compiled; JAX compiled "
            f"{hidden} of its own single operations run eagerly (jnp.ones, dtype conversions, …): "
            "--all shows them"
        )
    return "no compiles: every jitted call hit the cache"


def reason_details_html(reasons: list[dict[str, Any]]) -> str:
    """Each summarised reason's differences, one click away (``<details>``, no script)."""
    parts = []
    for r in reasons:
        details = r.get("details") or []
        if details:
            items = "".join(f"<li>{esc(d)}</li>" for d in details)
            parts.append(
                f'<details class="ji-muted"><summary>{len(details)} '
                f'difference{"s" if len(details) != 1 else ""}</summary><ul>{items}</ul></details>'
            )
    return "".join(parts)


def _header(title: str, events: list, functions: list, hidden: int, include_internal: bool) -> str:
    total = sum(f["total_s"] for f in functions)
    text = f"{title}: {len(events)} compile{'s' if len(events) != 1 else ''} of {len(functions)} function{'s' if len(functions) != 1 else ''}, {ms(total)} compiling"
    if hidden and not include_internal:
        text += f" ({hidden} JAX-internal compiles hidden; --all shows them)"
    return text


def report_text(
    title: str,
    events: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    hidden: int = 0,
    include_internal: bool = False,
) -> str:
    lines = [_header(title, events, functions, hidden, include_internal)]
    if not events:
        lines.append(f"  {no_compiles_text(hidden, include_internal)}")
        return "\n".join(lines)
    for a in alerts:
        lines.append(f"  ⚠ {a['message']}")
        lines.append(f"    fix: {a['hint']}")
    rows = [("function", "compiles", "trace", "lower", "compile", "total", "reasons")]
    for f in functions[:MAX_FUNCTION_ROWS]:
        rows.append(
            (
                f["fun_name"],
                str(f["compiles"]),
                ms(f["trace_s"]),
                ms(f["lower_s"]),
                ms(f["compile_s"]),
                ms(f["total_s"]),
                reasons_summary(f["reasons"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        lines.append(
            "  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:6])) + "  " + r[6]
        )
    if len(functions) > MAX_FUNCTION_ROWS:
        lines.append(f"  … {len(functions) - MAX_FUNCTION_ROWS} more functions")
    lines.append("events (oldest first):")
    shown = events[-MAX_EVENT_ROWS:]
    if len(events) > len(shown):
        lines.append(f"  … {len(events) - len(shown)} earlier events")
    for e in shown:
        nested = f" (inside {e['parent']})" if e.get("parent") else ""
        api = "" if e.get("api") == "call" else f" [{e['api']}]"
        lines.append(
            f"  #{e['id']} {e['fun_name']}{nested}{api} at {site(e)}: {ms(e['total_s'])} — {event_reason(e)}"
        )
        if outs := out_shardings_text(e):
            lines.append(f"      {outs}")
        for j, r in enumerate(e.get("reasons") or []):
            if r.get("details"):
                lines.append(
                    f"      ({len(r['details'])} differences listed in the HTML view and in "
                    f"reasons[{j}].details)"
                )
    recompiles = [e for e in shown if _is_recompile(e)]
    if recompiles:
        lines.append(
            f"  what changed in the program: %jaxinspect compiles --diff {recompiles[-1]['id']} "
            "(or jaxinspect.compile_diff(event))"
        )
    return "\n".join(lines)


def out_shardings_text(e: dict[str, Any], limit: int = 4) -> str:
    """``"outputs: 0 NamedSharding(...), 1 unspecified"`` when any output has a sharding, else ""."""
    outs = list(e.get("out_shardings") or ())
    if not any(o != "unspecified" and not o.startswith("… ") for o in outs):
        return ""  # nothing known about any output: say nothing
    parts = [f"{i} {o}" for i, o in enumerate(outs[:limit])]
    if len(outs) > limit:
        parts.append(f"… {len(outs) - limit} more")
    return "outputs: " + ", ".join(parts)


def _is_recompile(e: dict[str, Any]) -> bool:
    reasons = e.get("reasons") or []
    if str(e.get("fun_key", "")).startswith("<eager>."):
        return False  # an un-jitted lax.scan/cond: no jitted function to re-trace for a diff
    return bool(reasons) and not e.get("internal") and all(r["kind"] != "first_call" for r in reasons)


def timeline_svg(events: list[dict[str, Any]], width: int = 720) -> str:
    """A static SVG timeline (no script): one row per function, one bar per phase."""
    if not events:
        return ""
    t0 = min(e["time"] for e in events)
    t1 = max(e["time"] + e["total_s"] for e in events)
    span = max(t1 - t0, 1e-6)
    names = list(dict.fromkeys(e["fun_name"] for e in events))[:30]
    row, left = 18, 140
    height = row * len(names) + 24
    scale = (width - left - 10) / span
    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="compile timeline" style="font:11px sans-serif">'
    ]
    for i, name in enumerate(names):
        parts.append(f'<text x="0" y="{i * row + 13}" fill="currentColor">{esc(name[:22])}</text>')
    for e in events:
        if e["fun_name"] not in names:
            continue
        y = names.index(e["fun_name"]) * row + 3
        x = left + (e["time"] - t0) * scale
        for phase in ("trace", "lower", "compile"):
            d = e.get(f"{phase}_s")
            if not d:
                continue
            w = max(d * scale, 1.0)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{PHASE_COLORS[phase]}">'
                f"<title>{esc(e['fun_name'])} {phase} {esc(ms(d))}</title></rect>"
            )
            x += w
    axis_y = row * len(names) + 16
    parts.append(f'<text x="{left}" y="{axis_y}" fill="currentColor">0</text>')
    parts.append(f'<text x="{width - 60}" y="{axis_y}" fill="currentColor">{esc(ms(span))}</text>')
    parts.append("</svg>")
    legend = " ".join(f'<span style="color:{c}">■</span> {p}' for p, c in PHASE_COLORS.items())
    return "".join(parts) + f'<div class="ji-muted">{legend}</div>'


def report_html(
    title: str,
    events: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    hidden: int = 0,
    include_internal: bool = False,
) -> str:
    parts = []
    if not events:
        parts.append(f'<div class="ji-muted">{esc(no_compiles_text(hidden, include_internal))}</div>')
        return view("".join(parts), _header(title, events, functions, hidden, include_internal))
    for a in alerts:
        parts.append(f'<div class="ji-warn">⚠ {esc(a["message"])}<br>fix: {esc(a["hint"])}</div>')
    head = "".join(
        f"<th>{h}</th>"
        for h in ("function", "compiles", "trace", "lower", "compile", "total", "reasons")
    )
    body = []
    for f in functions[:MAX_FUNCTION_ROWS]:
        last = "<br>".join(esc(r["message"]) for r in f.get("last_reasons") or [])
        body.append(
            f'<tr><td title="{esc(f.get("defined_at") or "")}"><code>{esc(f["fun_name"])}</code></td>'
            f"<td>{f['compiles']}</td><td>{ms(f['trace_s'])}</td><td>{ms(f['lower_s'])}</td>"
            f"<td>{ms(f['compile_s'])}</td><td>{ms(f['total_s'])}</td>"
            f'<td>{esc(reasons_summary(f["reasons"]))}<div class="ji-muted">{last}</div></td></tr>'
        )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    if len(functions) > MAX_FUNCTION_ROWS:
        parts.append(
            f'<div class="ji-muted">… {len(functions) - MAX_FUNCTION_ROWS} more functions</div>'
        )
    parts.append(f"<details open><summary>timeline</summary>{timeline_svg(events)}</details>")
    shown = events[-MAX_EVENT_ROWS:]
    rows = []
    for e in shown:
        rows.append(
            f"<tr><td>#{e['id']}</td><td><code>{esc(e['fun_name'])}</code>"
            + (
                f' <span class="ji-muted">inside {esc(e["parent"])}</span>'
                if e.get("parent")
                else ""
            )
            + f"</td><td>{esc(site(e))}</td><td>{ms(e['total_s'])}</td><td>{esc(event_reason(e))}"
            + reason_details_html(e.get("reasons") or [])
            + f'<div class="ji-muted">{esc(e.get("signature") or "")}</div>'
            + f'<div class="ji-muted">{esc(out_shardings_text(e))}</div></td></tr>'
        )
    more = (
        f'<div class="ji-muted">… {len(events) - len(shown)} earlier events</div>'
        if len(events) > len(shown)
        else ""
    )
    parts.append(
        f"<details><summary>events ({len(events)})</summary>{more}<table><thead><tr><th>#</th><th>function</th>"
        f"<th>call site</th><th>time</th><th>reason</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )
    return view("".join(parts), _header(title, events, functions, hidden, include_internal))


def timeline_figure(events: list[dict[str, Any]]):
    """A plotly timeline of compile events (one bar per phase); needs plotly."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if not events:
        return fig
    t0 = min(e["time"] for e in events)
    for phase, color in PHASE_COLORS.items():
        xs, bases, ys, texts = [], [], [], []
        for e in events:
            start = e["time"] - t0
            offset = sum(
                e.get(f"{p}_s") or 0.0
                for p in ("trace", "lower", "compile")[: ("trace", "lower", "compile").index(phase)]
            )
            d = e.get(f"{phase}_s")
            if not d:
                continue
            xs.append(d * 1e3)
            bases.append((start + offset) * 1e3)
            ys.append(e["fun_name"])
            texts.append(
                f"#{e['id']} {esc(e['fun_name'])} {phase}: {ms(d)}<br>{esc(event_reason(e))}"
            )
        fig.add_bar(
            x=xs,
            base=bases,
            y=ys,
            orientation="h",
            name=phase,
            marker_color=color,
            hovertext=texts,
            hoverinfo="text",
        )
    fig.update_layout(
        barmode="overlay",
        xaxis_title="ms since first compile",
        height=120 + 24 * len({e["fun_name"] for e in events}),
        margin=dict(l=10, r=10, t=30, b=40),
        title="compile timeline",
    )
    return fig
