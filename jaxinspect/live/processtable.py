"""The processes of a multi-process job side by side: ``process`` and ``remote`` records folded
into one bounded table (used by the collector's view and the in-cell monitor). Pure: no threads,
no jax; callers serialise access."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from .. import units
from ..config import config
from ..records import Location, ProcessesRecord, ProcessFacts, ProcessFunctionRow

FUNCTIONS = 200  # functions tracked per process
ALERTS = 50
EVENTS = 50
MAX_PROCESSES = 256
FUNCTION_ROWS = 50  # rows of "compiles by function" in a ``processes`` record
SUMMARY_EVERY = 0.25  # seconds between ``processes`` records while records stream in
NOT_REPORTED = "n/a (CPU)"
SILENT_AFTER = 6.0  # seconds without a liveness record (sent every second): "silent"
DIAGNOSED = 3  # stuck processes named in the diagnosis; the rest are counted


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
            "engine_id": None,
            "transport": "loopback",
            "doorbell": None,
            "label": f"p{index}",
        }
        self.functions: dict[str, dict[str, Any]] = {}  # fun_key -> compile_stats (user)
        self.internal: dict[str, int] = {}  # fun_key -> compiles of JAX-internal functions
        self.events: deque = deque(maxlen=EVENTS)
        self.buffers: dict[str, Any] | None = None
        self.status: dict[str, Any] | None = None
        self.alerts = 0
        self.reported = False  # a `process` record arrived (else known from its records only)
        self.liveness: dict[str, Any] | None = None  # the newest `liveness` record
        self.liveness_at: float | None = None  # when it arrived here (Unix seconds)
        self.stack: dict[str, Any] | None = None  # the newest `stack` record

    def still(self, now: float) -> float | None:
        """Seconds its main thread has stayed at one place, as of ``now`` (None: unknown)."""
        live = self.liveness
        if live is None:
            return None
        still = _float(live.get("still_s"))
        if live.get("activity") == "waiting":  # it was still waiting when it last said so
            still += max(0.0, now - _float(live.get("time") or now))
        return still

    def activity(self, now: float, stuck_after: float) -> str:
        state = self.info["state"]
        if state in ("done", "lost"):
            return state
        live = self.liveness
        if live is None:
            return "connected"
        if self.liveness_at is not None and now - self.liveness_at > SILENT_AFTER:
            return "silent"
        act = str(live.get("activity") or "running")
        if act == "waiting" and (self.still(now) or 0.0) >= stuck_after:
            return "stuck"
        return act

    def site(self) -> str | None:
        """``"cell [3] line 7 (step)"``: where its main thread is in the user's code."""
        live = self.liveness or {}
        where = live.get("where")
        if not isinstance(where, dict) or not where.get("text"):
            return None
        text = str(where["text"])
        if self.info.get("engine_id") is not None and where.get("cell") is not None:
            text = "engine " + text  # the engine's own execution count, not the notebook's
        return units.site(text, live.get("function"))

    def activity_text(self, now: float, stuck_after: float) -> str:
        act = self.activity(now, stuck_after)
        site = self.site()
        at = f" at {site}" if site else ""
        still = units.stillness(self.still(now))
        if act in ("done", "lost"):
            return act  # when: the state line's age (this sentence is not re-sent once all ended)
        if act == "silent":
            quiet = units.stillness(now - (self.liveness_at or now))
            return (f"silent for {quiet}: no word from its jaxinspect thread (the process may be "
                    "stopped, or holding the GIL in native code)")
        if act == "stuck":
            return f"stuck {still}{at}"
        if act == "waiting":
            return f"waiting {still}{at}"
        if act in ("running", "compiling"):
            return f"{act}{at}"
        return act  # idle, connected

    def facts(self, now: float | None = None, stuck_after: float | None = None) -> ProcessFacts:
        now = time.time() if now is None else now
        stuck_after = float(config.stuck_after_s) if stuck_after is None else stuck_after
        stats = list(self.functions.values())
        compile_s = sum(_float(s.get("total_s")) for s in stats)
        last = next((e for e in reversed(self.events) if e.get("reasons")), None)
        buffers = self.buffers
        devices = (buffers or {}).get("devices") or []
        in_use = _sum_known(devices, "bytes_in_use")
        peak = _sum_known(devices, "peak_bytes_in_use")
        nbytes = None if buffers is None else _int_or_none(buffers.get("bytes"))
        return ProcessFacts(
            id=self.info["id"],
            process_index=self.info["process_index"],
            compiles=sum(_int(s.get("compiles")) for s in stats),
            internal_compiles=sum(self.internal.values()),
            compile_s=round(compile_s, 4),
            compile_text=units.human_duration(compile_s),
            last_recompile=None
            if last is None
            else f"{last.get('fun_name')}: {last['reasons'][0].get('message')}",
            arrays=None if buffers is None else _int_or_none(buffers.get("arrays")),
            bytes=nbytes,
            bytes_text=units.human_bytes(nbytes),
            device_in_use=in_use,
            in_use_text=_allocator_text(buffers, in_use),
            device_peak=peak,
            peak_text=_allocator_text(buffers, peak),
            alerts=self.alerts,
            **self._liveness_facts(now, stuck_after),
        )

    def _liveness_facts(self, now: float, stuck_after: float) -> dict[str, Any]:
        live = self.liveness or {}
        act = self.activity(now, stuck_after)
        where = live.get("where") if isinstance(live.get("where"), dict) else None
        step, step_t = live.get("last_step"), live.get("last_step_time")
        comp, comp_t = live.get("last_compile"), live.get("last_compile_time")
        stack = self.stack
        return {
            "label": str(self.info.get("label") or f"p{self.info['process_index']}"),
            "engine_id": self.info.get("engine_id"),
            "activity": act,
            "stuck": act == "stuck",
            "activity_text": self.activity_text(now, stuck_after),
            "where": None if where is None else Location(
                cell=where.get("cell"), line=where.get("line"), code=where.get("code"), path=where.get("path")),
            "function": live.get("function"),
            "inner": None if act in ("idle", "done", "lost") else live.get("inner"),  # idle: the event loop
            "still_s": None if self.liveness is None else round(self.still(now) or 0.0, 1),
            "last_step_text": units.NONE if not isinstance(step, int)
            else f"step {step} · {units.ago(now - _float(step_t or now))}",
            "last_compile_text": units.NONE if not comp
            else f"{comp} · {units.ago(now - _float(comp_t or now))}",
            "stack": None if stack is None else str(stack.get("text") or ""),
            "stack_reason": None if stack is None else str(stack.get("reason")),
            "stack_age_s": None if stack is None else round(max(0.0, now - _float(stack.get("time"))), 1),
        }


