"""Small self-contained inline-SVG charts, drawn without plotly: the curves of a saved monitor,
watched parameters' norms, a compile timeline in a report.

Pure Python (no numpy, no jax): each function returns one ``<svg>`` string (a :class:`Markup`)
that is valid XML, needs no script, loads nothing, and reads in light and dark themes (text and
axes in ``currentColor``, series colours from JupyterLab's CSS variables with fallbacks).

Bounded whatever the input: at most :data:`MAX_POINTS` points per series (long series are
bucketed keeping each bucket's minimum and maximum and its first NaN/Inf marker or gap), at most
:data:`MAX_SERIES` series and :data:`MAX_LANES` timeline lanes (then a "+N more" note), and
timeline bars closer than a few pixels merged. Every user string (title, series names, labels)
is escaped, and characters XML does not allow are dropped.

- ``line_chart(series, ...)``: ``{name: [(x, y), ...]}``; ``y`` None is a gap; NaN / ±Inf (as
  floats or as the strings "NaN", "Inf", "-Inf" the monitor's JSON carries) break the line and
  are marked (a red mark at the top, or bottom for -Inf, with a tooltip naming the step).
- ``bars(rows, ...)``: a timeline of ``(label, start, duration)`` rows (optionally a fourth item,
  a kind such as "trace" / "compile", coloured and listed in a legend), one lane per label.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..units import human_duration, human_value
from .doc import Markup, esc

__all__ = [
    "MAX_POINTS",
    "MAX_SERIES",
    "MAX_LANES",
    "line_chart",
    "bars",
    "downsample",
    "byte_scale",
]

MAX_POINTS = 300  # per series, after downsampling
MAX_SERIES = 8  # curves in one chart (then "+N more")
MAX_LANES = 24  # timeline lanes (then "+N more")
MAX_LABEL = 28  # characters of a name drawn in full (all of it in the tooltip)
LANE_MERGE = 60  # a lane holds at most about this many bars: closer ones are merged

#: series colours: JupyterLab's theme variables where they exist, mid-tone fallbacks that read on
#: white and on a dark background
PALETTE = (
    "var(--jp-brand-color1, #1976d2)",
    "var(--jp-warn-color1, #f57c00)",
    "var(--jp-success-color1, #388e3c)",
    "var(--jp-accent-color1, #7b1fa2)",
    "#00897b",
    "#c2185b",
    "#8d6e63",
    "#5c6bc0",
)
BAD = "var(--jp-error-color1, #d32f2f)"  # NaN / Inf markers
KIND_COLORS = {
    "trace": "var(--jp-brand-color1, #1976d2)",
    "lower": "var(--jp-warn-color1, #f57c00)",
    "compile": "var(--jp-error-color1, #d32f2f)",
}

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_FONT = "font-family:var(--jp-ui-font-family, system-ui, sans-serif);font-size:10px"


def _s(value: Any, limit: int | None = None) -> str:
    """A user string, safe as SVG text or attribute: XML-invalid characters dropped, cut to
    ``limit`` characters with "…", escaped (quotes included)."""
    text = _XML_BAD.sub("", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return esc(text)


def _fits(px: float) -> int:
    """How many characters of a bold 10 px title fit in ``px`` pixels (about 6.5 px each)."""
    return max(8, int(px / 6.5))


def _f(v: float) -> str:
    """A coordinate: one decimal, no "-0.0"."""
    text = f"{v:.1f}"
    return "0.0" if text == "-0.0" else text


# -- values --------------------------------------------------------------------------------------

_NONFINITE = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
              "-infinity": -math.inf}  # fmt: skip


def _y(v: Any) -> float | None:
    """A y value as a float (NaN / ±Inf kept), or None for a gap or something that is no number."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, str):
        return _NONFINITE.get(v.strip().lower())
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return None


