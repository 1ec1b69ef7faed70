"""Where a process's main thread is, read from jaxinspect's background thread.

Nothing here touches jit's call path: the liveness thread reads ``sys._current_frames()`` once a
second (a dict of each thread's innermost frame; it works while the main thread waits inside
JAX's C++, in a collective or for a device result, as those release the GIL) and how often
the main thread was woken (its context switches in ``/proc``, Linux) and its CPU clock. The main
thread is *waiting* when a reading finds the same frame object at the same instruction as the
last one (the call it is in has not returned: a collective, a device result, a lock, a sleep),
woken at most ``QUIET_WAKEUPS`` times a second and with almost no CPU of its own (and, on the CPU
backend, while the process's other threads, XLA's, are not computing a step). A loop that
waits for each step's result is in a new frame at each step, and is woken at every step. The
stack is formatted only when it has waited for ``config.stuck_after_s`` or when someone asks
(a doorbell signal).

The doorbell: ``faulthandler.register(SIGNAL, fd)`` writes into a pipe from C as soon as the
signal arrives, even while the main thread is blocked in C and no Python signal handler could
run; the liveness thread waits on that pipe. ``SIGURG`` is ignored by default, so a doorbell that
reaches a process without jaxinspect does nothing.

Never imports on the background thread; never raises (failures are recorded once).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import errors
from ..config import config
from ..records import LivenessRecord, Location, StackFrame, StackRecord
from . import compat, compilelib

MAX_FRAMES = 60  # frames kept in a stack record (the innermost)
IDLE_FRAMES = 4  # frames of a stack without the user's code shown in its text
QUIET_CPU = 0.05  # main-thread CPU seconds per wall second below which it counts as blocked
# wake-ups per second of a blocked main thread: JAX waits for a device result in slices (~5/s
# here, to let Ctrl-C through); a loop that makes progress is woken hundreds of times a second
QUIET_WAKEUPS = 20
# CPU of the process's other threads (cores) above which a main thread that waits for a result
# is not waiting on the CPU backend: XLA's own threads are computing it (the device is the host)
DEVICE_BUSY_CPU = 0.5
CPU_WINDOW_S = 0.5  # the shortest interval over which that share is judged
WAITING_AFTER_S = 2.0  # still this long at one place: "waiting" (the stack waits for stuck_after_s)
DOORBELL = getattr(signal, "SIGURG", None)
_COMPILER_FILES = ("/jax/_src/compiler.py", "/jax/_src/interpreters/pxla.py", "/jax/_src/dispatch.py")


def _cpu_clock(ident: int | None) -> Callable[[], float | None]:
    """The main thread's CPU seconds, or None where the OS does not tell (not Linux)."""
    try:
        clock = time.pthread_getcpuclockid(ident)  # type: ignore[attr-defined]
        time.clock_gettime(clock)
    except (AttributeError, OSError, TypeError, OverflowError):
        return lambda: None

    def read() -> float | None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            return None

    return read


def _switch_counter(native_id: int | None) -> Callable[[], int | None]:
    """How many times the main thread has been switched out (voluntary + involuntary context
    switches, Linux ``/proc``), or None where the OS does not tell. A thread blocked for good
    (a collective that never completes, a lock) is never woken: the count stands still, while a
    loop that waits on each step's result is woken at every step."""
    path = f"/proc/self/task/{native_id}/status"

    def read() -> int | None:
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            return None
        total = 0
        for line in text.split(b"\n"):
            if b"ctxt_switches:" in line:
                total += int(line.rsplit(b":", 1)[1])
        return total

    if native_id is None or read() is None:
        return lambda: None
    return read


