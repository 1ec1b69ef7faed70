"""The processes of a multi-process job side by side, as text and HTML. Reads a
``ProcessTable.snapshot()`` dict (plus the collector's address). Never imports jax."""

from __future__ import annotations

import time
from typing import Any

from .. import units
from ..units import human_bytes, plural
from .doc import (
    Alert,
    Blank,
    Column,
    Group,
    Items,
    Line,
    More,
    Pre,
    Section,
    Table,
    Text,
    View,
    to_html,
    to_text,
)

COLUMNS = 8  # processes shown side by side; the rest are counted
CELL = 30  # characters per text cell
ALERTS = 10
MAX_STACKS = 32


def _cut(text: Any, width: int = CELL) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _ago(t: Any, now: float) -> str:
    if not isinstance(t, (int, float)):
        return ""
    s = max(0.0, now - t)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago"


def _label(p: dict[str, Any]) -> str:
    return str(p.get("label") or f"p{p.get('process_index')}")


def _activity(p: dict[str, Any]) -> str:
    """The short form for a column: "⚠ stuck 14 s", "waiting 3 s", "running", "idle"."""
    act = str(p.get("activity") or "–")
    if act in ("stuck", "waiting") and p.get("still_s") is not None:
        act = f"{act} {units.stillness(p.get('still_s'))}"
    return ("⚠ " if p.get("stuck") else "") + act


def _main_threads(procs: list[dict[str, Any]]) -> list[Any]:
    """Where each main thread is, in full (a column would cut the line number off): the
    sentence, the line's code, and the library call it is inside."""
    out: list[Any] = []
    for p in procs:
        if p.get("activity") in (None, "connected"):
            continue
        mark = "⚠ " if p.get("stuck") else ""
        out.append(Line(f"{mark}{_label(p)}: {p.get('activity_text')}", role="error" if p.get("stuck") else None))
        where = p.get("where") if isinstance(p.get("where"), dict) else None
        if where and where.get("code") and p.get("activity") not in ("done", "lost", "idle"):
            out.append(Line([Text(str(where["code"]), role="code")], indent=2))
        if p.get("inner") and p.get("activity") not in ("done", "lost", "idle"):
            out.append(Line(f"inside {p['inner']}", role="muted", indent=2))
    return out


