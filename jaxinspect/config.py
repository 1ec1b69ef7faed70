"""User-tunable settings: ``jaxinspect.config.storm_threshold = 10``.

Settings are checked where they enter: a value of the wrong kind (``storm_threshold = None``) is
refused with one line on stderr naming the setting and what it takes, and the previous value
stays — it never breaks the compile sink or the sampler later, far from the line that set it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any


def _whole(minimum: int) -> Any:
    def check(value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not value.is_integer():
            return None
        value = int(value)
        return value if value >= minimum else None

    check.__doc__ = f"a whole number ≥ {minimum}"
    return check


def _positive_seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value > 0 and math.isfinite(value) else None


_positive_seconds.__doc__ = "a number of seconds > 0"


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


_flag.__doc__ = "True or False"

def _share(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if 0 < value <= 1 else None


_share.__doc__ = "a share of the step time, 0 < x ≤ 1 (0.02 is 2%)"


def _memory_share(value: Any) -> float | None:
    return _share(value)


_memory_share.__doc__ = "a share of the device's memory limit, 0 < x ≤ 1 (0.5 is half)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


_number.__doc__ = "a finite number"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_text.__doc__ = "a string"


def _anything(value: Any) -> Any:
    return value


#: a setting added without its own check is checked by its declared type
_any_whole = _whole(-(2**63))
_any_whole.__doc__ = "a whole number"
_BY_TYPE = {"int": _any_whole, "float": _number, "bool": _flag, "str": _text}

_CHECKS = {
    "watch_budget": _share,
    "storm_threshold": _whole(1),
    "print_alerts": _flag,
    "compile_capacity": _whole(1),
    "sidebar_silence_s": _positive_seconds,
    "temp_memory_share": _memory_share,
    "track_keys_on_load": _flag,
    "stuck_after_s": _positive_seconds,
}


@dataclasses.dataclass
class Config:
    #: recompiles of one function (after its first compile) that raise a "recompile storm" alert
    storm_threshold: int = 5
    #: print each storm alert once, as one line on stderr, in the cell that caused it
    print_alerts: bool = True
    #: compile events kept in the session's ring buffer (aggregates stay exact)
    compile_capacity: int = 10_000
    #: idle seconds without a ping from a sidebar before the kernel stops sending to it (a page
    #: closed without a goodbye); sidebars ping four times as often (at most every 20 s)
    sidebar_silence_s: float = 120.0
    #: the share of the time between watch() calls that the exact NaN/Inf check may take; a
    #: check that costs more is run on every k-th call, and alerts say which steps were skipped
    watch_budget: float = 0.02
    #: alert (once per function) when a compiled program's temporaries alone exceed this share of
    #: its device's memory limit (the limit the backend reports; none on CPU): will the step fit?
    temp_memory_share: float = 0.5
    #: start PRNG key tracking (``jaxinspect.track_keys()``) when jaxinspect loads in a kernel;
    #: the sidebar's setting "Track PRNG keys on load" sets it
    track_keys_on_load: bool = False
    #: a process of a multi-process job whose main thread has waited at one place (blocked, no
    #: CPU of its own) this many seconds while a cell runs is marked stuck, and its stack is taken
    stuck_after_s: float = 20.0

    def __setattr__(self, name: str, value: Any) -> None:
        problem = self.apply(name, value)
        if problem is not None:
            print(problem, file=sys.stderr)

    def apply(self, name: str, value: Any) -> str | None:
        """Set ``name`` through its check: None when applied, else the one line that says why
        not (the previous value stays). ``config.x = v`` prints that line on stderr; the
        sidebar's ``configure`` request answers it."""
        field = type(self).__dataclass_fields__.get(name)
        declared = getattr(field, "type", None)
        declared = getattr(declared, "__name__", declared)  # int, or "int" (postponed annotations)
        check = _CHECKS.get(name) or (_BY_TYPE.get(str(declared), _anything) if field else None)
        if check is None:
            known = ", ".join(_CHECKS)
            return f"jaxinspect: config has no setting {name!r} (settings: {known}); nothing changed"
        good = check(value)
        if good is None:
            old = self.__dict__.get(name, "unset")
            return f"jaxinspect: config.{name} takes {check.__doc__}, got {value!r}; kept {old!r}"
        object.__setattr__(self, name, good)
        return None


config = Config()