class Doorbell:
    """A pipe that the doorbell signal writes into from C (faulthandler), for ``wait()``."""

    def __init__(self, signum: int | None = DOORBELL) -> None:
        self.signum = None
        self._r = self._w = -1
        if signum is None or not hasattr(faulthandler, "register"):
            return
        try:
            self._r, self._w = os.pipe()
            os.set_blocking(self._w, False)  # a full pipe drops the dump, never blocks the signal
            os.set_blocking(self._r, False)
            faulthandler.register(signum, file=self._w, all_threads=False, chain=False)
            self.signum = signum
        except (OSError, RuntimeError, ValueError) as exc:
            errors.record("stacklib.doorbell", exc)
            self.close()

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s; True when the doorbell rang meanwhile (drained)."""
        if self._r < 0:
            time.sleep(timeout)
            return False
        import select  # noqa: PLC0415 - imported by the time any thread runs (stdlib, C)

        try:
            ready, _, _ = select.select([self._r], [], [], timeout)
        except (OSError, ValueError):
            return False
        if not ready:
            return False
        try:
            while os.read(self._r, 65536):
                pass
        except (BlockingIOError, OSError):
            pass
        return True

    def close(self) -> None:
        if self.signum is not None:
            with errors.guard("stacklib.doorbell_close"):
                faulthandler.unregister(self.signum)
            self.signum = None
        for fd in (self._r, self._w):
            if fd >= 0:
                with errors.guard("stacklib.doorbell_close"):
                    os.close(fd)
        self._r = self._w = -1


def _is_user(filename: str) -> bool:
    return compilelib.is_user_file(filename) and not filename.startswith("<frozen")


def _where(frame: Any, cell_of: Callable[[str], int | None] | None) -> Location | None:
    return compilelib.locate(frame.f_code.co_filename, frame.f_lineno, cell_of)


def _short(frame: Any) -> str:
    """``"jax/_src/array.py:640 (_value)"``."""
    return f"{compilelib.short_path(frame.f_code.co_filename)}:{frame.f_lineno} ({frame.f_code.co_name})"


class Probe:
    """Reads the main thread once per ``read()``; keeps how long it has stayed at one place."""

    def __init__(
        self,
        cell_of: Callable[[str], int | None] | None = None,
        progress: Callable[[], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        thread: threading.Thread | None = None,
        cell_prefix: str = "",
    ) -> None:
        self._cell_prefix = cell_prefix  # "engine ": an ipyparallel engine's cells are its own
        self._main = thread or threading.main_thread()  # the thread to read (tests: another)
        self._cell_of = cell_of
        self._progress = progress or (lambda: {})
        self._clock = clock
        self._cpu = _cpu_clock(self._main.ident)
        self._switches = _switch_counter(getattr(self._main, "native_id", None))
        self._last_switches = self._switches()
        # the innermost frame of the last reading: a strong reference for one interval, so that
        # "still the same call" is an identity test (a finished frame's locals live <= 1 s more)
        self._frame: Any = None
        self._lasti: int | None = None
        self._since = clock()
        self._last_cpu = self._cpu()
        self._last_proc = time.process_time()
        self._platform: str | None = None
        self._last_time = clock()
        self._stack_for: tuple[int, float] | None = None  # the stall it showed
        self.seq = 0
        self.stack_seq = 0

    def _platform_now(self) -> str | None:
        """JAX's default platform, asked once the backends have started (it cannot change)."""
        if self._platform is None:
            self._platform = compat.default_platform()
        return self._platform

    def _frames(self) -> list[Any]:
        """The main thread's frames, innermost first (empty when it has none)."""
        frame = sys._current_frames().get(self._main.ident)
        out = []
        while frame is not None and len(out) < 2000:
            out.append(frame)
            frame = frame.f_back
        return out

    def read(self, asked: bool = False) -> tuple[LivenessRecord, StackRecord | None]:
        """One reading: the liveness record, and a stack when asked or when the main thread has
        waited at one place for ``config.stuck_after_s`` (once per such stall)."""
        now = self._clock()
        frames = self._frames()
        cpu = self._cpu()
        dt = max(1e-6, now - self._last_time)
        cpu_s = None if cpu is None or self._last_cpu is None else max(0.0, cpu - self._last_cpu)
        proc = time.process_time()
        others = max(0.0, proc - self._last_proc - (cpu_s or 0.0)) / dt  # other threads' cores
        self._last_cpu, self._last_proc, self._last_time = cpu, proc, now
        inner = frames[0] if frames else None
        lasti = None if inner is None else inner.f_lasti
        # the same frame object (held from the last reading, so its address cannot be reused by
        # the next call) at the same instruction: the call the main thread is in has not returned
        same = inner is not None and inner is self._frame and lasti == self._lasti
        switches = self._switches()
        woken = None if switches is None or self._last_switches is None else switches - self._last_switches
        self._last_switches = switches
        quiet = (woken is None or woken <= QUIET_WAKEUPS * dt) and (cpu_s is None or cpu_s / dt < QUIET_CPU)
        if quiet and dt >= CPU_WINDOW_S and others >= DEVICE_BUSY_CPU and self._platform_now() == "cpu":
            # a long step on the CPU backend: XLA's threads compute what the main thread waits
            # for. (Not on GPU/TPU: there host threads can spin in a hung collective.) Judged
            # over a regular interval only: a reading the doorbell brings early comes a few ms
            # after the last, where a few ms of any thread's work reads as a busy core
            quiet = False
        if asked and same:
            quiet = True  # the doorbell itself woke the main thread (its handler ran there)
        if not (same and quiet):
            self._since = now
        self._frame, self._lasti = inner, lasti
        still = max(0.0, now - self._since)
        user = next((f for f in frames if _is_user(f.f_code.co_filename)), None)
        busy = user is not None
        inner_file = inner.f_code.co_filename.replace("\\", "/") if inner is not None else ""
        if not busy:
            activity = "idle"
        elif inner_file.endswith(_COMPILER_FILES) and cpu_s is not None and cpu_s / dt >= QUIET_CPU:
            activity = "compiling"
        elif still >= WAITING_AFTER_S:
            activity = "waiting"
        else:
            activity = "running"
        progress = self._progress() or {}
        self.seq += 1
        stuck_after = float(config.stuck_after_s)
        rec = LivenessRecord(
            seq=self.seq,
            time=now,
            busy=busy,
            activity=activity,  # type: ignore[arg-type]
            where=None if user is None else _where(user, self._cell_of),
            function=None if user is None else user.f_code.co_name,
            inner=None if inner is None or inner is user else _short(inner),
            still_s=round(still, 3),
            cpu_s=None if cpu_s is None else round(cpu_s, 4),
            last_step=progress.get("last_step"),
            last_step_time=progress.get("last_step_time"),
            last_compile=progress.get("last_compile"),
            last_compile_time=progress.get("last_compile_time"),
            stuck_after_s=stuck_after,
        )
        stack = None
        stall = (id(self._frame), self._since)
        if asked:
            stack = self._stack(frames, "asked", still, now)
        elif activity == "waiting" and still >= stuck_after and self._stack_for != stall:
            self._stack_for = stall
            stack = self._stack(frames, "waiting", still, now)
        return rec, stack

    def _stack(self, frames: list[Any], reason: str, still: float, now: float) -> StackRecord:
        kept = frames[:MAX_FRAMES][::-1]  # outermost first
        out: list[StackFrame] = []
        for frame in kept:
            where = _where(frame, self._cell_of) or Location(cell=None, line=frame.f_lineno, code=None, path="?")
            out.append(StackFrame(function=frame.f_code.co_name, where=where,
                                  user=_is_user(frame.f_code.co_filename)))
        # the text starts at the outermost frame of the user's code (the kernel's, IPython's and
        # the event loop's frames above it are counted); without one, the innermost few
        first = next((i for i, f in enumerate(out) if f.user), None)
        start = first if first is not None else max(0, len(out) - IDLE_FRAMES)
        hidden = start + max(0, len(frames) - MAX_FRAMES)
        lines = [f"{self._main.name} (most recent call last):"]
        if hidden:
            lines.append(f"  … {hidden} outer frames (the kernel's, IPython's, the event loop's)")
        for f in out[start:]:
            place = (self._cell_prefix if f.where.cell is not None else "") + f.where.text
            lines.append(f"  {place}, in {f.function}" + ("" if f.user else "  [library]"))
            if f.where.code:
                lines.append(f"    {f.where.code}")
        user = next((f for f in frames if _is_user(f.f_code.co_filename)), None)
        self.stack_seq += 1
        return StackRecord(
            seq=self.stack_seq,
            time=now,
            reason=reason,  # type: ignore[arg-type]
            thread=self._main.name,
            frames=tuple(out),
            more=max(0, len(frames) - MAX_FRAMES),
            where=None if user is None else _where(user, self._cell_of),
            function=None if user is None else user.f_code.co_name,
            still_s=round(still, 3),
            text="\n".join(lines),
        )
