"""The processes of a multi-process job side by side, as text and HTML. Reads a
``ProcessTable.snapshot()`` dict (plus the collector's address). Never imports jax."""

from __future__ import annotations

import time
from typing import Any

from ..units import human_bytes, plural
from .htmllib import esc, table, view

COLUMNS = 8  # processes shown side by side; the rest are counted
CELL = 30  # characters per text cell
ALERTS = 10


def _cut(text: Any, width: int = CELL) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _ago(t: Any, now: float) -> str:
    if not isinstance(t, (int, float)):
        return ""
    s = max(0.0, now - t)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago"


def _label(p: dict[str, Any]) -> str:
    return f"p{p.get('process_index')}"


def _cells(p: dict[str, Any], now: float) -> dict[str, str]:
    """The side-by-side rows for one process."""
    state = str(p.get("state"))
    seen = _ago(p.get("last_seen"), now)
    if state == "lost":
        state = f"lost {seen}".strip()
    elif state == "connected":
        busy = {True: "running", False: "idle", None: ""}[p.get("busy")]
        state = f"connected {busy}".strip() + (f", seen {seen}" if seen else "")
    devices = p.get("devices") or []
    in_use = p.get("device_in_use")
    return {
        "host:pid": f"{p.get('host')}:{p.get('pid')}",
        "state": state,
        "backend": f"{p.get('backend') or '?'} · {plural(len(devices), 'device')}",
        "compiles": f"{p.get('compiles')} ({p.get('compile_s', 0):.2f} s)",
        "last recompile": p.get("last_recompile") or "—",
        "live arrays": "—"
        if p.get("arrays") is None
        else f"{p.get('arrays')} · {human_bytes(p.get('bytes'))}",
        "device memory": "n/a (CPU)"
        if in_use is None
        else f"{human_bytes(in_use)} (peak {human_bytes(p.get('device_peak'))})",
        "alerts": str(p.get("alerts", 0)),
        "records": f"{p.get('records')} ({p.get('dropped')} dropped)",
        "note": p.get("note") or "",
    }


def headline(snap: dict[str, Any], address: str | None = None) -> str:
    procs = snap.get("processes") or []
    states: dict[str, int] = {}
    for p in procs:
        states[str(p.get("state"))] = states.get(str(p.get("state")), 0) + 1
    parts = [plural(len(procs), "process", many="processes")] + [f"{n} {s}" for s, n in sorted(states.items())]
    where = f" · collector at {address}" if address else ""
    return "Processes: " + " · ".join(parts) + where


def text(snap: dict[str, Any], address: str | None = None, now: float | None = None) -> str:
    now = time.time() if now is None else now
    procs = snap.get("processes") or []
    lines = [headline(snap, address)]
    if not procs:
        lines.append(
            "  No process has connected yet. In each process: import jaxinspect; "
            "jaxinspect.connect() with this collector's env (JAXINSPECT_COLLECTOR, "
            "JAXINSPECT_COLLECTOR_TOKEN) set."
        )
        return "\n".join(lines)
    shown = procs[:COLUMNS]
    cells = [_cells(p, now) for p in shown]
    width = [max(len(_label(p)), *(len(_cut(c[k])) for k in c)) for p, c in zip(shown, cells, strict=False)]
    lines.append("")
    lines.append(" " * 16 + "  ".join(_label(p).ljust(w) for p, w in zip(shown, width, strict=False)))
    for key in cells[0]:
        if key == "note" and not any(c["note"] for c in cells):
            continue
        lines.append(f"{key:<16}" + "  ".join(_cut(c[key]).ljust(w) for c, w in zip(cells, width, strict=False)).rstrip())
    if len(procs) > COLUMNS:
        lines.append(f"… {len(procs) - COLUMNS} more processes (collector.processes() lists all)")
    funcs = snap.get("functions") or []
    if funcs:
        lines.append("")
        lines.append("Compiles by function (≠: processes compiled it a different number of times)")
        lines.append("  " + "function".ljust(24) + "".join(_label(p).rjust(6) for p in shown) + "  last reason")
        for row in funcs:
            counts = "".join(str(row["counts"].get(p["id"], "") or "").rjust(6) for p in shown)
            mark = "≠ " if row.get("differs") else "  "
            lines.append(f"{mark}{_cut(row['name'], 24):<24}{counts}  {_cut(row.get('reason') or '', 60)}")
        if snap.get("more_functions"):
            lines.append(f"  … {snap['more_functions']} more functions")
    alerts = snap.get("alerts") or []
    if alerts:
        lines.append("")
        lines.append("Alerts")
        for a in alerts[-ALERTS:][::-1]:
            lines.append(f"  p{a.get('process_index')}: {_cut(a.get('message'), 160)}")
        if len(alerts) > ALERTS:
            lines.append(f"  … {len(alerts) - ALERTS} more alerts")
    return "\n".join(lines)


def html(snap: dict[str, Any], address: str | None = None, now: float | None = None) -> str:
    now = time.time() if now is None else now
    procs = snap.get("processes") or []
    title = headline(snap, address)
    if not procs:
        return view(f"<p class='ji-muted'>{esc(text(snap, address, now).splitlines()[1])}</p>", title)
    shown = procs[:COLUMNS]
    cells = [_cells(p, now) for p in shown]
    keys = [k for k in cells[0] if k != "note" or any(c["note"] for c in cells)]
    parts = [
        table([""] + [_label(p) for p in shown], [[k] + [_cut(c[k], 80) for c in cells] for k in keys])
    ]
    if len(procs) > COLUMNS:
        parts.append(f"<p class='ji-muted'>… {len(procs) - COLUMNS} more processes</p>")
    funcs = snap.get("functions") or []
    if funcs:
        rows = [
            [("≠ " if r.get("differs") else "") + _cut(r["name"], 60)]
            + [r["counts"].get(p["id"], "") or "" for p in shown]
            + [_cut(r.get("reason") or "", 120)]
            for r in funcs
        ]
        parts.append("<div><b>Compiles by function</b> <span class='ji-muted'>(≠: processes "
                     "compiled it a different number of times)</span></div>")
        parts.append(table(["function"] + [_label(p) for p in shown] + ["last reason"], rows))
        if snap.get("more_functions"):
            parts.append(f"<p class='ji-muted'>… {snap['more_functions']} more functions</p>")
    alerts = snap.get("alerts") or []
    if alerts:
        items = "".join(
            f"<li>p{esc(a.get('process_index'))}: {esc(_cut(a.get('message'), 300))}</li>"
            for a in alerts[-ALERTS:][::-1]
        )
        more = f"<li class='ji-muted'>… {len(alerts) - ALERTS} more alerts</li>" if len(alerts) > ALERTS else ""
        parts.append(f"<div><b>Alerts</b></div><ul>{items}{more}</ul>")
    return view("".join(parts), title)
