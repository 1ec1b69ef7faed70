"""Human-readable quantities and places: the ONE formatting function per quantity (pure; no jax).

Every number jaxinspect shows as text goes through here, in the kernel: cell views (render/),
messages, and the ``*_text`` fields of records that the sidebar and the monitor widget display as
they arrive. So the same 1.5 GiB reads "1.5 GiB" in a cell and in the sidebar.

- bytes: ``human_bytes(1536)`` → ``"1.5 KiB"`` (binary units, one decimal from KiB up)
- durations: ``human_duration(0.0123)`` → ``"12.3 ms"``, ``human_duration(2.5)`` → ``"2.50 s"``
- counts: ``human_count(12_345)`` → ``"12k"``, ``human_count(1_234_567)`` → ``"1.2M"``
- flops: ``human_flops(2.5e9)`` → ``"2.5 GFLOP"``
- measured values (logged scalars): ``human_value(0.025)`` → ``"0.02500"``
- parameter norms and statistics: ``human_norm(12.345)`` → ``"12.35"``; update ratios:
  ``human_ratio(0.00123)`` → ``"1.2e-3"``
- places: ``location("…/x.py:12", 3)`` → ``"cell [3] line 12"``; ``place(3, 12, None)`` → the
  same; ``place(None, 12, "/src/pkg/model.py")`` → ``"pkg/model.py:12"``
- reasons: ``reason_label("static_part")`` → ``"static field"``, ``reasons_summary({...})``
"""

from __future__ import annotations

import math
from typing import Any

NONE = "–"


def plural(n: int, word: str, thousands: bool = False, many: str | None = None) -> str:
    """``plural(1, "key")`` → ``"1 key"``; ``plural(5000, "use", True)`` → ``"5,000 uses"``;
    ``plural(2, "process", many="processes")`` → ``"2 processes"``."""
    count = f"{n:,}" if thousands else str(n)
    return f"{count} {word if n == 1 else (many or word + 's')}"


def _number(n: Any) -> float | None:
    """A finite float, or None (missing, not a number, NaN/Inf, bool)."""
    if n is None or isinstance(n, bool):
        return None
    try:
        x = float(n)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float | None, none: str = NONE) -> str:
    """Bytes in binary units: ``"0 B"``, ``"512 B"``, ``"1.5 KiB"``, ``"3.4 MiB"``,
    ``"1.5 GiB"`` (one decimal from KiB up; a value that would read 1024.0 moves up a unit);
    negative amounts get a ``-``; ``none`` for a missing value."""
    x = _number(n)
    if x is None:
        return none
    if x < 0:
        return "-" + human_bytes(-x, none)
    if x < 1024:
        return f"{round(x):.0f} B" if round(x) < 1024 else "1.0 KiB"
    value, unit = x / 1024, 0
    while unit < len(_BYTE_UNITS) - 1 and round(value, 1) >= 1024:
        value /= 1024
        unit += 1
    return f"{value:.1f} {_BYTE_UNITS[unit]}"


def human_duration(s: float | None, none: str = NONE) -> str:
    """A duration: ``"12.3 ms"`` under a second, ``"1.23 s"`` from one; ``none`` when unknown."""
    x = _number(s)
    if x is None:
        return none
    if x < 0:
        return "-" + human_duration(-x, none)
    if round(x * 1e3, 1) >= 1000:
        return f"{x:.2f} s"
    return f"{x * 1e3:.1f} ms"


_COUNT_UNITS = ("k", "M", "B", "T")


def human_count(n: float | None, none: str = NONE) -> str:
    """A count in short form: ``"950"``, ``"1.2k"``, ``"12k"``, ``"1.2M"``, ``"3.4B"`` (one decimal
    under 10 of a unit); ``none`` when unknown."""
    x = _number(n)
    if x is None:
        return none
    if x < 0:
        return "-" + human_count(-x, none)
    if round(x) < 1000:
        return str(round(x))

    def text(v: float) -> str:
        return f"{v:.1f}" if v < 9.95 else f"{v:.0f}"

    value, unit = x / 1000, 0
    while unit < len(_COUNT_UNITS) - 1 and float(text(value)) >= 1000:
        value /= 1000
        unit += 1
    return f"{text(value)}{_COUNT_UNITS[unit]}"


