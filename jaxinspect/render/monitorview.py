"""The monitor's summary as text and HTML (terminal IPython, frontends without widgets, and the
widget's fallback text). Reads a ``MonitorState.snapshot()`` dict. Never imports jax."""

from __future__ import annotations

from typing import Any

from ..units import human_bytes
from .htmllib import esc, view


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_lines(snap: dict[str, Any]) -> list[str]:
    out = []
    status = snap.get("status") or {}
    state = "running" if status.get("busy") else "idle"
    out.append(f"jaxinspect monitor · kernel {state} · {snap.get('updates', 0)} updates")
    for name, points in (snap.get("scalars") or {}).items():
        if points:
            step, value = points[-1]
            out.append(f"  {name}: {_fmt(value)} at step {step} ({len(points)} points)")
    if snap.get("more_scalars"):
        out.append(f"  … {snap['more_scalars']} more scalars not shown (the first 16 names logged are kept)")
    functions = snap.get("functions") or {}
    if functions:
        total = sum(r.get("compiles") or 0 for r in functions.values())
        out.append(f"  compiles: {total} in {len(functions)} functions")
        for row in sorted(functions.values(), key=lambda r: -(r.get("compiles") or 0))[:5]:
            reason = f" — last: {row['last_reason']}" if row.get("last_reason") else ""
            out.append(f"    {row.get('name')}: {row.get('compiles')}×{reason}")
    mem = snap.get("memory")
    if mem:
        out.append(f"  memory: {human_bytes(mem.get('bytes'))} in {mem.get('arrays')} arrays")
        for owner in mem.get("owners") or []:
            out.append(f"    {owner.get('name')}: {human_bytes(owner.get('bytes'))}")
    for name, row in (snap.get("params") or {}).items():
        out.append(
            f"  {name}: step {_fmt(row.get('step'))}, norm {_fmt(row.get('norm'))}, "
            f"update {_fmt(row.get('update'))}, non-finite {row.get('nonfinite')}"
        )
    keys = snap.get("keys")
    if keys:
        out.append(
            f"  keys: tracking {'on' if keys.get('tracking') else 'off'}, {keys.get('consumed')} uses, "
            f"{keys.get('reuses')} reuses"
        )
    procs = snap.get("processes")
    if procs and procs.get("rows"):
        more = f" (+{procs['more']} more)" if procs.get("more") else ""
        out.append(f"  processes: {len(procs['rows'])}{more}")
        for row in procs["rows"]:
            out.append(
                f"    p{row.get('process_index')} {row.get('host')}:{row.get('pid')} {row.get('state')}: "
                f"{row.get('compiles')} compiles, {human_bytes(row.get('bytes'))} live, "
                f"{row.get('alerts')} alerts"
            )
        for f in procs.get("differs") or []:
            counts = ", ".join(f"{k}: {v}" for k, v in f["counts"].items())
            out.append(f"    ⚠ {f['name']} compiled a different number of times per process ({counts})")
    for alert in (snap.get("alerts") or [])[-5:]:
        out.append(f"  ⚠ {alert.get('message')}")
    return out


def summary_text(snap: dict[str, Any]) -> str:
    return "\n".join(summary_lines(snap))


def summary_html(snap: dict[str, Any]) -> str:
    head, *rest = summary_lines(snap)
    rows = "".join(
        f'<div class="{"ji-warn" if line.strip().startswith("⚠") else ""}"><code>{esc(line)}</code></div>'
        for line in rest
    )
    return view(rows or '<div class="ji-muted">nothing recorded yet</div>', head)
