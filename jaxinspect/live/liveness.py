"""The liveness thread of a process that publishes to a collector: once a second (or at once when
the doorbell rings) it calls ``read(asked)``, which reads the main thread and publishes. Its own
thread, not the sampler's: a slow memory snapshot must not delay the reading that tells a stuck
process from a busy one."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .. import errors

INTERVAL = 1.0


class LivenessThread:
    def __init__(
        self,
        read: Callable[[bool], None],
        wait: Callable[[float], bool],
        interval: float = INTERVAL,
    ) -> None:
        self._read = read
        self._wait = wait  # sleeps up to the interval; True when asked for a stack meanwhile
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="jaxinspect-liveness", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0 + self.interval)

    def _run(self) -> None:
        asked = False
        while not self._stop.is_set():
            with errors.guard("liveness.read"):
                self._read(asked)
            asked = False
            with errors.guard("liveness.wait"):
                asked = self._wait(self.interval)
