"""Buffers views (``jaxinspect.buffers()``, ``%jaxinspect buffers``, ``jaxinspect.sharding(x)``):
text twin and HTML from records. Never imports jax."""

from __future__ import annotations

from typing import Any

from ..records import ArrayRow, BufferAlert, BufferGroup, BuffersRecord, DeviceMemory, ShardRecord
from ..units import human_bytes
from .htmllib import esc, view

ARRAY_ROWS = 50
ALL_ROWS = 5000  # rows shown for limit=None (output budget); the view's .arrays has every one
GROUP_ROWS = 20
SHARD_GRIDS = 8
GRID_MAX_CELLS = 256



def headline(rec: BuffersRecord, own: tuple[int, int] = (0, 0)) -> str:
    text = (
        f"live arrays: {rec.arrays} ({human_bytes(rec.device_bytes)} on devices, "
        f"{human_bytes(rec.bytes)} logical) · snapshot #{rec.seq} took {rec.took_s * 1e3:.0f} ms"
    )
    if rec.deleted:
        text += f" · {rec.deleted} deleted or donated"
    if own[0]:
        text += f" · not counted: {own[0]} of jaxinspect's own ({human_bytes(own[1])})"
    return text


def attribution_note(rec: BuffersRecord) -> str | None:
    if not rec.attributed:
        return "owners not computed (no namespace to search)"
    if rec.partial:
        return "the owner search stopped at its budget: some arrays may show as unowned"
    return None


def _device_row(d: DeviceMemory) -> tuple:
    return (
        d.device,
        d.arrays,
        human_bytes(d.bytes),
        human_bytes(d.bytes_in_use),
        human_bytes(d.peak_bytes_in_use),
        human_bytes(d.bytes_limit),
    )


def _group_rows(groups: tuple[BufferGroup, ...] | list[BufferGroup]) -> list[tuple]:
    return [(g.name, g.arrays, human_bytes(g.bytes), g.example, g.site or "–") for g in groups]


def _array_row(a: ArrayRow) -> tuple:
    flags = ", ".join(f for f, on in (("deleted", a.deleted), ("committed", a.committed)) if on)
    devices = ", ".join(a.devices) + (f" (+{a.n_devices - len(a.devices)})" if a.n_devices > len(a.devices) else "")
    return (
        a.owner or "(no variable)",
        a.type,
        human_bytes(a.bytes),
        devices or "–",
        a.sharding,
        a.site or "?",
        flags,
    )


