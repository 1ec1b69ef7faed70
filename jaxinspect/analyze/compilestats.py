"""Per-function compile aggregates and recompile-storm alerts, from CompileEvent records.

Pure data (no jax): used by the live session log, by ``jaxinspect.profile()`` and by renderers.
Aggregates are exact however many events the ring buffers keep.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from ..records import CompileAlert, CompileEvent, FunctionCompileStats, Reason

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

    def add(self, event: CompileEvent) -> tuple[FunctionCompileStats, CompileAlert | None]:
        """Record ``event``; returns the function's new stats and an alert if one fired now."""
        with self._lock:
            self.events.append(event)
            self.total_events += 1
            s = self._stats.get(event.fun_key)
            if s is None:
                s = self._stats[event.fun_key] = {
                    "fun_name": event.fun_name,
                    "defined_at": event.defined_at,
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
            stats = self._snapshot(event.fun_key, s)
            alert = None
            recompiles = s["compiles"] - 1
            if (
                not event.internal
                and event.api == "call"
                and recompiles >= self.storm_threshold
                and recompiles >= 2 * s["alerted_at"]
            ):
                s["alerted_at"] = max(recompiles, 1)
                alert = self._alert(event, s)
                self.alerts.append(alert)
            return stats, alert

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
