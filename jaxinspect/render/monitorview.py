"""The monitor's summary as text and HTML (terminal IPython, front ends without widgets, and the
snapshot a saved notebook keeps beside the widget): one document, two back ends. Reads a
``MonitorState.snapshot()`` dict. The HTML also draws the curves (logged scalars, watched
parameters' norm and update ratio, device memory) as inline SVG (``svgchart``: no plotly, no
script, bounded). Never imports jax."""

from __future__ import annotations

from typing import Any

from ..units import human_bytes, human_value
from . import svgchart
from .doc import Alert, Group, Line, Markup, Raw, Section, View, to_html, to_text

CHART_SCALARS = 8  # logged curves drawn (one small chart each)
CHART_PARAMS = 4  # watched trees drawn (norm and update ratio)
CHART_W, CHART_H = 280, 110


def _fmt(v: Any) -> str:
    """A logged or measured value as every view shows it (``units.human_value``)."""
    return human_value(v)


def _charts(snap: dict[str, Any]) -> Markup:
    """Small multiples of the curves in the snapshot (bounded: ≤ 300 points per curve)."""
    parts: list[str] = []
    texts = snap.get("scalar_text") or {}
    for name, points in list((snap.get("scalars") or {}).items())[:CHART_SCALARS]:
        if not points:
            continue
        last = texts.get(name) or _fmt(points[-1][1])
        parts.append(svgchart.line_chart({name: points}, title=f"{name}: {last}", width=CHART_W, height=CHART_H))
    for name, points in list((snap.get("param_points") or {}).items())[:CHART_PARAMS]:
        if not points:
            continue
        norms = [(p[0], p[1]) for p in points]
        updates = [(p[0], p[2]) for p in points if len(p) > 2]
        parts.append(svgchart.line_chart({"‖θ‖": norms}, title=f"{name} ‖θ‖", width=CHART_W, height=CHART_H))
        if any(isinstance(u[1], (int, float)) and u[1] > 0 for u in updates):  # drawable on a log axis
            parts.append(svgchart.line_chart({"‖Δθ‖/‖θ‖": updates}, title=f"{name} update ratio ‖Δθ‖/‖θ‖",
                                             width=CHART_W, height=CHART_H, log_y=True))  # fmt: skip
    mem = snap.get("memory_points") or []
    if len(mem) > 1:
        t0 = mem[0][0]
        size, unit = svgchart.byte_scale([p[1] for p in mem])
        pts = [(p[0] - t0, p[1] / size if isinstance(p[1], (int, float)) else None) for p in mem]
        parts.append(svgchart.line_chart({unit: pts}, title=f"device memory ({unit})", width=CHART_W,
                                         height=CHART_H, x_label="seconds"))  # fmt: skip
    if not parts:
        return Markup("")
    return Markup(
        '<div class="ji-charts" style="display:flex;flex-wrap:wrap;gap:6px 14px;margin:4px 0">'
        + "".join(f"<div>{p}</div>" for p in parts)
        + "</div>"
    )


def summary_doc(snap: dict[str, Any]) -> View:
    """Latest scalars, compiles per function (top 5), memory by holder, watched params, keys,
    processes side by side and the newest alerts; "nothing recorded yet" when empty."""
    status = snap.get("status") or {}
    state = "running" if status.get("busy") else "idle"
    head = f"jaxinspect monitor · kernel {state} · {snap.get('updates', 0)} updates"
    out: list[Any] = []
    charts = _charts(snap)
    if charts:
        out.append(Raw(charts, only="html"))
    for name, points in (snap.get("scalars") or {}).items():
        if points:
            step, value = points[-1]
            out.append(Line(f"{name}: {_fmt(value)} at step {step} ({len(points)} points)"))
    if snap.get("more_scalars"):
        out.append(Line(f"… {snap['more_scalars']} more scalars not shown (the first 16 names logged are kept)",
                        role="muted"))  # fmt: skip
    functions = snap.get("functions") or {}
    compiles = snap.get("compiles") or {}
    if functions and compiles:
        rows: list[Any] = []
        for row in [functions[k] for k in compiles.get("top", []) if k in functions][:5]:
            reason = f" — last: {row['last_reason']}" if row.get("last_reason") else ""
            rows.append(Line(f"{row.get('name')}: {row.get('compiles')}×{reason}"))
            for note in row.get("notes") or ():
                rows.append(Line(note, indent=1, role="muted"))
        out.append(Section(str(compiles.get("text")), rows, fold=False, colon=False))
    mem = snap.get("memory")
    if mem:
        owners = [Line(f"{o.get('name')}: {human_bytes(o.get('bytes'))}") for o in mem.get("owners") or []]
        out.append(Section(f"memory: {human_bytes(mem.get('bytes'))} in {mem.get('arrays')} arrays", owners,
                           fold=False, colon=False))  # fmt: skip
    for name, row in (snap.get("params") or {}).items():
        out.append(
            Line(f"{name}: step {_fmt(row.get('step'))}, norm {_fmt(row.get('norm'))}, "
                 f"update {_fmt(row.get('update'))}, non-finite {row.get('nonfinite')}")
        )  # fmt: skip
    keys = snap.get("keys")
    if keys:
        out.append(
            Line(f"keys: tracking {'on' if keys.get('tracking') else 'off'}, {keys.get('consumed')} uses, "
                 f"{keys.get('reuses')} reuses")
        )  # fmt: skip
    procs = snap.get("processes")
    if procs and procs.get("rows"):
        more = f" (+{procs['more']} more)" if procs.get("more") else ""
        lines: list[Any] = [
            Line(f"{row.get('label') or 'p' + str(row.get('process_index'))} {row.get('host')}:{row.get('pid')} "
                 f"{row.get('state')}: {row.get('compiles')} compiles, {human_bytes(row.get('bytes'))} live, "
                 f"{row.get('alerts')} alerts" + (f"; {row['activity_text']}" if row.get("activity_text") else ""))
            for row in procs["rows"]
        ]  # fmt: skip
        if procs.get("diagnosis"):
            lines.append(Alert(f"Stuck: {procs['diagnosis']}", level="error"))
        for f in procs.get("differs") or []:
            counts = ", ".join(f"{k}: {v}" for k, v in f["counts"].items())
            lines.append(Alert(f"{f['name']} compiled a different number of times per process ({counts})"))
        out.append(Section(f"processes: {len(procs['rows'])}{more}", lines, fold=False, colon=False))
    out += [Alert(alert.get("message")) for alert in (snap.get("alerts") or [])[-5:]]
    if not out:
        out.append(Line("nothing recorded yet", role="muted"))
    return View(head, [Group(out, indent=2)])


def summary_lines(snap: dict[str, Any]) -> list[str]:
    return summary_text(snap).splitlines()


def summary_text(snap: dict[str, Any]) -> str:
    return to_text(summary_doc(snap))


def summary_html(snap: dict[str, Any]) -> str:
    return to_html(summary_doc(snap))