def _x(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def downsample(
    points: list[tuple[float, float | None]], limit: int = MAX_POINTS
) -> list[tuple[float, float | None]]:
    """At most ``limit`` points in x order: short series unchanged; long ones cut into
    ``limit // 3`` buckets, each keeping its lowest and highest finite point (in x order) and its
    first NaN/Inf (else its first gap), so spikes, divergence and breaks stay visible."""
    if len(points) <= limit:
        return list(points)
    buckets = max(1, limit // 3)
    n = len(points)
    out: list[tuple[float, float | None]] = []
    for b in range(buckets):
        chunk = points[b * n // buckets : (b + 1) * n // buckets]
        lo = hi = brk = None
        for i, (_x0, y) in enumerate(chunk):
            if y is None or not math.isfinite(y):
                if brk is None or (chunk[brk][1] is None and y is not None):
                    brk = i  # a NaN/Inf wins over a gap: it is what the reader looks for
                continue
            if lo is None or y < chunk[lo][1]:  # type: ignore[operator]
                lo = i
            if hi is None or y > chunk[hi][1]:  # type: ignore[operator]
                hi = i
        for i in sorted({i for i in (lo, hi, brk) if i is not None}):
            out.append(chunk[i])
    return out


# -- line chart ----------------------------------------------------------------------------------


def line_chart(
    series: dict[str, list[tuple[float, float | None]]],
    *,
    title: str = "",
    width: int = 320,
    height: int = 120,
    log_y: bool = False,
    x_label: str = "step",
) -> str:
    """Curves against a shared x axis (``x_label``) as one ``<svg>``: y range from the finite
    values (``log_y``: a log scale, values ≤ 0 left out), min/max labels on both axes, a legend
    when there is more than one series, NaN/Inf marked in red with a tooltip."""
    width = max(int(width), 120)
    height = max(int(height), 60)
    items = list((series or {}).items())
    more = max(0, len(items) - MAX_SERIES)
    items = items[:MAX_SERIES]
    clean: list[tuple[str, list[tuple[float, float | None]], int]] = []
    for name, pts in items:
        cooked: list[tuple[float, float | None]] = []
        for i, p in enumerate(pts or ()):
            try:
                x, y = _x(p[0]), _y(p[1])
            except (TypeError, IndexError, KeyError):
                continue
            if x is None:
                x = float(i)
            if log_y and y is not None and math.isfinite(y) and y <= 0:
                y = None  # not drawable on a log scale: a gap
            cooked.append((x, y))
        cooked.sort(key=lambda p: p[0])
        clean.append((str(name), downsample(cooked), len(cooked)))

    legend_rows = 1 if len(clean) > 1 or more else 0
    top = 4 + (12 if title else 0) + 12 * legend_rows
    left, right, bottom = 54, 8, 16  # room for an axis label such as "-6.400e-5"
    pw, ph = width - left - right, height - top - bottom
    if ph < 20:  # a title and a legend in a short chart: make room
        height += 20 - ph
        ph = 20
    label = title or ", ".join(n for n, _p, _c in clean) or "chart"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ji-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_s(label, 120)}" '
        f'data-series="{len(clean) + more}" style="{_FONT};color:inherit;overflow:visible">',
        f"<title>{_s(label, 200)}</title>",
    ]
    if title:
        out.append(
            f'<text x="2" y="12" fill="currentColor" font-weight="600">'
            f"{_s(title, _fits(width - 4))}</text>"
        )
    if legend_rows:
        x = left
        y = 4 + (12 if title else 0) + 9
        for i, (name, _pts, _n) in enumerate(clean):
            short = _s(name, 16)
            out.append(
                f'<g><title>{_s(name, 200)}</title><rect x="{x}" y="{y - 7}" width="8" height="8" '
                f'style="fill:{PALETTE[i % len(PALETTE)]}"/><text x="{x + 10}" y="{y}" fill="currentColor">'
                f"{short}</text></g>"
            )
            x += 16 + 6 * min(len(name), 16)
            if x > width - 40:
                break
        if more:
            out.append(f'<text x="{width - right}" y="{y}" fill="currentColor" text-anchor="end" '
                       f'opacity="0.7">+{more} more</text>')  # fmt: skip

    xs = [p[0] for _n, pts, _c in clean for p in pts]
    ys = [p[1] for _n, pts, _c in clean for p in pts if p[1] is not None and math.isfinite(p[1])]
    frame = (f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="currentColor" '
             f'stroke-opacity="0.25"/>')  # fmt: skip
    out.append(frame)
    if not xs:
        out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph / 2 + 3:.0f}" fill="currentColor" '
                   f'text-anchor="middle" opacity="0.7">no data yet</text></svg>')  # fmt: skip
        return Markup("".join(out))
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5

    def ty(v: float) -> float:
        return math.log10(v) if log_y else v

    if ys:
        y0, y1 = min(ys), max(ys)
    else:
        y0 = y1 = 1.0 if log_y else 0.0
    t0, t1 = ty(y0), ty(y1)
    if t1 == t0:
        pad = abs(t0) * 0.05 or 0.5
        t0, t1 = t0 - pad, t1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (ty(y) - t0) / (t1 - t0) * ph

    for i, (name, pts, count) in enumerate(clean):
        color = PALETTE[i % len(PALETTE)]
        d: list[str] = []
        pen = False
        bad: list[str] = []
        runs: list[list[Any]] = []  # consecutive NaN/Inf of one kind: [word, first x, last x, n]
        for x, y in pts:
            if y is None:
                pen = False
                runs.append(["", x, x, 0])  # a gap ends a run
                continue
            if not math.isfinite(y):
                pen = False
                word = "NaN" if math.isnan(y) else ("Inf" if y > 0 else "-Inf")
                if runs and runs[-1][0] == word:
                    runs[-1][2] = x
                    runs[-1][3] += 1
                else:
                    runs.append([word, x, x, 1])
                continue
            runs.append(["", x, x, 0])
            d.append(f"{'L' if pen else 'M'}{_f(px(x))} {_f(py(y))}")
            if not pen:
                d.append("h0")  # an isolated point shows as a dot (round caps)
            pen = True
        for word, xa, xb, n in runs:
            if not n:
                continue
            mx, my = px(xa), (top + ph - 1 if word == "-Inf" else top + 1)
            if n == 1:
                tip, tail = f"{name}: {word} at {x_label} {human_value(xa)}", ""
            else:  # one mark, and a bar to the run's end
                tip = f"{name}: {word} from {x_label} {human_value(xa)} to {human_value(xb)} ({n} points)"
                tail = f"M{_f(mx)} {_f(my)}H{_f(px(xb))}"
            bad.append(
                f'<path d="M{_f(mx - 3)} {_f(my - 3)}l6 6m0 -6l-6 6{tail}" data-value="{word}" data-count="{n}" '
                f'style="stroke:{BAD};stroke-width:1.6;fill:none"><title>{_s(tip, 200)}</title></path>'
            )
        last = next((p for p in reversed(pts) if p[1] is not None), None)
        tip = f"{name}: {count} points"
        if last is not None:
            tip += f", last {human_value(last[1])} at {x_label} {human_value(last[0])}"
        out.append(
            f'<g class="ji-series" data-name="{_s(name)}" data-points="{len(pts)}"><title>{_s(tip, 240)}</title>'
            + (f'<path d="{"".join(d)}" fill="none" style="stroke:{color};stroke-width:1.5;'
               'stroke-linejoin:round;stroke-linecap:round"/>' if d else "")
            + "".join(bad)
            + "</g>"
        )  # fmt: skip

    if ys and y0 == y1:  # a flat line: its one value, beside it
        out.append(f'<text x="{left - 3}" y="{py(y0) + 3:.1f}" fill="currentColor" text-anchor="end">'
                   f"{esc(human_value(y0))}</text>")  # fmt: skip
    elif ys:
        for yv, at in ((y1, top + 8), (y0, top + ph)):
            out.append(f'<text x="{left - 3}" y="{at}" fill="currentColor" text-anchor="end">'
                       f"{esc(human_value(yv))}</text>")  # fmt: skip
    if log_y:
        out.append(f'<text x="{left - 3}" y="{top + ph / 2 + 3:.0f}" fill="currentColor" text-anchor="end" '
                   'opacity="0.6">log</text>')  # fmt: skip
    base = top + ph + 12
    xl, xh = (min(xs), max(xs))
    out.append(f'<text x="{left}" y="{base}" fill="currentColor">{esc(human_value(xl))}</text>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{base}" fill="currentColor" text-anchor="middle" '
               f'opacity="0.7">{_s(x_label, 24)}</text>')  # fmt: skip
    out.append(
        f'<text x="{left + pw}" y="{base}" fill="currentColor" text-anchor="end">{esc(human_value(xh))}</text>'
    )
    out.append("</svg>")
    return Markup("".join(out))


