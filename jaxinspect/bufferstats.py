"""Buffer snapshots → records, and leak detection across snapshots (pure; no JAX).

Arrays are grouped by *holder* (the variable-level owner: ``losses`` for ``losses[17]``,
``state.params`` for ``state.params['Dense_0']['kernel']``, ``Out`` for IPython's output history)
and, for arrays no variable holds, by creation site. A group whose array count grew at every one
of the last few snapshots is a leak suspect and raises one alert, with the usual fix.
"""

from __future__ import annotations

import heapq
import re
import threading
import time
from collections import deque
from typing import Any

from .records import ArrayRow, BufferAlert, BufferGroup, BuffersRecord
from .units import human_bytes as _human

GROUP_ROWS = 20
_COMPONENT = re.compile(r"\.[^.\[]+|\[[^\]]*\]")


def holder(path: str) -> str:
    """``losses[17]`` → ``losses``; ``state.params['Dense_0']['kernel']`` → ``state.params``;
    ``Out[12]`` → ``Out``; ``w`` → ``w``."""
    if path.startswith("Out["):
        return "Out"
    m = re.match(r"[^.\[]+", path)
    if not m:
        return path
    root, rest = m.group(0), path[m.end() :]
    first = _COMPONENT.match(rest)
    if first is None or re.fullmatch(r"\[\d+\]", first.group(0)):
        return root  # a list element: the list is the holder
    return root + first.group(0)


