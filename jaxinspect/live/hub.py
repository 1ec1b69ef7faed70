"""The hub: collectors publish records from any thread; subscribers get coalesced batches.

``publish`` is the hot path: a lock, two deque appends and a counter. A flusher thread (started
with the first subscriber) wakes on publish and delivers everything that arrived since the last
delivery as one batch, at most ``max_rate`` times per second. The last record published is always
delivered: a publish after a flush re-arms the flusher.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .. import errors

Batch = dict[str, Any]  # {"seq": int, "records": [record json...], "dropped": {kind: n}}
Subscriber = Callable[[Batch], None]


class Hub:
    """Bounded per-kind ring buffers plus throttled fan-out to subscribers."""

    def __init__(
        self,
        capacity: int = 1000,
        max_rate: float = 10.0,
        capacities: dict[str, int] | None = None,
        max_pending: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.capacities = dict(capacities or {})
        self.min_interval = 1.0 / max_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._rings: dict[str, deque[dict[str, Any]]] = {}
        self._pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._dropped: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._subscribers: dict[int, Subscriber] = {}
        self._next_token = 0
        self._seq = 0
        self._last_flush = float("-inf")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- hot path ---------------------------------------------------------------------------
    def publish(self, record: dict[str, Any]) -> None:
        """Store ``record`` (a JSON dict with a ``kind``) and schedule its delivery. Never raises."""
        try:
            kind = record["kind"]
            with self._lock:
                ring = self._rings.get(kind)
                if ring is None:
                    ring = self._rings[kind] = deque(
                        maxlen=self.capacities.get(kind, self.capacity)
                    )
                ring.append(record)
                self._counts[kind] += 1
                if self._subscribers:
                    if len(self._pending) == self._pending.maxlen:
                        self._dropped[self._pending[0]["kind"]] += 1
                    self._pending.append(record)
                    if not self._wake.is_set():  # Event.set takes a lock + notify: only once
                        self._wake.set()
        except Exception as exc:  # noqa: BLE001
            errors.record("hub.publish", exc)

    # -- queries (any thread) ---------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Records published so far, by kind."""
        with self._lock:
            return dict(self._counts)

    def latest(self, kind: str) -> dict[str, Any] | None:
        """The newest record of ``kind``, or None."""
        with self._lock:
            ring = self._rings.get(kind)
            return ring[-1] if ring else None

    def recent(self, kind: str, n: int | None = None) -> list[dict[str, Any]]:
        """Up to ``n`` newest records of ``kind`` (oldest first)."""
        with self._lock:
            ring = list(self._rings.get(kind, ()))
        return ring if n is None else ring[-n:]

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """A copy of every ring buffer."""
        with self._lock:
            return {k: list(v) for k, v in self._rings.items()}

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> int:
        """Deliver future batches to ``callback`` (called on the flusher thread). Returns a token."""
        with self._lock:
            return self._subscribe_locked(callback)

    def _subscribe_locked(self, callback: Subscriber) -> int:
        if self._closed:
            raise RuntimeError("jaxinspect hub is closed")
        self._next_token += 1
        token = self._next_token
        self._subscribers[token] = callback
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jaxinspect-hub", daemon=True)
            self._thread.start()
        return token

    def subscribe_with_replay(self, callback: Subscriber) -> tuple[int, list[dict[str, Any]]]:
        """``subscribe`` plus every record held so far, taken atomically: nothing is missed or
        delivered twice between the two (a forwarder that starts late sends the history first)."""
        with self._lock:
            replay = [r for ring in self._rings.values() for r in ring]
            replay.sort(key=lambda r: t if isinstance(t := r.get("time"), (int, float)) else 0.0)
            token = self._subscribe_locked(callback)
        return token, replay

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subscribers.pop(token, None)
            if not self._subscribers:
                self._pending.clear()
                self._dropped.clear()

    def flush(self) -> None:
        """Deliver pending records now, ignoring the rate limit (used on unload)."""
        self._deliver()

    def close(self) -> None:
        """Stop the flusher thread and drop all subscribers. Idempotent."""
        with self._lock:
            self._closed = True
            self._subscribers.clear()
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    # -- flusher ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            wait = self._last_flush + self.min_interval - self._clock()
            if wait > 0 and self._stop.wait(wait):
                return
            self._deliver()

    def _deliver(self) -> None:
        with self._lock:
            self._wake.clear()
            if not self._pending:
                return
            records = list(self._pending)
            self._pending.clear()
            dropped = dict(self._dropped)
            self._dropped.clear()
            self._seq += 1
            batch = {"seq": self._seq, "records": records, "dropped": dropped}
            subscribers = list(self._subscribers.values())
            self._last_flush = self._clock()
        for callback in subscribers:
            try:
                callback(batch)
            except Exception as exc:  # noqa: BLE001
                errors.record("hub.deliver", exc)