# what a main thread waits for, by the innermost call it is in (``stacklib``'s "file:line (fn)")
_WAITS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("jax/_src/distributed.py", (), "the other processes (a jax.distributed call)"),
    ("jax/experimental/multihost_utils.py", (), "the other processes (a multihost_utils call)"),
    ("jax/_src/array.py", (), "a device result (a step or a collective in it)"),
    ("jax/_src/api.py", ("block_until_ready",), "a device result (a step or a collective in it)"),
    ("/queue.py", (), "a queue"),
    ("/threading.py", (), "another thread (a lock, an event or a join)"),
    ("/selectors.py", (), "input/output (a socket or a pipe)"),
    ("/socket.py", (), "input/output (a socket)"),
    ("/subprocess.py", (), "a subprocess"),
)


def waiting_for(inner: str) -> str | None:
    """What a main thread inside ``inner`` ("jax/_src/array.py:696 (_value)") waits for, in
    plain words; None when the call is not one we know."""
    path, _, fn = inner.partition(" (")
    fn = fn.rstrip(")")
    path = path.rsplit(":", 1)[0].replace("\\", "/")
    for suffix, functions, words in _WAITS:
        if ("/" + path).endswith(suffix) and (not functions or fn in functions):
            return words
    return None


def _int(x: Any) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else 0