_FLOP_UNITS = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def human_flops(n: float | None, none: str = NONE) -> str:
    """Floating-point operations: ``"950 FLOP"``, ``"2.5 GFLOP"``, ``"120 TFLOP"`` (three
    significant digits at most); ``none`` when unknown."""
    x = _number(n)
    if x is None:
        return none
    if x < 0:
        return "-" + human_flops(-x, none)
    for prefix, scale in _FLOP_UNITS:
        if x >= scale * 0.9995:
            v = x / scale
            return f"{v:.3g} {prefix}FLOP"
    return f"{x:.0f} FLOP"


def human_value(v: Any, none: str = "—") -> str:
    """A measured value (a logged scalar, a norm): whole numbers in full with separators
    (``"12,345"``), others with four significant digits (``"0.02500"``, ``"12.35"``), scientific
    outside [1e-3, 1e4) (``"1.235e+5"``); ``"NaN"``, ``"Inf"``, ``"-Inf"`` as such (also when
    they arrive as those strings); ``none`` when missing."""
    if v is None:
        return none
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if isinstance(v, int) or (x.is_integer() and abs(x) < 1e21):
        return f"{int(x):,}"
    text = f"{x:#.4g}".rstrip(".")  # "1235", never "1235."
    if abs(x) >= 1e4 or abs(x) < 1e-3 or "e" in text:  # (9999.9 rounds to 1.000e+04)
        mantissa, exponent = f"{x:.3e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    return text


def _nonfinite(x: float) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def _as_float(x: Any, none: str) -> tuple[float, str | None]:
    """``x`` as a float and None, or (0.0, the text to show) when it is no finite number:
    ``none`` for what is not a number, ``"NaN"`` / ``"inf"`` / ``"-inf"`` for those."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0, none
    return v, _nonfinite(v)


def _sci(x: float, digits: int) -> str:
    """``1.23e5`` / ``4.6e-5``: no "+" and no leading zero in the exponent."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def human_norm(x: float | None, nan: int = 0, inf: int = 0, none: str = NONE) -> str:
    """A norm or a statistic of parameter values, four significant digits: ``"12.35"``,
    ``"0.1235"``, ``"1234"``; scientific outside [1e-3, 1e4): ``"1.23e5"``, ``"4.56e-5"``. A
    missing norm of values that held NaN / Inf (``nan`` / ``inf`` counts) reads ``"NaN"`` /
    ``"inf"``; otherwise ``none``."""
    if x is None or isinstance(x, bool):
        return "NaN" if nan else "inf" if inf else none
    v, text = _as_float(x, none)
    if text is not None:
        return text
    if v == 0:
        return "0"
    text = f"{v:.4g}"
    if abs(v) >= 1e4 or abs(v) < 1e-3 or "e" in text:
        return _sci(v, 2)
    return text


def human_ratio(x: float | None, none: str = NONE) -> str:
    """A ratio (an update ‖Δθ‖/‖θ‖) with two significant digits: ``"1.2e-3"``; ``"0"``;
    ``none`` when unknown."""
    if x is None or isinstance(x, bool):
        return none
    v, text = _as_float(x, none)
    if text is not None:
        return text
    return "0" if v == 0 else _sci(v, 1)


# -- places ---------------------------------------------------------------------------------


def location(call_site: str | None, cell: int | None) -> str:
    """Where a call was made: ``"cell [5] line 3"`` in a notebook (never the kernel's temp file),
    else the call site as given (``"model.py:12"``); ``"?"`` when unknown."""
    if cell is not None:
        line = call_site.rsplit(":", 1)[-1] if call_site else "?"
        return f"cell [{cell}] line {line}"
    return call_site or "?"