def _text_table(headers: tuple, rows: list[tuple], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in r) for r in rows]
    widths = [min(max(len(r[i]) for r in cells), 60) for i in range(len(headers))]
    out = []
    for r in cells:
        out.append(indent + "  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    return out


def _more_hint(shown: int) -> str:
    if shown >= ALL_ROWS:
        return "(output budget; the view's .arrays lists every one)"
    return "(jaxinspect.buffers(limit=None) lists all)"


def buffers_text(
    rec: BuffersRecord,
    arrays: list[ArrayRow],
    alerts: list[BufferAlert],
    shards: dict[int, list[ShardRecord]] | None = None,
    limit: int = ARRAY_ROWS,
    own: tuple[int, int] = (0, 0),
) -> str:
    lines = [headline(rec, own)]
    note = attribution_note(rec)
    if note:
        lines.append(f"  note: {note}")
    for a in alerts:
        lines.append(f"  ⚠ {a.message}")
        lines.append(f"    fix: {a.hint}")
    lines.append("per device:")
    lines += _text_table(("device", "arrays", "bytes", "in use", "peak", "limit"), [_device_row(d) for d in rec.devices])
    if any(d.bytes_in_use is None for d in rec.devices):
        lines.append("  (no allocator statistics on this backend: bytes are computed from live arrays)")
    if rec.owners or rec.unowned.arrays:
        lines.append("by holder:")
        rows = _group_rows(rec.owners)
        if rec.unowned.arrays:
            rows.append(_group_rows([rec.unowned])[0])
        lines += _text_table(("holder", "arrays", "bytes", "largest", "created at"), rows)
    if rec.sites:
        lines.append("by creation site:")
        lines += _text_table(("site", "arrays", "bytes", "largest", ""), [r[:4] + ("",) for r in _group_rows(rec.sites)])
    if rec.dtypes:
        lines.append("by dtype: " + ", ".join(f"{g.name} ×{g.arrays} ({human_bytes(g.bytes)})" for g in rec.dtypes))
    if arrays:
        lines.append("largest arrays:")
        shown = arrays[:limit]
        lines += _text_table(
            ("owner", "type", "bytes", "devices", "sharding", "created at", ""), [_array_row(a) for a in shown]
        )
        if rec.arrays > len(shown):
            lines.append(f"  … {rec.arrays - len(shown)} more arrays {_more_hint(len(shown))}")
    for array_id, shard_list in list((shards or {}).items())[:SHARD_GRIDS]:
        row = next((a for a in arrays if a.id == array_id), None)
        if row is not None:
            lines.append(f"shards of {row.owner or row.type}:")
            lines += shards_text(shard_list, indent="  ")
    return "\n".join(lines)


def buffers_html(
    rec: BuffersRecord,
    arrays: list[ArrayRow],
    alerts: list[BufferAlert],
    shards: dict[int, list[ShardRecord]] | None = None,
    limit: int = ARRAY_ROWS,
    profile: dict[str, Any] | None = None,
    own: tuple[int, int] = (0, 0),
) -> str:
    from .htmllib import table

    parts = []
    note = attribution_note(rec)
    if note:
        parts.append(f'<div class="ji-muted">{esc(note)}</div>')
    for a in alerts:
        parts.append(f'<div class="ji-warn">⚠ {esc(a.message)}<br>fix: {esc(a.hint)}</div>')
    parts.append("<div><b>per device</b></div>")
    parts.append(table(("device", "arrays", "bytes", "in use", "peak", "limit"), [_device_row(d) for d in rec.devices]))
    if any(d.bytes_in_use is None for d in rec.devices):
        parts.append('<div class="ji-muted">no allocator statistics on this backend: bytes are computed from live arrays</div>')
    rows = _group_rows(rec.owners)
    if rec.unowned.arrays:
        rows.append(_group_rows([rec.unowned])[0])
    if rows:
        parts.append("<details open><summary>by holder</summary>")
        parts.append(table(("holder", "arrays", "bytes", "largest", "created at"), rows))
        parts.append("</details>")
    if rec.sites:
        parts.append("<details open><summary>by creation site</summary>")
        parts.append(table(("site", "arrays", "bytes", "largest"), [r[:4] for r in _group_rows(rec.sites)]))
        parts.append("</details>")
    if rec.dtypes:
        parts.append("<details><summary>by dtype</summary>")
        parts.append(table(("dtype", "arrays", "bytes"), [(g.name, g.arrays, human_bytes(g.bytes)) for g in rec.dtypes]))
        parts.append("</details>")
    if arrays:
        shown = arrays[:limit]
        parts.append(f"<details open><summary>largest arrays ({len(shown)} of {rec.arrays})</summary>")
        parts.append(table(("owner", "type", "bytes", "devices", "sharding", "created at", ""), [_array_row(a) for a in shown]))
        if rec.arrays > len(shown):
            parts.append(
                f'<div class="ji-muted">… {rec.arrays - len(shown)} more arrays '
                f"{esc(_more_hint(len(shown)))}</div>"
            )
        parts.append("</details>")
    for array_id, shard_list in list((shards or {}).items())[:SHARD_GRIDS]:
        row = next((a for a in arrays if a.id == array_id), None)
        if row is not None:
            parts.append(
                f"<details><summary>shards of <code>{esc(row.owner or row.type)}</code> "
                f"({esc(row.type)}, {len(shard_list)} shards)</summary>{shards_html(shard_list)}</details>"
            )
    if profile is not None:
        parts.append(profile_html(profile))
    return view("".join(parts), headline(rec, own))


def profile_text(profile: dict[str, Any]) -> str:
    if "error" in profile:
        return f"device_memory_profile(): unavailable ({profile['error']})"
    lines = [f"device_memory_profile(): {profile['samples']} samples"]
    lines += _text_table(
        ("kind", "device", "allocations", "bytes"),
        [(t["kind"], t["device"], t["allocations"], human_bytes(t["bytes"])) for t in profile["totals"]],
    )
    lines.append("  largest allocation sites:")
    lines += _text_table(
        ("kind", "site", "allocations", "bytes"),
        [(t["kind"], t["site"], t["allocations"], human_bytes(t["bytes"])) for t in profile["sites"]],
        indent="    ",
    )
    return "\n".join(lines)


def profile_html(profile: dict[str, Any]) -> str:
    from .htmllib import table

    if "error" in profile:
        return f'<div class="ji-muted">device_memory_profile(): unavailable ({esc(profile["error"])})</div>'
    return (
        f"<details open><summary>device_memory_profile() · {profile['samples']} samples</summary>"
        + table(
            ("kind", "device", "allocations", "bytes"),
            [(t["kind"], t["device"], t["allocations"], human_bytes(t["bytes"])) for t in profile["totals"]],
        )
        + table(
            ("kind", "largest allocation sites", "allocations", "bytes"),
            [(t["kind"], t["site"], t["allocations"], human_bytes(t["bytes"])) for t in profile["sites"]],
        )
        + "</details>"
    )


# -- shards ---------------------------------------------------------------------------------------


def _bounds_text(bounds: tuple) -> str:
    return "[" + ", ".join(f"{a}:{b}" for a, b in bounds) + "]"


def shards_text(shards: list[ShardRecord], indent: str = "") -> list[str]:
    rows = [
        (s.device, _bounds_text(s.bounds), "×".join(map(str, s.shape)) or "scalar", human_bytes(s.bytes), f"replica {s.replica}" if s.replica else "")
        for s in shards
    ]
    return _text_table(("device", "block", "shape", "bytes", ""), rows, indent)


def shard_grid(shards: list[ShardRecord]) -> dict[str, Any] | None:
    """For rank 1–2: the distinct row and column ranges and the devices holding each block."""
    if not shards or len(shards[0].bounds) > 2:
        return None
    rank = len(shards[0].bounds)
    if rank == 0:
        return {"rows": [(0, 1)], "cols": [(0, 1)], "cells": {(0, 0): [s.device for s in shards]}}
    rows = sorted({s.bounds[0] for s in shards})
    cols = sorted({s.bounds[1] for s in shards}) if rank == 2 else [(0, 1)]
    if len(rows) * len(cols) > GRID_MAX_CELLS:
        return None
    cells: dict[tuple[int, int], list[str]] = {}
    for s in shards:
        r = rows.index(s.bounds[0])
        c = cols.index(s.bounds[1]) if rank == 2 else 0
        cells.setdefault((r, c), []).append(s.device)
    return {"rows": rows, "cols": cols, "cells": cells}


def shards_html(shards: list[ShardRecord]) -> str:
    grid = shard_grid(shards)
    if grid is None:
        from .htmllib import table

        return table(
            ("device", "block", "shape", "bytes", ""),
            [(s.device, _bounds_text(s.bounds), "×".join(map(str, s.shape)) or "scalar", human_bytes(s.bytes), f"replica {s.replica}" if s.replica else "") for s in shards],
        )
    head = "".join(f"<th>{a}:{b}</th>" for a, b in grid["cols"]) if len(grid["cols"]) > 1 else "<th></th>"
    body = []
    for r, (a, b) in enumerate(grid["rows"]):
        cells = "".join(
            f'<td style="border:1px solid #999;text-align:center;padding:4px 8px">'
            f"{'<br>'.join(esc(d) for d in grid['cells'].get((r, c), []))}</td>"
            for c in range(len(grid["cols"]))
        )
        body.append(f"<tr><th>{a}:{b}</th>{cells}</tr>")
    return f'<table class="ji-shards"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


DELETED_NOTE = "deleted or donated: its buffers are freed; the blocks below are where they were"


def sharding_text(title: str, sharding: str, shards: list[ShardRecord], deleted: bool = False) -> str:
    lines = [f"{title}: {sharding}, {len(shards)} shards on {len({s.device for s in shards})} devices"]
    if deleted:
        lines[0] = f"{title}: {DELETED_NOTE} ({sharding})"
    grid = shard_grid(shards)
    if grid is not None and len(grid["rows"]) * len(grid["cols"]) > 1:
        width = max(len(", ".join(v)) for v in grid["cells"].values()) + 2
        for r, (a, b) in enumerate(grid["rows"]):
            cells = [", ".join(grid["cells"].get((r, c), [])).center(width) for c in range(len(grid["cols"]))]
            lines.append(f"  {a:>5}:{b:<5} |" + "|".join(cells) + "|")
    lines += shards_text(shards, indent="  ")
    return "\n".join(lines)


def sharding_html(title: str, sharding: str, shards: list[ShardRecord], deleted: bool = False) -> str:
    inner = f"<div><code>{esc(sharding)}</code></div>{shards_html(shards)}"
    if deleted:
        inner = f'<div class="ji-warn">{esc(DELETED_NOTE)}</div>' + inner
        return view(inner, f"{title}: deleted or donated")
    return view(inner, f"{title}: {len(shards)} shards on {len({s.device for s in shards})} devices")


def timeline_figure(points: list[tuple[float, int, int, dict[str, int]]]):
    """A plotly figure of bytes on each device over time (one trace per device)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if not points:
        return fig
    t0 = points[0][0]
    devices = sorted({d for p in points for d in p[3]})
    for dev in devices:
        fig.add_trace(
            go.Scatter(
                x=[p[0] - t0 for p in points],
                y=[p[3].get(dev, 0) for p in points],
                mode="lines+markers",
                name=dev,
            )
        )
    fig.update_layout(
        title="device memory held by live arrays",
        xaxis_title="seconds",
        yaxis_title="bytes",
        height=320,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
    )
    return fig