# -- timeline ------------------------------------------------------------------------------------


def bars(
    rows: list[tuple[str, float, float]],
    *,
    title: str = "",
    width: int = 320,
    row_height: int = 14,
    unit: str = "s",
) -> str:
    """A timeline: one lane per label (first seen first, at most :data:`MAX_LANES`), one bar per
    ``(label, start, duration[, kind])`` row, start times relative to the earliest; bars of one
    lane and kind closer than about 1/60 of the width are merged (the tooltip counts them).
    ``unit="s"`` labels the axis as durations; anything else as plain numbers + ``unit``."""
    width = max(int(width), 160)
    row_height = max(int(row_height), 8)
    clean: list[tuple[str, float, float, str | None]] = []
    skipped = 0
    for row in rows or ():
        try:
            label, start, dur = str(row[0]), _x(row[1]), _x(row[2])
            kind = str(row[3]) if len(row) > 3 and row[3] is not None else None
        except (TypeError, IndexError, KeyError):
            skipped += 1
            continue
        if start is None or dur is None or dur < 0:
            skipped += 1
            continue
        clean.append((label, start, dur, kind))
    lanes = list(dict.fromkeys(r[0] for r in clean))
    more = max(0, len(lanes) - MAX_LANES)
    lanes = lanes[:MAX_LANES]
    kinds = list(dict.fromkeys(r[3] for r in clean if r[3] is not None))

    def fmt(v: float) -> str:
        return (
            human_duration(v) if unit == "s" else f"{human_value(v)}{(' ' + unit) if unit else ''}"
        )

    label_w = min(120, max(40, 6 * max((min(len(n), 20) for n in lanes), default=6)))
    left, right = label_w + 6, 8
    top = 4 + (12 if title else 0) + (12 if kinds else 0)
    notes = [
        f"+{more} more" if more else "",
        f"{skipped} rows without a time left out" if skipped else "",
    ]
    notes = [n for n in notes if n]
    height = top + row_height * max(len(lanes), 1) + 16 + 12 * len(notes)
    pw = width - left - right
    label = title or "timeline"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ji-chart ji-timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_s(label, 120)}" data-lanes="{len(lanes) + more}" '
        f'style="{_FONT};color:inherit;overflow:visible">',
        f"<title>{_s(label, 200)}</title>",
    ]
    if title:
        out.append(
            f'<text x="0" y="12" fill="currentColor" font-weight="600">'
            f"{_s(title, _fits(width))}</text>"
        )
    if kinds:
        x = left
        y = top - 3
        for k in kinds[:6]:
            out.append(f'<rect x="{x}" y="{y - 7}" width="8" height="8" style="fill:{_kind_color(k, kinds)}"/>'
                       f'<text x="{x + 10}" y="{y}" fill="currentColor">{_s(k, 12)}</text>')  # fmt: skip
            x += 16 + 6 * min(len(k), 12)
    if not lanes:
        out.append(
            f'<text x="{left}" y="{top + 10}" fill="currentColor" opacity="0.7">nothing recorded yet</text>'
        )
    else:
        shown = [r for r in clean if r[0] in set(lanes)]
        t0 = min(r[1] for r in shown)
        t1 = max(r[1] + r[2] for r in shown)
        span = max(t1 - t0, 1e-9)
        scale = pw / span
        merge = pw / LANE_MERGE  # px: bars closer than this become one
        for li, name in enumerate(lanes):
            y = top + li * row_height
            out.append(f'<text x="{label_w}" y="{y + row_height - 3}" fill="currentColor" text-anchor="end">'
                       f"<title>{_s(name, 200)}</title>{_s(name, 20)}</text>")  # fmt: skip
            lane = sorted((r for r in shown if r[0] == name), key=lambda r: r[1])
            by_kind: dict[str | None, list[list[float]]] = {}
            for _n, start, dur, kind in lane:
                a, b = (start - t0) * scale, (start - t0 + dur) * scale
                spans = by_kind.setdefault(kind, [])
                if spans and a - spans[-1][1] <= merge:
                    spans[-1][1] = max(spans[-1][1], b)
                    spans[-1][2] += 1
                    spans[-1][3] += dur
                else:
                    spans.append([a, b, 1, dur])
            for kind, spans in by_kind.items():
                color = _kind_color(kind, kinds)
                for a, b, n, total in spans:
                    tip = f"{name}{f' {kind}' if kind else ''}: " + (
                        f"{fmt(total)}" if n == 1 else f"{n} bars, {fmt(total)} in all"
                    )
                    out.append(
                        f'<rect x="{_f(left + a)}" y="{y + 2}" width="{_f(max(b - a, 1.0))}" '
                        f'height="{row_height - 4}" style="fill:{color}"><title>{_s(tip, 240)}</title></rect>'
                    )
        base = top + row_height * len(lanes) + 12
        out.append(f'<text x="{left}" y="{base}" fill="currentColor">0</text>')
        out.append(
            f'<text x="{left + pw}" y="{base}" fill="currentColor" text-anchor="end">{esc(fmt(span))}</text>'
        )
    y = top + row_height * max(len(lanes), 1) + 16
    for note in notes:
        y += 12
        out.append(
            f'<text x="{left}" y="{y - 2}" fill="currentColor" opacity="0.7">{esc(note)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


_BYTE_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def byte_scale(values: list[Any]) -> tuple[float, str]:
    """The unit to plot byte counts in (divisor, name): the largest that keeps the biggest value
    at 1 or more (``B`` for small ones), so an axis reads "1.5 GiB" territory as 1.5, not 1.6e9."""
    top = max(
        (float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)), default=0.0
    )
    for unit, size in _BYTE_UNITS:
        if top >= size:
            return float(size), unit
    return 1.0, "B"


def _kind_color(kind: str | None, kinds: list[str]) -> str:
    if kind is None:
        return PALETTE[0]
    return KIND_COLORS.get(kind) or PALETTE[(kinds.index(kind) + 3) % len(PALETTE)]
