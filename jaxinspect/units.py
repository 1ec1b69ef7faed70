"""Human-readable quantities, shared by every view and message (pure; no jax)."""

from __future__ import annotations


def plural(n: int, word: str, thousands: bool = False, many: str | None = None) -> str:
    """``plural(1, "key")`` → ``"1 key"``; ``plural(5000, "use", True)`` → ``"5,000 uses"``;
    ``plural(2, "process", many="processes")`` → ``"2 processes"``."""
    count = f"{n:,}" if thousands else str(n)
    return f"{count} {word if n == 1 else (many or word + 's')}"


def human_bytes(n: float | None, none: str = "–") -> str:
    """``1536`` → ``"1.5 KiB"``; ``none`` for a missing value."""
    if n is None:
        return none
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.0f} B"
