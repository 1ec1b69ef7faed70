"""What the kernel is doing right now, as told by the glue layer's IPython event hooks."""

from __future__ import annotations

import itertools
import threading
import time

from .. import errors
from ..records import StatusRecord
from .hub import Hub


class KernelState:
    """Busy/idle and the execution count; the heartbeat turns it into ``status`` records."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.busy = False
        self.execution_count = 0
        self._busy_since: float | None = None
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def cell_started(self, execution_count: int | None) -> None:
        with self._lock:
            self.busy = True
            self._busy_since = time.monotonic()
            if execution_count is not None:
                self.execution_count = int(execution_count)
        self.publish_status()

    def cell_finished(self) -> None:
        with self._lock:
            self.busy = False
            self._busy_since = None
        self.publish_status()

    def status(self) -> StatusRecord:
        """A fresh status record (does not publish it)."""
        with self._lock:
            busy, since, count = self.busy, self._busy_since, self.execution_count
            seq = next(self._seq)
        counts = self.hub.counts()
        counts.pop("status", None)
        return StatusRecord(
            seq=seq,
            time=time.time(),
            busy=busy,
            execution_count=count,
            cell_elapsed_s=None if since is None else round(time.monotonic() - since, 3),
            events_total=sum(counts.values()),
            events_by_kind=counts,
            subscribers=self.hub.subscriber_count,
            internal_errors=errors.total(),
        )

    def publish_status(self) -> None:
        with errors.guard("kernelstate.publish_status"):
            self.hub.publish(self.status().to_json())