def _cells(p: dict[str, Any], now: float) -> dict[str, str]:
    """The side-by-side rows for one process."""
    state = str(p.get("state"))
    seen = _ago(p.get("last_seen"), now)
    if state == "done":
        state = f"done {seen}".strip()
    if state == "lost":
        state = f"lost {seen}".strip()
    elif state == "connected" and p.get("activity") not in (None, "connected"):
        state = f"connected, seen {seen}" if seen else "connected"  # its main thread: the next row
    elif state == "connected":
        busy = {True: "running", False: "idle", None: ""}[p.get("busy")]
        state = f"connected {busy}".strip() + (f", seen {seen}" if seen else "")
    devices = p.get("devices") or []
    in_use = p.get("device_in_use")
    return {
        "host:pid": f"{p.get('host')}:{p.get('pid')}",
        "state": state,
        "main thread": _activity(p),
        "last step": p.get("last_step_text") or "–",
        "last compile": p.get("last_compile_text") or "–",
        "backend": f"{p.get('backend') or '?'} · {plural(len(devices), 'device')}",
        "compiles": f"{p.get('compiles')} ({p.get('compile_text') or units.NONE})",
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
    # the collector's table writes the summary (the sidebar shows the same line)
    summary = snap.get("summary") or plural(len(procs), "process", many="processes")
    where = f" · collector at {address}" if address else ""
    return "Processes: " + summary + where


def processes_doc(snap: dict[str, Any], address: str | None = None, now: float | None = None) -> View:
    """Processes side by side (at most ``COLUMNS``), compiles by function with the "≠" mark where
    processes compiled a function a different number of times, then the newest alerts."""
    now = time.time() if now is None else now
    procs = snap.get("processes") or []
    title = headline(snap, address)
    if not procs:
        if snap.get("transport") == "ipyparallel":
            hint = ("No engine has published yet: run %px %load_ext jaxinspect (or "
                    "%px import jaxinspect; jaxinspect.connect()) on the engines.")  # fmt: skip
        else:
            hint = ("No process has connected yet. In each process: import jaxinspect; "
                    "jaxinspect.connect() with this collector's env (JAXINSPECT_COLLECTOR, "
                    "JAXINSPECT_COLLECTOR_TOKEN) set.")  # fmt: skip
        return View(title, [Group([Line(hint, role="muted")], indent=2)])
    shown = procs[:COLUMNS]
    labels = [_label(p) for p in shown]
    cells = [_cells(p, now) for p in shown]
    optional = ("note",)
    keys = [k for k in cells[0] if k not in optional or any(c[k] for c in cells)]
    side = Table(
        [Column("", max=16)] + [Column(label, max=CELL) for label in labels],
        [[k] + [_cut(c[k], 80) for c in cells] for k in keys],
        more=len(procs) - len(shown),
        more_label="more processes (collector.processes() lists all)",
    )
    children: list[Any] = []
    if snap.get("diagnosis"):
        children += [Blank(), Alert(f"Stuck: {snap['diagnosis']}", level="error")]
    children += [Blank(), side]
    threads = _main_threads(shown)
    if threads:
        children += [Blank(), Section("Main threads", threads, fold=False, colon=False)]
    stacks = [(p, p.get("stack")) for p in procs if p.get("stack")]
    if stacks:
        parts = []
        for p, text in stacks[:COLUMNS]:
            why = "when it looked stuck" if p.get("stack_reason") == "waiting" else "when asked"
            parts.append(Section(f"{_label(p)} · taken {_ago(now - float(p.get('stack_age_s') or 0), now)} {why}",
                                 [Pre(str(text))], fold=not p.get("stuck"), indent=2, colon=False))
        children += [Blank(), Section("Main-thread stacks", parts, fold=False, colon=False)]
    funcs = snap.get("functions") or []
    if funcs:
        rows = [
            [("≠ " if r.get("differs") else "  ") + _cut(r["name"], 60)]  # aligned under the marks
            + [str(r["counts"].get(p["id"], "") or "") for p in shown]
            + [_cut(r.get("reason") or "", 120)]
            for r in funcs
        ]
        columns = [Column("function", max=26)] + [Column(label, "right") for label in labels]
        columns.append(Column("last reason", max=60))
        table = Table(columns, rows, more=snap.get("more_functions") or 0, more_label="more functions")
        title_parts = [Text("Compiles by function", role="bold"),
                       Text(" (≠: processes compiled it a different number of times)", role="muted")]  # fmt: skip
        children += [Blank(), Section(title_parts, [table], fold=False, indent=0, colon=False)]
    alerts = snap.get("alerts") or []
    if alerts:
        items = [f"{a.get('label') or 'p' + str(a.get('process_index'))}: {_cut(a.get('message'), 200)}"
                 for a in alerts[-ALERTS:][::-1]]
        children += [
            Blank(),
            Section("Alerts", [Items(items), More(len(alerts) - ALERTS, "more alerts")], fold=False, colon=False),
        ]
    return View(title, children)


def text(snap: dict[str, Any], address: str | None = None, now: float | None = None) -> str:
    return to_text(processes_doc(snap, address, now))


def html(snap: dict[str, Any], address: str | None = None, now: float | None = None) -> str:
    return to_html(processes_doc(snap, address, now))


def stacks_doc(data: dict[str, Any], since: float | None = None) -> View:
    """Each process's main-thread stack (``collector.stacks()``): the stuck ones first, each
    with its activity and the stack's age; a process with none says why."""
    now = time.time()
    entries = list(data.get("entries") or [])
    entries.sort(key=lambda e: e.get("activity") != "stuck")
    asked = set(data.get("asked") or [])
    children: list[Any] = []
    if data.get("diagnosis"):
        children += [Alert(f"Stuck: {data['diagnosis']}", level="error"), Blank()]
    for e in entries[:MAX_STACKS]:
        stack = e.get("stack")
        head = f"{e.get('label')}: {e.get('activity_text')}"
        if stack is None:
            why = ("asked; no answer yet" if e.get("id") in asked
                   else "not asked (no doorbell: it ended, or runs an older jaxinspect)")
            children += [Section(head, [Line(f"no stack ({why})", role="muted")], fold=False, colon=False), Blank()]
            continue
        fresh = since is not None and float(stack.get("time") or 0) >= since - 0.5
        asked_now = fresh and stack.get("reason") == "asked"
        reason = "when asked" if stack.get("reason") == "asked" else "when it looked stuck"
        age = ("just now" if fresh else _ago(stack.get("time"), now)) + (
            "" if asked_now or e.get("id") not in asked else " (it did not answer the request now)")
        children += [Section(head, [Line(f"taken {age}, {reason}", role="muted"),
                                    Pre(str(stack.get("text") or ""))], fold=False, colon=False), Blank()]
    if len(entries) > MAX_STACKS:
        children.append(More(len(entries) - MAX_STACKS, "more processes"))
    for problem in data.get("problems") or []:
        children.append(Line(problem, role="muted"))
    if not entries:
        children.append(Line("No process is publishing to this collector.", role="muted"))
    return View("Main-thread stacks", children)


def stacks_text(data: dict[str, Any], since: float | None = None) -> str:
    return to_text(stacks_doc(data, since))


def stacks_html(data: dict[str, Any], since: float | None = None) -> str:
    return to_html(stacks_doc(data, since))
