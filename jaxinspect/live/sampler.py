"""A background thread that runs sampling tasks periodically, only while it is started.

The transport starts it when the first sidebar subscribes and stops it when the last one leaves,
so a kernel nobody is watching runs no jaxinspect thread at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .. import errors


class Sampler:
    """Calls each task every ``interval`` seconds on one daemon thread; task errors are contained."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._tasks: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add_task(self, name: str, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks[name] = task

    def remove_task(self, name: str) -> None:
        with self._lock:
            self._tasks.pop(name, None)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="jaxinspect-sampler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def tick(self) -> None:
        """Run every task once, now."""
        with self._lock:
            tasks = list(self._tasks.items())
        for name, task in tasks:
            with errors.guard(f"sampler.{name}"):
                task()

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.tick()
            stop.wait(self.interval)
