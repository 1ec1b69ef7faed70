"""The monitor's summary as text and HTML (terminal IPython, frontends without widgets, and the
widget's fallback text): one document, two back ends. Reads a ``MonitorState.snapshot()`` dict.
Never imports jax."""

from __future__ import annotations

from typing import Any

from ..units import human_bytes, human_value
from .doc import Alert, Group, Line, Section, View, to_html, to_text


def _fmt(v: Any) -> str:
    """A logged or measured value as every view shows it (``units.human_value``)."""
    return human_value(v)


def summary_doc(snap: dict[str, Any]) -> View:
    """Latest scalars, compiles per function (top 5), memory by holder, watched params, keys,
    processes side by side and the newest alerts; "nothing recorded yet" when empty."""
    status = snap.get("status") or {}
    state = "running" if status.get("busy") else "idle"
    head = f"jaxinspect monitor · kernel {state} · {snap.get('updates', 0)} updates"
    out: list[Any] = []
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
            Line(f"p{row.get('process_index')} {row.get('host')}:{row.get('pid')} {row.get('state')}: "
                 f"{row.get('compiles')} compiles, {human_bytes(row.get('bytes'))} live, {row.get('alerts')} alerts")
            for row in procs["rows"]
        ]  # fmt: skip
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
