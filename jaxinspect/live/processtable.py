"""The processes of a multi-process job side by side: ``process`` and ``remote`` records folded
into one bounded table (used by the collector's view and the in-cell monitor). Pure: no threads,
no jax; callers serialise access."""

from __future__ import annotations

from collections import deque
from typing import Any

FUNCTIONS = 200  # functions tracked per process
ALERTS = 50
EVENTS = 50
MAX_PROCESSES = 256


class _Proc:
    def __init__(self, pid: int, index: int) -> None:
        self.info: dict[str, Any] = {
            "id": pid,
            "process_index": index,
            "process_count": 1,
            "host": "?",
            "pid": 0,
            "state": "connected",
            "last_seen": None,
            "records": 0,
            "dropped": 0,
            "backend": None,
            "devices": [],
            "note": None,
        }
        self.functions: dict[str, dict[str, Any]] = {}  # fun_key -> compile_stats
        self.events: deque = deque(maxlen=EVENTS)
        self.buffers: dict[str, Any] | None = None
        self.status: dict[str, Any] | None = None
        self.alerts = 0


class ProcessTable:
    """Fold ``process`` / ``remote`` records; ``rows()`` and ``snapshot()`` read the result."""

    def __init__(self) -> None:
        self._procs: dict[int, _Proc] = {}
        self.alerts: deque = deque(maxlen=ALERTS)
        self.version = 0

    def __len__(self) -> int:
        return len(self._procs)

    def add(self, rec: dict[str, Any]) -> int | None:
        """Fold one record; returns the process id it touched (None for other kinds)."""
        kind = rec.get("kind")
        if kind == "process":
            proc = self._proc(rec.get("id"), rec.get("process_index"))
            if proc is None:
                return None
            proc.info.update({k: rec.get(k) for k in proc.info if k in rec})
        elif kind == "remote":
            proc = self._proc(rec.get("source"), rec.get("process_index"))
            inner = rec.get("record")
            if proc is None or not isinstance(inner, dict):
                return None
            self._fold(proc, inner)
        else:
            return None
        self.version += 1
        return proc.info["id"]

    def _proc(self, pid: Any, index: Any) -> _Proc | None:
        if not isinstance(pid, int):
            return None
        proc = self._procs.get(pid)
        if proc is None:
            if len(self._procs) >= MAX_PROCESSES:
                ended = [p for p, v in self._procs.items() if v.info["state"] != "connected"]
                if not ended:
                    return None
                del self._procs[ended[0]]
            proc = self._procs[pid] = _Proc(pid, index if isinstance(index, int) else 0)
        return proc

    def _fold(self, proc: _Proc, rec: dict[str, Any]) -> None:
        kind = rec.get("kind")
        if kind == "compile_stats" and not rec.get("internal"):
            key = str(rec.get("fun_key"))
            if key in proc.functions or len(proc.functions) < FUNCTIONS:
                proc.functions[key] = rec
        elif kind == "compile" and not rec.get("internal"):
            proc.events.append(rec)
        elif kind == "buffers":
            if proc.buffers is None or (rec.get("seq") or 0) >= (proc.buffers.get("seq") or 0):
                proc.buffers = rec
        elif kind == "status":
            proc.status = rec
        elif kind in ("compile_alert", "buffer_alert", "params_alert", "key_reuse", "internal_error"):
            if kind == "key_reuse" and rec.get("count", 1) != 1:
                return
            proc.alerts += 1
            message = rec.get("message")
            if kind == "internal_error":
                message = f"jaxinspect internal error in {rec.get('where')}: {message}"
            self.alerts.append(
                {"id": proc.info["id"], "process_index": proc.info["process_index"],
                 "kind": kind, "message": str(message)}
            )

    # -- reading ---------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One summary row per process, by process index then connection."""
        out = []
        for proc in sorted(self._procs.values(), key=lambda p: (p.info["process_index"], p.info["id"])):
            stats = [s for s in proc.functions.values()]
            last = next((e for e in reversed(proc.events) if e.get("reasons")), None)
            buffers = proc.buffers or {}
            devices = buffers.get("devices") or []
            in_use = [d.get("bytes_in_use") for d in devices if d.get("bytes_in_use") is not None]
            peak = [d.get("peak_bytes_in_use") for d in devices if d.get("peak_bytes_in_use") is not None]
            out.append(
                {
                    **proc.info,
                    "compiles": sum(int(s.get("compiles") or 0) for s in stats),
                    "compile_s": round(sum(float(s.get("total_s") or 0.0) for s in stats), 4),
                    "last_recompile": None
                    if last is None
                    else f"{last.get('fun_name')}: {last['reasons'][0].get('message')}",
                    "arrays": buffers.get("arrays"),
                    "bytes": buffers.get("bytes"),
                    "device_in_use": sum(in_use) if in_use else None,
                    "device_peak": sum(peak) if peak else None,
                    "busy": None if proc.status is None else bool(proc.status.get("busy")),
                    "alerts": proc.alerts,
                    "memory": [
                        {k: d.get(k) for k in ("device", "arrays", "bytes", "bytes_in_use",
                                               "peak_bytes_in_use", "bytes_limit")}
                        for d in devices[:64]
                    ],
                }
            )
        return out

    def functions(self, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Compile counts per function name, one count per process; ``differs`` marks a function
        that processes compiled a different number of times (in a multi-controller job that is
        usually a process tracing a different program, which hangs at the next collective)."""
        procs = sorted(self._procs.values(), key=lambda p: (p.info["process_index"], p.info["id"]))
        names: dict[str, dict[str, Any]] = {}
        for proc in procs:
            for stats in proc.functions.values():
                name = str(stats.get("fun_name"))
                row = names.setdefault(name, {"name": name, "counts": {}, "reason": None, "_best": -1})
                n = int(stats.get("compiles") or 0)
                row["counts"][proc.info["id"]] = row["counts"].get(proc.info["id"], 0) + n
                last = stats.get("last_reasons") or []
                if n > row["_best"] and last:
                    row["_best"], row["reason"] = n, last[0].get("message")
        rows = []
        for row in names.values():
            counts = [row["counts"].get(p.info["id"], 0) for p in procs]
            row.pop("_best")
            row["total"] = sum(counts)
            row["differs"] = len(procs) > 1 and len(set(counts)) > 1
            rows.append(row)
        rows.sort(key=lambda r: (not r["differs"], -r["total"], r["name"]))
        return rows[:limit], max(0, len(rows) - limit)

    def snapshot(self, functions: int = 50) -> dict[str, Any]:
        rows, more = self.functions(functions)
        return {
            "processes": self.rows(),
            "functions": rows,
            "more_functions": more,
            "alerts": list(self.alerts),
        }
