"""The in-cell monitor's state: hub records and logged scalars folded into a small, bounded JSON
state, and the *delta* each fold adds, so the widget is sent what changed rather than whole
histories. Pure: no threads, no jax.

Delta (and snapshot) shape, every key optional in a delta::

    {"status": {...}, "scalars": {name: [[step, value], ...]},           # points: appended
     "functions": {fun_key: row}, "compile_events": [row], "alerts": [row],  # rows: replace / append
     "memory": {...}, "memory_points": [[t, bytes]],
     "params": {name: row}, "param_points": {name: [[step, norm, update]]},
     "keys": {...}, "processes": {"rows": [...], "differs": [...]}, "more_scalars": int,
     "scalar_text": {name: text}, "compiles": {"total", "functions", "text", "top"},
     "updates": int}

Every number the widget shows arrives as text (``*_text`` keys, ``message``), formatted here by
``units``, the same functions the cell views and the sidebar's records use: the widget formats
nothing itself.

A snapshot has every key, with the bounded histories in full; ``apply`` of a snapshot on an empty
state gives the same state (the widget relies on this).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .. import units
from .processtable import ProcessTable

HISTORY = 300  # points per curve
EVENTS = 20  # recent compile events
ALERTS = 30
FUNCTIONS = 50
OWNERS = 5
SCALARS = 16  # curves kept (the first names logged)


def _num(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _json_num(v: float | None) -> float | str | None:
    """JSON has no NaN/Inf: send them as strings the widget shows as such."""
    if v is None:
        return None
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return v


class MonitorState:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.scalars: dict[str, deque] = {}
        self.functions: dict[str, dict[str, Any]] = {}
        self.compile_events: deque = deque(maxlen=EVENTS)
        self.alerts: deque = deque(maxlen=ALERTS)
        self.memory: dict[str, Any] | None = None
        self.memory_points: deque = deque(maxlen=HISTORY)
        self.params: dict[str, dict[str, Any]] = {}
        self.param_points: dict[str, deque] = {}
        self.keys: dict[str, Any] | None = None
        self.scalar_text: dict[str, str] = {}  # the latest value of each curve, as shown
        self.compiles: dict[str, Any] | None = None  # totals over ``functions`` (replaced whole)
        self.processes: dict[str, Any] | None = None  # a collector's processes, side by side
        self._process_table: ProcessTable | None = None
        self.updates = 0
        self.more_scalars = 0  # names logged beyond the first SCALARS
        self._skipped: set[str] = set()
        self._seen_alerts: set = set()

    # -- folding ------------------------------------------------------------------------------
    def add_scalars(
        self,
        points: list[tuple[int | None, str, Any]],
        delta: dict[str, Any],
        names: Any = (),
    ) -> None:
        """``points``: (step, name, value) in logging order; values already host numbers.
        ``names``: every name logged since the last call, in the order first logged — given when
        ``points`` were trimmed to the newest per curve (the trim reorders first appearances)."""
        for name in names:
            if name not in self.scalars:
                self._curve(name, delta)
        for step, name, value in points:
            v = _num(value)
            if v is None:
                continue
            series = self.scalars.get(name)
            if series is None:
                series = self._curve(name, delta)
                if series is None:
                    continue
            point = [step if step is not None else (series[-1][0] + 1 if series else 0), _json_num(v)]
            series.append(point)
            delta.setdefault("scalars", {}).setdefault(name, []).append(point)
            self.scalar_text[name] = units.human_value(point[1])
            delta.setdefault("scalar_text", {})[name] = self.scalar_text[name]
            if isinstance(v, float) and not math.isfinite(v) and ("scalar", name) not in self._seen_alerts:
                self._seen_alerts.add(("scalar", name))
                self._alert(delta, "nan", f"{name} became {_json_num(v)} at step {point[0]}", name)

    def _curve(self, name: str, delta: dict[str, Any]) -> deque | None:
        """A new curve, or None when SCALARS are kept already (the first names logged win; the
        rest are counted)."""
        if len(self.scalars) >= SCALARS:
            if name not in self._skipped and len(self._skipped) < 100_000:
                self._skipped.add(name)
                self.more_scalars = len(self._skipped)
                delta["more_scalars"] = self.more_scalars
            return None
        series = self.scalars[name] = deque(maxlen=HISTORY)
        return series

    def apply(self, records: list[dict[str, Any]], delta: dict[str, Any]) -> None:
        touched = False
        for rec in records:
            kind = rec.get("kind")
            if kind in ("process", "remote"):
                if self._process_table is None:
                    self._process_table = ProcessTable()
                touched = self._process_table.add(rec) is not None or touched
                continue
            fold = getattr(self, f"_on_{kind}", None)
            if fold is not None:
                fold(rec, delta)
        if touched:
            self._fold_processes(delta)

    def _fold_processes(self, delta: dict[str, Any]) -> None:
        """A compact side-by-side summary (replaced whole: a handful of rows)."""
        table = self._process_table
        summary = table.record()
        rows = table.rows()
        label = {str(row["id"]): str(row.get("label") or f"p{row['process_index']}") for row in rows}
        differs = []
        for f in summary.functions:
            if not f.differs or len(differs) >= 5:
                continue
            counts = {label.get(k, "?"): v for k, v in f.counts.items()}
            listed = " · ".join(f"{k}: {v}" for k, v in counts.items())
            differs.append({
                "name": f.name,
                "counts": counts,
                "message": f"{f.name} compiled a different number of times per process ({listed}): "
                "they may be running different programs",
            })
        self.processes = {
            "rows": [
                {k: row.get(k) for k in ("id", "process_index", "host", "pid", "state", "compiles",
                                         "bytes", "bytes_text", "arrays", "device_in_use",
                                         "in_use_text", "alerts", "last_recompile", "activity",
                                         "activity_text", "stuck")}
                | {"label": label[str(row["id"])]}
                for row in rows[:16]
            ],
            "more": max(0, len(rows) - 16),
            "differs": differs,
            "diagnosis": summary.diagnosis,
        }
        delta["processes"] = self.processes

    def _alert(self, delta: dict, level: str, message: str, name: str) -> None:
        row = {"level": level, "message": message, "name": name}
        self.alerts.append(row)
        delta.setdefault("alerts", []).append(row)

    def _on_status(self, rec: dict, delta: dict) -> None:
        self.status = {
            "busy": bool(rec.get("busy")),
            "execution_count": rec.get("execution_count"),
            "cell_elapsed_s": rec.get("cell_elapsed_s"),
            "elapsed_text": units.human_duration(rec.get("cell_elapsed_s")),
        }
        delta["status"] = self.status

    def _on_compile(self, rec: dict, delta: dict) -> None:
        if rec.get("internal"):
            return
        reasons = rec.get("reasons") or []
        row = {
            "id": rec.get("id"),
            "name": rec.get("fun_name"),
            "total_s": rec.get("total_s"),
            "total_text": units.human_duration(rec.get("total_s")),
            "reason": reasons[0].get("message") if reasons else "first compile",
            "call_site": rec.get("call_site"),
            "location": units.location(rec.get("call_site"), rec.get("cell")),
        }
        self.compile_events.append(row)
        delta.setdefault("compile_events", []).append(row)

    def _on_compile_stats(self, rec: dict, delta: dict) -> None:
        if rec.get("internal"):
            return
        key = rec.get("fun_key")
        if key not in self.functions and len(self.functions) >= FUNCTIONS:
            return
        last = rec.get("last_reasons") or []
        row = {
            "name": rec.get("fun_name"),
            "compiles": rec.get("compiles"),
            "total_s": rec.get("total_s"),
            "total_text": units.human_duration(rec.get("total_s")),
            "last_reason": last[0].get("message") if last else None,
            # the lines the kernel shows under the function (e.g. its compiled memory)
            "notes": list(rec.get("notes") or ()),
        }
        self.functions[key] = row
        delta.setdefault("functions", {})[key] = row
        self._sum_compiles(delta)

    def _sum_compiles(self, delta: dict) -> None:
        """The compiles over every function shown, and the most compiled first (at most 8)."""
        total = sum(int(r.get("compiles") or 0) for r in self.functions.values())
        order = sorted(self.functions, key=lambda k: (-int(self.functions[k].get("compiles") or 0),
                                                      str(self.functions[k].get("name"))))
        self.compiles = {
            "total": total,
            "functions": len(self.functions),
            "text": f"{units.plural(total, 'compile')} in "
            f"{units.plural(len(self.functions), 'function')}",
            "top": order[:8],
        }
        delta["compiles"] = self.compiles

    def _on_compile_alert(self, rec: dict, delta: dict) -> None:
        self._alert(delta, "compile", f"{rec.get('message')}. Fix: {rec.get('hint')}", rec.get("fun_name") or "")

    def _on_buffers(self, rec: dict, delta: dict) -> None:
        def device(d: dict) -> dict:
            in_use = d.get("bytes_in_use")
            return {"device": d.get("device"), "bytes": d.get("bytes"), "bytes_in_use": in_use,
                    # the allocator's figure where there is one (not on CPU), else the arrays'
                    "text": units.human_bytes(in_use if in_use is not None else d.get("bytes"))}

        self.memory = {
            "bytes": rec.get("bytes"),
            "bytes_text": units.human_bytes(rec.get("bytes")),
            "arrays": rec.get("arrays"),
            "arrays_text": units.human_value(rec.get("arrays")),
            "devices": [device(d) for d in (rec.get("devices") or [])[:16]],
            "owners": [
                {"name": o.get("name"), "bytes": o.get("bytes"), "arrays": o.get("arrays"),
                 "text": f"{units.human_bytes(o.get('bytes'))} ({units.human_value(o.get('arrays'))} arrays)"}
                for o in (rec.get("owners") or [])[:OWNERS]
            ],
        }
        point = [rec.get("time"), rec.get("bytes")]
        self.memory_points.append(point)
        delta["memory"] = self.memory
        delta.setdefault("memory_points", []).append(point)

    def _on_buffer_alert(self, rec: dict, delta: dict) -> None:
        """One row per alert; a later record with the same id (the count grew in a later cell)
        updates nothing here, its resolution ("resolved: …") adds one row."""
        key = ("buffer_alert", rec.get("id"))
        message = str(rec.get("message"))
        if key in self._seen_alerts and not message.startswith("resolved"):
            return
        self._seen_alerts.add(key)
        self._alert(delta, "memory", f"{message}. Fix: {rec.get('hint')}", rec.get("name") or "")

    def _on_params_watch(self, rec: dict, delta: dict) -> None:
        name = rec.get("name") or "params"
        row = {
            "step": rec.get("step"),
            "norm": _json_num(_num(rec.get("norm"))),
            "update": _json_num(_num(rec.get("update"))),
            "nonfinite": rec.get("nonfinite"),
            "values": rec.get("values"),
        }
        row["norm_text"] = units.human_value(row["norm"])
        row["update_text"] = units.human_value(row["update"])
        row["step_text"] = units.human_value(row["step"])
        row["nonfinite_text"] = units.human_value(row["nonfinite"])
        self.params[name] = row
        delta.setdefault("params", {})[name] = row
        point = [rec.get("step"), row["norm"], row["update"]]
        self.param_points.setdefault(name, deque(maxlen=HISTORY)).append(point)
        delta.setdefault("param_points", {}).setdefault(name, []).append(point)

    def _on_params_alert(self, rec: dict, delta: dict) -> None:
        key = ("params_alert", rec.get("name"), rec.get("id"))
        if key in self._seen_alerts:  # the same alert again, now with nan_guard's cause
            if rec.get("cause"):
                self._alert(delta, "nan", f"{rec.get('name')}: cause: {rec.get('cause')}", rec.get("name") or "")
            return
        self._seen_alerts.add(key)
        self._alert(delta, "nan", f"{rec.get('message')}. Fix: {rec.get('hint')}", rec.get("name") or "")

    def _on_keys(self, rec: dict, delta: dict) -> None:
        self.keys = {k: rec.get(k) for k in ("tracking", "created", "derived", "consumed", "reuses")}
        v = units.human_value
        self.keys["text"] = (
            f"tracking {'on' if rec.get('tracking') else 'off'} · {v(rec.get('created'))} created · "
            f"{v(rec.get('derived'))} derived · {v(rec.get('consumed'))} uses · "
            f"{v(rec.get('reuses'))} reuses"
        )
        delta["keys"] = self.keys

    def _on_key_reuse(self, rec: dict, delta: dict) -> None:
        if rec.get("count", 1) == 1:
            self._alert(delta, "keys", str(rec.get("message")), str(rec.get("key")))

    # -- views --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "scalars": {k: list(v) for k, v in self.scalars.items()},
            "functions": dict(self.functions),
            "compile_events": list(self.compile_events),
            "alerts": list(self.alerts),
            "memory": self.memory,
            "memory_points": list(self.memory_points),
            "params": dict(self.params),
            "param_points": {k: list(v) for k, v in self.param_points.items()},
            "keys": self.keys,
            "processes": self.processes,
            "more_scalars": self.more_scalars,
            "scalar_text": dict(self.scalar_text),
            "compiles": self.compiles,
            "updates": self.updates,
        }