def short_path(path: str) -> str:
    """A file name short enough to read: the package-relative path, or the last two parts."""
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts:
        return "/".join(parts[parts.index("site-packages") + 1 :])
    return "/".join(parts[-2:]) if len(parts) > 2 else path


def place(cell: int | None, line: int | None, path: str | None) -> str:
    """A :class:`~jaxinspect.records.Location`'s text: ``"cell [5] line 3"`` for a notebook
    cell, ``"model.py:12"`` for a file (its short path), ``"?"`` when nothing is known."""
    if cell is not None:
        return f"cell [{cell}] line {line if line is not None else '?'}"
    if not path:
        return "?"
    return f"{short_path(path)}:{line}" if line is not None else short_path(path)


def process_label(engine_id: int | None, process_index: int | None) -> str:
    """A process of a multi-process job: ``"engine 0 · p0"`` (an ipyparallel engine's id, then
    its JAX process index), or ``"p0"``."""
    p = f"p{process_index if process_index is not None else '?'}"
    return f"engine {engine_id} · {p}" if engine_id is not None else p


def ago(seconds: float | None) -> str:
    """``"3 s ago"``, ``"4 min ago"``, ``"2 h ago"``; ``NONE`` when unknown."""
    x = _number(seconds)
    if x is None:
        return NONE
    x = max(0.0, x)
    if x < 120:
        return f"{x:.0f} s ago"
    if x < 7200:
        return f"{x / 60:.0f} min ago"
    return f"{x / 3600:.0f} h ago"


def stillness(seconds: float | None) -> str:
    """How long a process has stayed somewhere: ``"14 s"``, ``"3 min 5 s"``."""
    x = _number(seconds)
    if x is None:
        return NONE
    x = max(0, int(x))
    if x < 120:
        return f"{x} s"
    m, s = divmod(x, 60)
    return f"{m} min {s} s" if m < 60 else f"{m // 60} h {m % 60} min"


def site(where: str, function: str | None = None) -> str:
    """A place with the function running there: ``"cell [3] line 5 (loss)"``; the module level
    of a cell or file adds nothing (``"cell [3] line 5"``)."""
    name = str(function).rsplit("<locals>.", 1)[-1] if function else None
    return f"{where} ({name})" if name and name != "<module>" else where


def key_use(op: str, site: str | None) -> str:
    """A use of a PRNG key: ``"normal @ cell [3] line 5"``, or the op alone without a site."""
    return f"{op} @ {site}" if site else op


# -- reasons a jitted call compiled ------------------------------------------------------------

REASON_LABELS: dict[str, str] = {
    "first_call": "first call",
    "redefined": "redefined",
    "redefined_body": "body re-defined",
    "rewrapped": "re-wrapped",
    "shape": "shape",
    "dtype": "dtype",
    "weak_type": "weak type",
    "structure": "structure",
    "static": "static",
    "static_part": "static field",
    "static_recreated": "static re-created",
    "class": "model class",
    "metadata": "metadata",
    "partial": "new partial",
    "body": "loop body",
    "sharding": "sharding",
    "context": "context",
    "unknown": "unknown",
    "more": "more",
}


def reason_label(kind: str) -> str:
    """A reason kind as users read it (``"static_part"`` → ``"static field"``); a kind without a
    label is shown with spaces for underscores, never raw."""
    return REASON_LABELS.get(kind) or str(kind).replace("_", " ")


def reasons_summary(counts: dict[str, int] | None) -> str:
    """``"shape ×4, first call ×1"``: reason counts, most frequent first (ties: first seen);
    ``"–"`` when there are none."""
    entries = [(k, n) for k, n in (counts or {}).items() if isinstance(n, int) and n > 0]
    entries.sort(key=lambda kv: -kv[1])
    return ", ".join(f"{reason_label(k)} ×{n}" for k, n in entries) or NONE
