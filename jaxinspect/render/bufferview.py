"""Buffers views (``jaxinspect.buffers()``, ``%jaxinspect buffers``, ``jaxinspect.sharding(x)``):
text twin and HTML from records. Never imports jax."""

from __future__ import annotations

from typing import Any

from ..records import ArrayRow, BufferAlert, BufferGroup, BuffersRecord, DeviceMemory, ShardRecord
from ..units import human_bytes
from .doc import Alert, Column, Group, Line, Section, Table, Text, View, place, to_html, to_text

ARRAY_ROWS = 50
ALL_ROWS = 5000  # rows shown for limit=None (output budget); the view's .arrays has every one
GROUP_ROWS = 20
SHARD_GRIDS = 8
GRID_MAX_CELLS = 256



def headline(rec: BuffersRecord, own: tuple[int, int] = (0, 0)) -> str:
    text = (
        f"live arrays: {rec.arrays} ({human_bytes(rec.device_bytes)} on devices, "
        f"{human_bytes(rec.bytes)} logical) · snapshot #{rec.seq} took {rec.took_text}"
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


def _group_rows(groups: tuple[BufferGroup, ...] | list[BufferGroup], by_site: bool = False) -> list[tuple]:
    """name, arrays, bytes, example, creation site; a site in a cell links to it in HTML."""
    return [
        (
            place(g.at, g.name) if by_site and g.at is not None else g.name,
            g.arrays,
            human_bytes(g.bytes),
            g.example,
            place(g.at, g.site) if g.site and g.at is not None else g.site or "–",
        )
        for g in groups
    ]


def _places(rec: BuffersRecord) -> dict[str, Any]:
    """Site text -> Location, from the record's groups (the largest holders and sites), so the
    largest arrays' creation sites link to their cells in HTML as the groups' do."""
    places: dict[str, Any] = {}
    for g in (*rec.owners, *rec.sites, rec.unowned):
        if g.at is not None and g.site:
            places.setdefault(g.site, g.at)
    return places


def _array_row(a: ArrayRow, places: dict[str, Any] | None = None) -> tuple:
    flags = ", ".join(f for f, on in (("deleted", a.deleted), ("committed", a.committed)) if on)
    devices = ", ".join(a.devices) + (f" (+{a.n_devices - len(a.devices)})" if a.n_devices > len(a.devices) else "")
    return (
        a.owner or "(no variable)",
        a.type,
        human_bytes(a.bytes),
        devices or "–",
        a.sharding,
        place(places.get(a.site), a.site) if places and a.site in places else a.site or "?",
        flags,
    )


def _more_hint(shown: int) -> str:
    if shown >= ALL_ROWS:
        return "(output budget; the view's .arrays lists every one)"
    return "(jaxinspect.buffers(limit=None) lists all)"


def _cols(*spec: tuple[str, str]) -> tuple[Column, ...]:
    """Columns capped at 60 characters in text; ``"r"`` right-aligns a number."""
    return tuple(Column(name, "right" if align == "r" else "left", max=60) for name, align in spec)


DEVICE_COLUMNS = _cols(("device", ""), ("arrays", "r"), ("bytes", "r"), ("in use", "r"), ("peak", "r"),
                       ("limit", "r"))  # fmt: skip
GROUP_COLUMNS = _cols(("holder", ""), ("arrays", "r"), ("bytes", "r"), ("largest", ""), ("created at", ""))
SITE_COLUMNS = _cols(("site", ""), ("arrays", "r"), ("bytes", "r"), ("largest", ""))
ARRAY_COLUMNS = _cols(("owner", ""), ("type", ""), ("bytes", "r"), ("devices", ""), ("sharding", ""),
                      ("created at", ""), ("", ""))  # fmt: skip
SHARD_COLUMNS = _cols(("device", ""), ("block", ""), ("shape", ""), ("bytes", "r"), ("", ""))


def buffers_doc(
    rec: BuffersRecord,
    arrays: list[ArrayRow],
    alerts: list[BufferAlert],
    shards: dict[int, list[ShardRecord]] | None = None,
    limit: int = ARRAY_ROWS,
    profile: dict[str, Any] | None = None,
    own: tuple[int, int] = (0, 0),
) -> View:
    """Per device, by holder, by creation site, by dtype, the largest arrays (at most ``limit``,
    then "… N more arrays"), the shards of sharded ones and, when asked, the memory profile."""
    note = attribution_note(rec)
    top: list[Any] = [Line(f"note: {note}", role="muted")] if note else []
    top += [Alert(a.message, a.hint) for a in alerts]
    children: list[Any] = [Group(top, indent=2)]
    per_device: list[Any] = [Table(DEVICE_COLUMNS, [_device_row(d) for d in rec.devices])]
    if any(d.bytes_in_use is None for d in rec.devices):
        per_device.append(
            Line("(no allocator statistics on this backend: bytes are computed from live arrays)", role="muted")
        )
    children.append(Section("per device", per_device, fold=False))
    rows = _group_rows(rec.owners)
    if rec.unowned.arrays:
        rows.append(_group_rows([rec.unowned])[0])
    if rows:
        children.append(Section("by holder", [Table(GROUP_COLUMNS, rows)], open=True))
    if rec.sites:
        children.append(
            Section("by creation site", [Table(SITE_COLUMNS, [r[:4] for r in _group_rows(rec.sites, by_site=True)])], open=True)
        )
    if rec.dtypes:
        dtypes = Table(_cols(("dtype", ""), ("arrays", "r"), ("bytes", "r")),
                       [(g.name, g.arrays, human_bytes(g.bytes)) for g in rec.dtypes])  # fmt: skip
        children.append(Section("by dtype", [dtypes]))
    if arrays:
        shown = arrays[:limit]
        places = _places(rec)
        table = Table(ARRAY_COLUMNS, [_array_row(a, places) for a in shown], more=rec.arrays - len(shown),
                      more_label=f"more arrays {_more_hint(len(shown))}")  # fmt: skip
        children.append(Section("largest arrays", [table], open=True))
    for array_id, shard_list in list((shards or {}).items())[:SHARD_GRIDS]:
        row = next((a for a in arrays if a.id == array_id), None)
        if row is not None:
            title = ["shards of ", Text(row.owner or row.type, role="code"),
                     f" ({row.type}, {len(shard_list)} shards)"]  # fmt: skip
            children.append(Section(title, shards_blocks(shard_list)))
    if profile is not None:
        children.append(profile_section(profile))
    return View(headline(rec, own), children)


def buffers_text(
    rec: BuffersRecord,
    arrays: list[ArrayRow],
    alerts: list[BufferAlert],
    shards: dict[int, list[ShardRecord]] | None = None,
    limit: int = ARRAY_ROWS,
    own: tuple[int, int] = (0, 0),
    profile: dict[str, Any] | None = None,
) -> str:
    return to_text(buffers_doc(rec, arrays, alerts, shards, limit, profile, own))


def buffers_html(
    rec: BuffersRecord,
    arrays: list[ArrayRow],
    alerts: list[BufferAlert],
    shards: dict[int, list[ShardRecord]] | None = None,
    limit: int = ARRAY_ROWS,
    profile: dict[str, Any] | None = None,
    own: tuple[int, int] = (0, 0),
) -> str:
    return to_html(buffers_doc(rec, arrays, alerts, shards, limit, profile, own))


def profile_section(profile: dict[str, Any]) -> Any:
    """``jax.profiler.device_memory_profile()``, parsed: totals and the largest allocation sites."""
    if "error" in profile:
        return Line(f"device_memory_profile(): unavailable ({profile['error']})", role="muted")
    totals = Table(
        _cols(("kind", ""), ("device", ""), ("allocations", "r"), ("bytes", "r")),
        [(t["kind"], t["device"], t["allocations"], human_bytes(t["bytes"])) for t in profile["totals"]],
    )
    sites = Table(
        _cols(("kind", ""), ("site", ""), ("allocations", "r"), ("bytes", "r")),
        [(t["kind"], t["site"], t["allocations"], human_bytes(t["bytes"])) for t in profile["sites"]],
    )
    return Section(
        f"device_memory_profile(): {profile['samples']} samples",
        [totals, Section("largest allocation sites", [sites], fold=False)],
        open=True,
    )


# -- shards ---------------------------------------------------------------------------------------

def _bounds_text(bounds: tuple) -> str:
    return "[" + ", ".join(f"{a}:{b}" for a, b in bounds) + "]"


def _shard_rows(shards: list[ShardRecord]) -> list[tuple]:
    return [
        (s.device, _bounds_text(s.bounds), "×".join(map(str, s.shape)) or "scalar", human_bytes(s.bytes),
         f"replica {s.replica}" if s.replica else "")
        for s in shards
    ]  # fmt: skip


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


def shards_blocks(shards: list[ShardRecord]) -> list[Any]:
    """The block grid (rows × columns of the array, the devices holding each block) when the
    array has rank 1–2 and more than one block, then every shard as a row."""
    out: list[Any] = []
    grid = shard_grid(shards)
    if grid is not None and len(grid["rows"]) * len(grid["cols"]) > 1:
        heads = [f"{a}:{b}" for a, b in grid["cols"]] if len(grid["cols"]) > 1 else [""]
        columns = [Column("", "right")] + [Column(h) for h in heads]
        rows = [
            [f"{a}:{b}"] + [", ".join(grid["cells"].get((r, c), [])) for c in range(len(grid["cols"]))]
            for r, (a, b) in enumerate(grid["rows"])
        ]
        out.append(Table(columns, rows, cls="ji-shards", boxed=True))
    out.append(Table(SHARD_COLUMNS, _shard_rows(shards)))
    return out


DELETED_NOTE = "deleted or donated: its buffers are freed; the blocks below are where they were"


def sharding_doc(title: str, sharding: str, shards: list[ShardRecord], deleted: bool = False) -> View:
    if deleted:
        head = f"{title}: {DELETED_NOTE} ({sharding})"
    else:
        head = f"{title}: {sharding}, {len(shards)} shards on {len({s.device for s in shards})} devices"
    return View(head, [Group(shards_blocks(shards), indent=2)])


def sharding_text(title: str, sharding: str, shards: list[ShardRecord], deleted: bool = False) -> str:
    return to_text(sharding_doc(title, sharding, shards, deleted))


def sharding_html(title: str, sharding: str, shards: list[ShardRecord], deleted: bool = False) -> str:
    return to_html(sharding_doc(title, sharding, shards, deleted))


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