def _int_or_none(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _float(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _sum_known(devices: list, key: str) -> int | None:
    known = [d.get(key) for d in devices if isinstance(d, dict) and isinstance(d.get(key), (int, float))]
    return sum(known) if known else None


def _allocator_text(buffers: dict | None, n: int | None) -> str:
    """An allocator figure: "–" before any snapshot, "n/a (CPU)" when the allocator gives none."""
    if buffers is None:
        return units.NONE
    return NOT_REPORTED if n is None else units.human_bytes(n)


class ProcessTable:
    """Fold ``process`` / ``remote`` records; ``rows()`` and ``snapshot()`` read the result."""

    def __init__(self) -> None:
        self._procs: dict[int, _Proc] = {}
        self.alerts: deque = deque(maxlen=ALERTS)
        self.version = 0
        self._summary_version = 0
        self._summary_at = float("-inf")
        self._summary_seq = 0

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
            proc.reported = True
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
        if kind == "compile_stats":
            key = str(rec.get("fun_key"))
            if rec.get("internal"):
                if key in proc.internal or len(proc.internal) < FUNCTIONS:
                    proc.internal[key] = _int(rec.get("compiles"))
            elif key in proc.functions or len(proc.functions) < FUNCTIONS:
                proc.functions[key] = rec
        elif kind == "compile" and not rec.get("internal"):
            proc.events.append(rec)
        elif kind == "buffers":
            if proc.buffers is None or (rec.get("seq") or 0) >= (proc.buffers.get("seq") or 0):
                proc.buffers = rec
        elif kind == "status":
            proc.status = rec
        elif kind == "liveness":
            if proc.liveness is None or _float(rec.get("time")) >= _float(proc.liveness.get("time")):
                proc.liveness, proc.liveness_at = rec, time.time()
        elif kind == "stack":
            proc.stack = rec
        elif kind in ("compile_alert", "buffer_alert", "params_alert", "key_reuse", "internal_error"):
            if kind == "key_reuse" and rec.get("count", 1) != 1:
                return
            message = rec.get("message")
            if kind == "internal_error":
                message = f"jaxinspect internal error in {rec.get('where')}: {message}"
            # a re-send replaces the alert it updates (nan_guard's cause comes under the same
            # id; an internal error's count under its place), as in the sidebar
            same = rec.get("where") if kind == "internal_error" else rec.get("id") if kind == "params_alert" else None
            entry = {"id": proc.info["id"], "process_index": proc.info["process_index"],
                     "label": proc.info.get("label"), "kind": kind, "message": str(message), "_same": same}
            old = None if same is None else next(
                (a for a in self.alerts if a["id"] == entry["id"] and a["kind"] == kind and a["_same"] == same), None)
            if old is not None:
                self.alerts.remove(old)
            else:
                proc.alerts += 1
            self.alerts.append(entry)

    # -- reading ---------------------------------------------------------------------------
    def _sorted(self) -> list[_Proc]:
        return sorted(self._procs.values(), key=lambda p: (p.info["process_index"], p.info["id"]))

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per process, by process index then connection: its ``process``
        fields, its ``ProcessFacts`` and its devices' memory."""
        out = []
        for proc in self._sorted():
            facts = proc.facts()
            devices = (proc.buffers or {}).get("devices") or []
            out.append(
                {
                    **proc.info,
                    **{k: v for k, v in facts.to_json().items() if k not in ("id", "process_index")},
                    "busy": None if proc.status is None else bool(proc.status.get("busy")),
                    "memory": [
                        {k: d.get(k) for k in ("device", "arrays", "bytes", "bytes_in_use",
                                               "peak_bytes_in_use", "bytes_limit")}
                        for d in devices[:64]
                    ],
                }
            )
        return out

    def function_rows(self) -> list[ProcessFunctionRow]:
        """User compiles per function name across every process, differing functions first,
        then the most compiled, then by name. A function ``differs`` when its count is not the
        same on every process (0 for a process that never compiled it; one process never
        differs); its ``reason`` is the newest one of the process that compiled it most."""
        procs = self._sorted()
        counts: dict[str, dict[int, int]] = {}
        newest: dict[tuple[str, int], tuple[float, str | None]] = {}
        for proc in procs:
            pid = proc.info["id"]
            for stats in proc.functions.values():
                name = stats.get("fun_name")
                if not isinstance(name, str):
                    continue
                row = counts.setdefault(name, {})
                n = _int(stats.get("compiles"))
                if n > 0:
                    row[pid] = row.get(pid, 0) + n
                t = _float(stats.get("last_time"))
                held = newest.get((name, pid))
                if held is None or t >= held[0]:
                    last = stats.get("last_reasons") or [None]
                    message = last[0].get("message") if isinstance(last[0], dict) else None
                    newest[(name, pid)] = (t, message)
        rows = []
        for name, by_proc in counts.items():
            total = sum(by_proc.values())
            if total <= 0:
                continue
            per = [by_proc.get(p.info["id"], 0) for p in procs]
            best = max(range(len(procs)), key=lambda i: (per[i], -i))  # first of the most
            best_id = procs[best].info["id"]
            rows.append(
                ProcessFunctionRow(
                    name=name,
                    counts={str(k): v for k, v in by_proc.items()},
                    total=total,
                    differs=len(set(per)) > 1,
                    reason=newest.get((name, best_id), (0.0, None))[1],
                    reason_from=best_id,
                )
            )
        rows.sort(key=lambda r: (not r.differs, -r.total, r.name))
        return rows

    def functions(self, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """``function_rows()`` as dicts (``counts`` by connection id), at most ``limit``, and how
        many were left out."""
        rows = self.function_rows()
        out = [
            {"name": r.name, "counts": {int(k): v for k, v in r.counts.items()}, "total": r.total,
             "differs": r.differs, "reason": r.reason}
            for r in rows[:limit]
        ]
        return out, max(0, len(rows) - limit)

    def summary(self) -> str:
        """``"3 processes · 2 connected · 1 lost"`` (states with none left out), plus
        ``"job of 4"`` when the processes say the job has another number of processes than have
        been seen."""
        procs = self._sorted()
        states: dict[str, int] = {}
        for p in procs:
            states[str(p.info["state"])] = states.get(str(p.info["state"]), 0) + 1
        parts = [units.plural(len(procs), "process", many="processes")]
        parts += [f"{states[s]} {s}" for s in ("connected", "done", "lost") if states.get(s)]
        parts += [f"{n} {s}" for s, n in states.items() if s not in ("connected", "done", "lost")]
        stuck = sum(1 for p in procs if p.activity(time.time(), float(config.stuck_after_s)) == "stuck")
        if stuck:
            parts.append(f"{stuck} stuck")
        expected = max((_int(p.info["process_count"]) for p in procs if p.reported), default=0)
        if expected and expected != len(procs):
            parts.append(f"job of {expected}")
        return " · ".join(parts)

    def duplicates(self) -> dict[str, int]:
        """Process indices that more than one connected process claims (a launch mistake), as
        text, ascending -> how many connected processes claim each."""
        claims: dict[int, int] = {}
        for p in self._procs.values():
            index = p.info["process_index"]
            if p.info["state"] == "connected" and isinstance(index, int) and index >= 0:
                claims[index] = claims.get(index, 0) + 1
        return {str(i): n for i, n in sorted(claims.items()) if n > 1}

    def diagnosis(self, now: float | None = None, stuck_after: float | None = None) -> tuple[tuple[int, ...], str | None]:
        """The stuck processes (connection ids) and one sentence: each stuck process with the
        place it waits at and for how long, then what every other process is doing (the one
        that is elsewhere is usually why the others wait). None when none is stuck."""
        now = time.time() if now is None else now
        stuck_after = float(config.stuck_after_s) if stuck_after is None else stuck_after
        procs = self._sorted()
        stuck = [p for p in procs if p.activity(now, stuck_after) == "stuck"]
        if not stuck:
            return (), None
        ids = tuple(p.info["id"] for p in stuck)
        sites = {p.site() for p in stuck}
        others = [p for p in procs if p not in stuck]
        if not others and len(stuck) > 1 and len(sites) == 1:
            least = min(p.still(now) or 0.0 for p in stuck)
            return ids, (
                f"all {len(stuck)} processes have waited at least {units.stillness(least)} at "
                f"{next(iter(sites)) or 'the same place'}: a collective none of them can finish, "
                "or a long device step"
            )
        named = []
        for p in stuck[:DIAGNOSED]:
            live = p.liveness or {}
            inner = ""
            if live.get("inner"):
                what = waiting_for(str(live["inner"]))
                inner = (f" for {what}" if what else "") + f", inside {live['inner']}"
            named.append(f"{p.info.get('label')} has waited {units.stillness(p.still(now))} at "
                         f"{p.site() or 'an unknown place'}{inner}")
        text = "; ".join(named)
        if len(stuck) > DIAGNOSED:
            text += f"; {len(stuck) - DIAGNOSED} more stuck"
        if others:
            elsewhere = []
            for p in others[:DIAGNOSED]:
                what = p.activity_text(now, stuck_after)
                step = (p.liveness or {}).get("last_step")
                if isinstance(step, int):
                    what += f", last step {step}"
                elsewhere.append(f"{p.info.get('label')} {what}")
            more = f"; {len(others) - DIAGNOSED} more" if len(others) > DIAGNOSED else ""
            verb = "is" if len(others) == 1 else "are"
            text += f". Not there: {'; '.join(elsewhere)}{more} — the {'process' if len(others) == 1 else 'processes'} the others wait for {verb} elsewhere"
        return ids, text

    def record(self, seq: int = 0, now: float | None = None, limit: int = FUNCTION_ROWS) -> ProcessesRecord:
        """Everything derived, as the ``processes`` record the sidebar and the monitor display."""
        rows = self.function_rows()
        now = time.time() if now is None else now
        stuck_after = float(config.stuck_after_s)
        stuck, diagnosis = self.diagnosis(now, stuck_after)
        return ProcessesRecord(
            seq=seq,
            time=now,
            stuck=stuck,
            diagnosis=diagnosis,
            stuck_after_s=stuck_after,
            processes=tuple(p.facts(now, stuck_after) for p in self._sorted()),
            functions=tuple(rows[:limit]),
            more_functions=max(0, len(rows) - limit),
            more_differing=sum(1 for r in rows[limit:] if r.differs),
            differing=sum(1 for r in rows if r.differs),
            summary=self.summary(),
            duplicates=self.duplicates(),
        )

    def summary_due(self, rec: dict[str, Any], now: float | None = None) -> dict[str, Any] | None:
        """The ``processes`` record (JSON) to publish after folding ``rec``, or None: when the
        table changed, after every ``process`` record (the collector sends one after each batch,
        at most once a second per process, so the last state is always published) and at most
        every ``SUMMARY_EVERY`` seconds in between."""
        now = time.monotonic() if now is None else now
        if self.version == self._summary_version:
            return None
        if rec.get("kind") != "process" and now - self._summary_at < SUMMARY_EVERY:
            return None
        self._summary_version, self._summary_at = self.version, now
        self._summary_seq += 1
        return self.record(seq=self._summary_seq).to_json()

    def summary_now(self) -> dict[str, Any] | None:
        """The ``processes`` record (JSON) now, for the once-a-second refresh while a process is
        connected (times advance, a silent or stuck process is only seen by looking); None when
        no process is connected."""
        if not any(p.info["state"] == "connected" for p in self._procs.values()):
            return None
        self._summary_version, self._summary_at = self.version, time.monotonic()
        self._summary_seq += 1
        return self.record(seq=self._summary_seq).to_json()

    def stacks(self) -> list[dict[str, Any]]:
        """Per process: its label, activity and newest stack record (or None)."""
        now = time.time()
        out = []
        for p in self._sorted():
            out.append({"id": p.info["id"], "label": p.info.get("label"),
                        "activity": p.activity(now, float(config.stuck_after_s)),
                        "activity_text": p.activity_text(now, float(config.stuck_after_s)),
                        "stack": p.stack})
        return out

    def snapshot(self, functions: int = 50) -> dict[str, Any]:
        rows, more = self.functions(functions)
        stuck, diagnosis = self.diagnosis()
        return {
            "stuck": list(stuck),
            "diagnosis": diagnosis,
            "processes": self.rows(),
            "functions": rows,
            "more_functions": more,
            "alerts": [{k: v for k, v in a.items() if k != "_same"} for a in self.alerts],
            "summary": self.summary(),
        }