def group(infos: list, key, limit: int = GROUP_ROWS) -> tuple[list[BufferGroup], int]:
    """Arrays grouped by ``key(info)`` (None: left out), largest bytes first, at most ``limit``;
    also returns how many groups there were."""
    acc: dict[str, list] = {}
    for info in infos:
        name = key(info)
        if name is None:
            continue
        entry = acc.get(name)
        if entry is None:
            acc[name] = [1, info.nbytes, info]
        else:
            entry[0] += 1
            entry[1] += info.nbytes
            if info.nbytes > entry[2].nbytes:
                entry[2] = info
    ordered = sorted(acc.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    out = [
        BufferGroup(name=name, arrays=n, bytes=b, example=ex.type, site=ex.site)
        for name, (n, b, ex) in ordered[:limit]
    ]
    return out, len(ordered)


def owner_key(info: Any) -> str | None:
    if not info.owner:
        return None
    return getattr(info, "holder", None) or holder(info.owner)


def site_key(info: Any) -> str | None:
    return info.site or "(creation site unknown)"


def rows(infos: list, limit: int | None) -> list[ArrayRow]:
    """The largest arrays first (all of them when ``limit`` is None)."""
    def order(i: Any) -> tuple:
        return (-i.nbytes, i.owner or "\uffff", i.id)

    if limit is None:
        biggest = sorted(infos, key=order)
    else:
        biggest = heapq.nsmallest(limit, infos, key=order)
    return [
        ArrayRow(
            id=i.id,
            type=i.type,
            dtype=i.dtype,
            shape=i.shape,
            bytes=i.nbytes,
            device_bytes=sum(i.per_device.values()),
            devices=tuple(sorted(i.per_device))[:16],
            n_devices=len(i.per_device),
            sharding=i.sharding,
            committed=i.committed,
            deleted=i.deleted,
            owner=i.owner,
            site=i.site,
        )
        for i in biggest
    ]


def summarize(snap: Any, seq: int, trigger: str, interval_s: float | None) -> BuffersRecord:
    """The wire record of a snapshot: totals, and the top groups by holder, site and dtype
    (one pass over the arrays)."""
    owners: dict[str, list] = {}
    sites: dict[str, list] = {}
    dtypes: dict[str, list] = {}
    total = device_total = 0
    unowned_n = unowned_b = 0
    unowned_big = None
    for info in snap.arrays:
        nbytes = info.nbytes
        total += nbytes
        device_total += sum(info.per_device.values())
        for acc, name in (
            (owners, info.holder or (holder(info.owner) if info.owner else None)),
            (sites, info.site or "(creation site unknown)"),
            (dtypes, info.dtype),
        ):
            if name is None:
                continue
            entry = acc.get(name)
            if entry is None:
                acc[name] = [1, nbytes, info]
            else:
                entry[0] += 1
                entry[1] += nbytes
                if nbytes > entry[2].nbytes:
                    entry[2] = info
        if not info.owner:
            unowned_n += 1
            unowned_b += nbytes
            if unowned_big is None or nbytes > unowned_big.nbytes:
                unowned_big = info

    def top(acc: dict[str, list]) -> tuple[BufferGroup, ...]:
        ordered = sorted(acc.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:GROUP_ROWS]
        return tuple(
            BufferGroup(name=name, arrays=n, bytes=b, example=ex.type, site=ex.site)
            for name, (n, b, ex) in ordered
        )

    return BuffersRecord(
        seq=seq,
        time=snap.time,
        trigger=trigger,
        arrays=len(snap.arrays),
        bytes=total,
        device_bytes=device_total,
        deleted=snap.deleted,
        devices=tuple(snap.devices),
        dtypes=top(dtypes),
        owners=top(owners),
        sites=top(sites),
        unowned=BufferGroup(
            name="(no variable holds these)",
            arrays=unowned_n,
            bytes=unowned_b,
            example=unowned_big.type if unowned_big else "",
            site=unowned_big.site if unowned_big else None,
        ),
        attributed=snap.attributed,
        partial=snap.partial,
        took_s=snap.took_s,
        interval_s=interval_s,
    )


def _counts(snap: Any) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(group, name) → (arrays, bytes, smallest example type) for leak detection."""
    acc: dict[tuple[str, str], list] = {}
    for info in snap.arrays:
        key = ("owner", owner_key(info)) if info.owner else ("site", site_key(info))
        entry = acc.get(key)
        if entry is None:
            acc[key] = [1, info.nbytes, info.type]
        else:
            entry[0] += 1
            entry[1] += info.nbytes
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}



def explain(group_: str, name: str, first: tuple, last: tuple, steps: int) -> tuple[str, str]:
    """(message, hint) for a group that grew from ``first`` to ``last`` over ``steps`` snapshots."""
    d_arrays, d_bytes = last[0] - first[0], last[1] - first[1]
    example = last[2]
    per = d_arrays / max(steps, 1)
    rate = f"~{per:.3g} {example} array{'s' if per != 1 else ''} per snapshot"
    now = f"now {last[0]} arrays, {_human(last[1])}"
    if group_ == "owner" and name == "Out":
        return (
            f"IPython's output history (Out, _, __) keeps gaining device arrays: +{d_arrays} "
            f"over the last {steps} snapshots ({now})",
            "every displayed result stays alive in Out: end such lines with `;`, or free them "
            "with %reset -f out",
        )
    if group_ == "owner":
        scalar = example.endswith("[]")
        hint = (
            f"store a Python number instead of the device array, e.g. "
            f"`{name}.append(float(loss))` (or jax.device_get): each device array keeps device "
            "memory alive"
            if scalar
            else f"`{name}` keeps every step's arrays: keep only what you need (e.g. the last few), "
            "or move them to the host with jax.device_get"
        )
        return (f"`{name}` gains {rate} (+{d_arrays}, +{_human(d_bytes)} over the last {steps} snapshots; {now})", hint)
    return (
        f"arrays created at {name} keep accumulating, but no notebook variable holds them: "
        f"{rate} (+{d_arrays}, +{_human(d_bytes)} over the last {steps} snapshots; {now})",
        "something outside the notebook's variables keeps them alive: a closure or default "
        "argument, a cache (functools.lru_cache), a callback or a global list in a module; "
        "jaxinspect.buffers().by_site lists them",
    )


class BufferTracker:
    """Numbers snapshots, keeps the last few group counts, and raises growth alerts."""

    def __init__(self, window: int = 4, min_arrays: int = 3, history: int = 600) -> None:
        self.window = window
        self.min_arrays = min_arrays
        self._lock = threading.Lock()
        self._recent: deque[dict] = deque(maxlen=window)
        self._alerted: dict[tuple[str, str], int] = {}
        self.seq = 0
        self._alert_id = 0
        self.alerts: deque[BufferAlert] = deque(maxlen=100)
        self.timeline: deque[tuple[float, int, int, dict[str, int]]] = deque(maxlen=history)
        self.last: BuffersRecord | None = None

    def add(
        self, snap: Any, trigger: str = "api", interval_s: float | None = None
    ) -> tuple[BuffersRecord, list[BufferAlert]]:
        counts = _counts(snap)
        with self._lock:
            self.seq += 1
            record = summarize(snap, self.seq, trigger, interval_s)
            self.last = record
            self.timeline.append(
                (record.time, record.arrays, record.device_bytes, {d.device: d.bytes for d in record.devices})
            )
            self._recent.append(counts)
            alerts = self._detect() if snap.attributed else []
            self.alerts.extend(alerts)
        return record, alerts

    def _detect(self) -> list[BufferAlert]:
        if len(self._recent) < self.window:
            return []
        snaps = list(self._recent)
        out = []
        for key, last in snaps[-1].items():
            series = [s.get(key, (0, 0, last[2])) for s in snaps]
            arrays = [c[0] for c in series]
            if not all(b > a for a, b in zip(arrays, arrays[1:], strict=False)):
                if key in self._alerted and arrays[-1] <= arrays[0]:
                    self._alerted.pop(key, None)  # it stopped growing: a later leak alerts again
                continue
            if arrays[-1] - arrays[0] < self.min_arrays:
                continue
            previous = self._alerted.get(key)
            if previous is not None and arrays[-1] < 2 * previous:
                continue
            self._alerted[key] = arrays[-1]
            message, hint = explain(key[0], key[1], series[0], series[-1], len(series) - 1)
            self._alert_id += 1
            out.append(
                BufferAlert(
                    id=self._alert_id,
                    time=time.time(),
                    group=key[0],
                    name=key[1],
                    arrays_delta=arrays[-1] - arrays[0],
                    bytes_delta=series[-1][1] - series[0][1],
                    snapshots=len(series) - 1,
                    message=message,
                    hint=hint,
                )
            )
        return out

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._alerted.clear()
