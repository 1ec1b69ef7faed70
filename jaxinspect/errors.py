"""Containment of jaxinspect's own failures: nothing raised in a hook, listener, thread or comm
handler may reach user code. ``guard(where)`` catches, counts and reports it once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from .records import InternalErrorRecord


class UserFacingError(Exception):
    """An error the user opted into (e.g. ``track_keys(on_reuse="error")``): hooks let it through."""


class KeyReuseError(UserFacingError):
    """A PRNG key was used twice while ``track_keys(on_reuse="error")`` was on."""


class KeyReuseWarning(UserWarning):
    """A PRNG key was used twice (``jaxinspect.track_keys``)."""


_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}
_sinks: list[Callable[[InternalErrorRecord], None]] = []


def record(where: str, exc: BaseException) -> InternalErrorRecord:
    """Count ``exc`` raised at ``where``; notify sinks the first time (and every 100th time)."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    key = (where, message)
    with _lock:
        n = _counts.get(key, 0) + 1
        _counts[key] = n
        sinks = list(_sinks)
    rec = InternalErrorRecord(where=where, message=message, count=n)
    if n == 1 or n % 100 == 0:
        for sink in sinks:
            try:
                sink(rec)
            except Exception:  # a broken sink must not recurse
                pass
    return rec


@contextlib.contextmanager
def guard(where: str) -> Iterator[None]:
    """Run a block whose exceptions are recorded instead of raised."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - containment is the point
        record(where, exc)


def total() -> int:
    """Number of internal errors caught so far."""
    with _lock:
        return sum(_counts.values())


def recent() -> list[InternalErrorRecord]:
    """One record per distinct error, with its count."""
    with _lock:
        return [InternalErrorRecord(where=w, message=m, count=n) for (w, m), n in _counts.items()]


def add_sink(sink: Callable[[InternalErrorRecord], None]) -> None:
    with _lock:
        _sinks.append(sink)


def remove_sink(sink: Callable[[InternalErrorRecord], None]) -> None:
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


def reset() -> None:
    """Forget all counts (used on unload and by tests)."""
    with _lock:
        _counts.clear()
