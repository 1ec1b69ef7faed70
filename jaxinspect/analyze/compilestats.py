"""Per-function compile aggregates, recompile-storm alerts and compiled-memory alerts, from
CompileEvent records.

Pure data (no jax): used by the live session log, by ``jaxinspect.profile()`` and by renderers.
Aggregates are exact however many events the ring buffers keep.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from ..config import config
from ..records import CompileAlert, CompiledMemory, CompileEvent, FunctionCompileStats, Reason
from ..units import human_bytes

DEFAULT_STORM_THRESHOLD = 5
DEFAULT_EVENT_CAPACITY = 10_000

HINTS = {
    "shape": "pad inputs to a few fixed sizes (bucketing), or drop the ragged last batch",
    "weak_type": "pass a jnp array with a fixed dtype (jnp.asarray(x, jnp.float32)) instead of a Python scalar",
    "dtype": "cast inputs to one dtype before the call",
    "structure": "keep the pytree structure fixed between calls (same keys, same list lengths)",
    "static": "this static argument keeps changing: make it a traced (non-static) argument, or limit its values",
    "static_recreated": "hoist the object (e.g. the optimizer / nnx.Optimizer) out of the loop: it is re-created each call and compares by identity",
    "redefined": "define the jitted function once, outside the loop or the cell you re-run",
    "rewrapped": "call jax.jit(f) once and reuse the jitted function instead of re-wrapping it in the loop",
    "sharding": "put inputs on the same sharding every call (jax.device_put(x, fixed_sharding))",
    "context": "keep jax config / mesh context (x64, matmul precision, mesh) the same between calls",
    "unknown": "the cache was cleared or evicted; avoid jax.clear_caches() in the loop",
    "static_part": "a static (non-array) part of an argument changed, e.g. a model's dtype or a hyper-parameter: each value compiles once; keep it fixed, or make it an array leaf if it must vary",
    "class": "each model class (or re-definition of one, e.g. a re-run cell) compiles the step separately: expected when you switch models; otherwise define the class and create the model once",
    "metadata": "keep variables' metadata (e.g. sharding annotations) the same between calls",
    "partial": "jit the function once and pass the changing values as arguments (static_argnames if they must be static): jax.jit(functools.partial(...)) makes a new function object, which compiles, every time",
    "body": "an un-jitted lax.scan / while_loop / cond compiles every new body program: jit the code that calls it, or define the body once and pass changing values as operands",
    "redefined_body": "define the body function once, outside the loop or method that runs repeatedly, or jit the code that calls the loop (un-jitted lax.scan / cond compile every new body function)",
}


MEMORY_HINT = (
    "the step may not fit beside the model's arrays: rematerialize activations "
    "(jax.checkpoint / nnx.remat), use a smaller batch (or accumulate gradients over micro-batches), "
    "donate inputs the step replaces (donate_argnums), or shard the batch over more devices"
)


def memory_alert(event: CompileEvent, compiles: int, share: float) -> CompileAlert | None:
    """A "memory" alert when ``event``'s compiled temporaries alone exceed ``share`` of its
    device's memory limit (the "will this step fit" question, before an out-of-memory error);
    None when they do not, or when the backend reports no limit or no temporaries."""
    m = event.memory
    used = m.temp_share if isinstance(m, CompiledMemory) else None
    if used is None or used <= share:
        return None
    needs = sum(v for v in (m.temp_bytes, m.argument_bytes, m.output_bytes) if v is not None)
    needs -= m.alias_bytes or 0
    message = (
        f"`{event.fun_name}`'s compiled temporaries alone take {human_bytes(m.temp_bytes)}, "
        f"{used:.0%} of the {m.platform + ' ' if m.platform else ''}device's "
        f"{human_bytes(m.device_limit_bytes)} memory limit (alert above {share:.0%}: "
        f"jaxinspect.config.temp_memory_share); with its arguments and outputs one call needs "
        f"{human_bytes(needs)}"
    )
    return CompileAlert(
        fun_key=event.fun_key,
        fun_name=event.fun_name,
        compiles=compiles,
        reason_kind="memory",
        message=message,
        hint=MEMORY_HINT,
        time=event.time,
    )


def reason_class(reason: Reason) -> str:
    if reason.kind == "static" and reason.recreated:
        return "static_recreated"
    if reason.kind == "redefined" and reason.path is not None:
        return "redefined_body"  # an un-jitted loop's body function made anew (path: its name)
    return reason.kind


class CompileLog:
    """Bounded event list + exact per-function stats + storm alerts."""

    def __init__(
        self,
        storm_threshold: int = DEFAULT_STORM_THRESHOLD,
        capacity: int = DEFAULT_EVENT_CAPACITY,
    ) -> None:
        self.storm_threshold = storm_threshold
        self._lock = threading.Lock()
        self.events: deque[CompileEvent] = deque(maxlen=capacity)
        self.total_events = 0
        self._stats: dict[str, dict[str, Any]] = {}
        self.alerts: list[CompileAlert] = []

    def add_all(self, event: CompileEvent) -> tuple[FunctionCompileStats, list[CompileAlert]]:
        """Record ``event``; returns the function's new stats and the alerts that fired now."""
        with self._lock:
            self.events.append(event)
            self.total_events += 1
            s = self._stats.get(event.fun_key)
            if s is None:
                s = self._stats[event.fun_key] = {
                    "fun_name": event.fun_name,
                    "defined_at": event.defined_at,
                    "defined": None,
                    "internal": event.internal,
                    "compiles": 0,
                    "trace_s": 0.0,
                    "lower_s": 0.0,
                    "compile_s": 0.0,
                    "total_s": 0.0,
                    "reasons": Counter(),
                    "last_reasons": (),
                    "last_time": 0.0,
                    "alerted_at": 0,
                    "memory": None,
                    "peak_temp": None,
                    "memory_alerted": False,
                }
            s["compiles"] += 1
            s["trace_s"] += event.trace_s or 0.0
            s["lower_s"] += event.lower_s or 0.0
            s["compile_s"] += event.compile_s or 0.0
            s["total_s"] += event.total_s
            # count compiles, not clauses: a recompile where x and y both changed shape is one
            for cls in dict.fromkeys(reason_class(r) for r in event.reasons if r.kind != "more"):
                s["reasons"][cls] += 1
            if event.reasons:
                s["last_reasons"] = event.reasons
            s["last_time"] = event.time
            if event.defined is not None:  # the newest definition: a re-run cell's, where to go
                s["defined"] = event.defined
            alerts = []
            if event.memory is not None:
                s["memory"] = event.memory
                temp = event.memory.temp_bytes
                if temp is not None and (s["peak_temp"] is None or temp > s["peak_temp"]):
                    s["peak_temp"] = temp
                if not event.internal and not s["memory_alerted"]:
                    big = memory_alert(event, s["compiles"], config.temp_memory_share)
                    if big is not None:
                        s["memory_alerted"] = True  # once per function
                        alerts.append(big)
            stats = self._snapshot(event.fun_key, s)
            recompiles = s["compiles"] - 1
            if (
                not event.internal
                and event.api == "call"
                and recompiles >= self.storm_threshold
                and recompiles >= 2 * s["alerted_at"]
            ):
                s["alerted_at"] = max(recompiles, 1)
                alerts.insert(0, self._alert(event, s))
            self.alerts.extend(alerts)
            return stats, alerts

    def add(self, event: CompileEvent) -> tuple[FunctionCompileStats, CompileAlert | None]:
        """Record ``event``; returns the function's new stats and the first alert that fired
        now (``add_all`` returns each of them: a storm and a memory alert can fire at once)."""
        stats, alerts = self.add_all(event)
        return stats, (alerts[0] if alerts else None)

    def _alert(self, event: CompileEvent, s: dict[str, Any]) -> CompileAlert:
        counts = Counter({k: v for k, v in s["reasons"].items() if k != "first_call"})
        dominant = counts.most_common(1)[0][0] if counts else "unknown"
        last = next((r for r in event.reasons if reason_class(r) == dominant), None)
        detail = f": {last.message}" if last else ""
        message = f"`{event.fun_name}` recompiled {s['compiles'] - 1} times{detail}"
        return CompileAlert(
            fun_key=event.fun_key,
            fun_name=event.fun_name,
            compiles=s["compiles"],
            reason_kind=dominant,
            message=message,
            hint=HINTS.get(dominant, HINTS["unknown"]),
            time=event.time,
        )

    @staticmethod
    def _snapshot(key: str, s: dict[str, Any]) -> FunctionCompileStats:
        return FunctionCompileStats(
            fun_key=key,
            fun_name=s["fun_name"],
            defined_at=s["defined_at"],
            internal=s["internal"],
            compiles=s["compiles"],
            trace_s=s["trace_s"],
            lower_s=s["lower_s"],
            compile_s=s["compile_s"],
            total_s=s["total_s"],
            reasons=dict(s["reasons"]),
            last_reasons=s["last_reasons"],
            last_time=s["last_time"],
            memory=s["memory"],
            peak_temp_bytes=s["peak_temp"],
            defined=s.get("defined"),
        )

    def functions(self, include_internal: bool = False) -> list[FunctionCompileStats]:
        """Per-function stats, most compile time first."""
        with self._lock:
            out = [self._snapshot(k, s) for k, s in self._stats.items()]
        if not include_internal:
            out = [f for f in out if not f.internal]
        return sorted(out, key=lambda f: (-f.total_s, f.fun_name))

    def event_list(self, include_internal: bool = False) -> list[CompileEvent]:
        with self._lock:
            events = list(self.events)
        return events if include_internal else [e for e in events if not e.internal]

    def hidden_internal(self) -> int:
        with self._lock:
            return sum(s["compiles"] for s in self._stats.values() if s["internal"])
