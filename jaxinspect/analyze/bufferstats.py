"""Buffer snapshots → records, and leak detection across snapshots (pure; no JAX).

Arrays are grouped by *holder* (the variable-level owner: ``losses`` for ``losses[17]``,
``state.params`` for ``state.params['Dense_0']['kernel']``, ``Out`` for IPython's output history)
and, for arrays no variable holds, by creation site. A group whose array count grew at every one
of the last few snapshots is a leak suspect and raises one alert, with the usual fix.
"""

from __future__ import annotations

import dataclasses
import heapq
import operator
import re
import threading
import time
from collections import deque
from typing import Any

from ..records import ArrayRow, BufferAlert, BufferGroup, BuffersRecord
from ..units import human_bytes as _human

GROUP_ROWS = 20
_COMPONENT = re.compile(r"\.[^.\[]+|\[[^\]]*\]")


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str | None) -> tuple:
    """Sort key that orders numbers inside names by value: ``losses[2]`` before ``losses[10]``
    (None last). Text and numbers alternate, so equal positions always compare alike."""
    if text is None:
        return (True,)
    parts = _DIGITS.split(text)
    if len(parts) == 1:
        return (False, text)
    parts[1::2] = map(int, parts[1::2])
    return (False, *parts)


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
    ordered = sorted(acc.items(), key=lambda kv: (-kv[1][1], -kv[1][0], natural_key(kv[0])))
    out = [
        BufferGroup(name=name, arrays=n, bytes=b, example=ex.type, site=ex.site)
        for name, (n, b, ex) in ordered[:limit]
    ]
    return out, len(ordered)


OWN_HOLDER_PREFIX = "<jaxinspect: "  # holders named by bufferlib.register_holder


def owner_key(info: Any) -> str | None:
    if not info.owner:
        return None
    return getattr(info, "holder", None) or holder(info.owner)


def site_key(info: Any) -> str | None:
    return info.site or "(creation site unknown)"


_nbytes = operator.attrgetter("nbytes")


def rows(infos: list, limit: int | None) -> list[ArrayRow]:
    """The largest arrays first (all of them when ``limit`` is None)."""
    def order(i: Any) -> tuple:
        return (-i.nbytes, natural_key(i.owner), i.id)

    if limit is None:
        biggest = sorted(infos, key=order)
    elif len(infos) <= limit:
        biggest = sorted(infos, key=order)
    else:
        # the cut by size first (cheap), then natural order only among the arrays that make it
        # or tie with the smallest that does
        cutoff = heapq.nlargest(limit, infos, key=_nbytes)[-1].nbytes if limit else None
        pool = [i for i in infos if cutoff is not None and i.nbytes >= cutoff]
        biggest = heapq.nsmallest(limit, pool, key=order)
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

    places = (getattr(snap, "extra", None) or {}).get("places") or {}  # site text -> Location

    def top(acc: dict[str, list]) -> tuple[BufferGroup, ...]:
        ordered = sorted(acc.items(), key=lambda kv: (-kv[1][1], -kv[1][0], natural_key(kv[0])))[:GROUP_ROWS]
        return tuple(
            BufferGroup(name=name, arrays=n, bytes=b, example=ex.type, site=ex.site, at=places.get(ex.site))
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
            at=places.get(unowned_big.site) if unowned_big else None,
        ),
        attributed=snap.attributed,
        partial=snap.partial,
        took_s=snap.took_s,
        interval_s=interval_s,
    )


def _counts(snap: Any) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(group, name) → (arrays, bytes, type of the largest) for leak detection: arrays a
    variable holds by holder, the others by creation site (deleted arrays hold nothing)."""
    acc: dict[tuple[str, str], list] = {}
    for info in snap.arrays:
        if info.deleted:
            continue
        key = ("owner", owner_key(info)) if info.owner else ("site", site_key(info))
        if key[0] == "owner" and str(key[1]).startswith(OWN_HOLDER_PREFIX):
            # what a jaxinspect store keeps (a nan_guard's last calls) is bounded by design: it
            # fills up over its first calls, which is not a leak (it is still listed as a holder)
            continue
        entry = acc.get(key)
        if entry is None:
            acc[key] = [1, info.nbytes, info.type, info.nbytes]
        else:
            entry[0] += 1
            entry[1] += info.nbytes
            if info.nbytes > entry[3]:
                entry[2], entry[3] = info.type, info.nbytes
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def _grew(a: tuple, b: tuple) -> bool:
    """One change of a group from ``a`` to ``b`` is growth: more arrays (no fewer bytes), or as
    many or more arrays holding more bytes (an array re-made larger)."""
    return (b[0] > a[0] and b[1] >= a[1]) or (b[0] >= a[0] and b[1] > a[1])


def explain(
    group_: str, name: str, first: tuple, last: tuple, steps: int, by_bytes: bool = False
) -> tuple[str, str]:
    """(message, hint) for a group that grew from ``first`` to ``last`` over ``steps`` changes
    in a row (snapshots that saw no change are not counted)."""
    d_arrays, d_bytes = last[0] - first[0], last[1] - first[1]
    example = last[2]
    over = f"over {steps} increase{'s' if steps != 1 else ''} in a row"
    now = f"now {last[0]} array{'s' if last[0] != 1 else ''}, {_human(last[1])}"
    if by_bytes:  # (about) as many arrays, more bytes: an array re-made larger at every step
        return (
            f"`{name}` keeps growing in bytes: {_human(first[1])} → "
            f"{_human(last[1])} {over} ({now}; largest {example})",
            "an array re-made larger at each step (e.g. a KV cache extended with jnp.concatenate) "
            "holds more memory every time and recompiles every function it is passed to: allocate "
            "it once at its final size and write into it (x.at[i].set(...), "
            "lax.dynamic_update_slice)",
        )
    per = d_arrays / max(steps, 1)
    rate = f"~{per:.3g} {example} array{'s' if per != 1 else ''} per increase"
    if group_ == "owner" and name == "Out":
        return (
            f"IPython's output history (Out, _, __) keeps gaining device arrays: +{d_arrays} "
            f"{over} ({now})",
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
        return (f"`{name}` gains {rate} (+{d_arrays}, +{_human(d_bytes)} {over}; {now})", hint)
    return (
        f"arrays created at {name} keep accumulating, but no notebook variable holds them: "
        f"{rate} (+{d_arrays}, +{_human(d_bytes)} {over}; {now} that no variable holds, still "
        "alive after a garbage collection)",
        "something outside the notebook's variables keeps them alive: a closure or default "
        "argument, a cache (functools.lru_cache), a callback or a global list in a module; "
        "jaxinspect.buffers().by_site lists them",
    )


class _Active:
    """One raised growth alert while its group stays above where the growth started."""

    __slots__ = ("alert", "by_bytes", "epoch", "last", "start", "steps")

    def __init__(
        self, alert: BufferAlert, start: tuple, last: tuple, steps: int, epoch: int, by_bytes: bool
    ) -> None:
        self.alert = alert
        self.by_bytes = by_bytes
        self.start = start
        self.last = last
        self.steps = steps
        self.epoch = epoch  # the cell it was last published in


class Overview:
    """The whole session's memory at a bounded number of points (what a report draws): snapshot
    summaries ``(time, arrays, device bytes, per device)`` are kept one per stretch of ``stride``
    snapshots, the one holding the most bytes; when ``size`` are kept, neighbours merge pairwise
    and the stretch doubles. O(1) per snapshot on average; peaks survive, the first is kept."""

    def __init__(self, size: int = 512) -> None:
        self.size = max(int(size), 4)
        self.points: list[tuple] = []
        self.stride = 1
        self.count = 0  # snapshots seen
        self._pending: tuple | None = None
        self._n = 0

    def add(self, point: tuple) -> None:
        self.count += 1
        if self.count == 1:
            self.points.append(point)  # where the session started
            return
        if self._pending is None or point[2] > self._pending[2]:
            self._pending = point
        self._n += 1
        if self._n < self.stride:
            return
        self.points.append(self._pending)
        self._pending, self._n = None, 0
        if len(self.points) >= self.size:
            first, rest = self.points[0], self.points[1:]
            merged = [max(a, b, key=lambda p: p[2]) for a, b in zip(rest[::2], rest[1::2], strict=False)]
            if len(rest) % 2:
                merged.append(rest[-1])
            self.points = [first, *merged]
            self.stride *= 2

    def snapshot(self) -> list[tuple]:
        """The kept points, oldest first, with the stretch still being filled."""
        return self.points + ([self._pending] if self._pending is not None else [])


class BufferTracker:
    """Numbers snapshots, keeps each group's last few *distinct* (arrays, bytes) values, and
    raises growth alerts.

    - A group grew when its last ``window - 1`` changes were all increases (snapshots that saw
      the same value, e.g. the end-of-cell snapshot and ``%jaxinspect buffers`` right after it,
      neither count nor reset the growth); by at least ``min_arrays`` arrays, or by
      ``min_bytes`` bytes with as many arrays (an array re-made larger each step).
    - A group no variable holds (by creation site) is only a suspect on a snapshot taken while
      a cell runs; it is alerted at a quiescent snapshot (end of cell, an explicit one) if its
      arrays are still alive after a garbage collection.
    - One alert per group: later growth updates it (same id, current counts), published at
      most once per cell; it is resolved (and published once more, saying so) when the group
      falls back to where the growth started, e.g. after ``del``.
    """

    MAX_GROUPS = 20_000

    def __init__(
        self, window: int = 4, min_arrays: int = 3, history: int = 600, min_bytes: int = 256 * 1024
    ) -> None:
        self.window = window
        self.min_arrays = min_arrays
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], deque] = {}
        self._active: dict[tuple[str, str], _Active] = {}
        self._confirmed_gone: set[tuple[str, str]] = set()  # suspects a collection freed
        self.seq = 0
        self.epoch = 0  # cells seen (a "cell" snapshot ends one; api calls pass theirs)
        self._last_cell: Any = None
        self._alert_id = 0
        self.alerts: deque[BufferAlert] = deque(maxlen=100)  # every version published
        self.timeline: deque[tuple[float, int, int, dict[str, int]]] = deque(maxlen=history)
        self.overview = Overview()  # the whole session at ≤ 512 points (the report's memory chart)
        self.last: BuffersRecord | None = None

    def add(
        self, snap: Any, trigger: str = "api", interval_s: float | None = None, cell: Any = None
    ) -> tuple[BuffersRecord, list[BufferAlert]]:
        """Summarize ``snap``; returns the record and the alerts to publish now (new ones,
        updates not yet published in this cell, resolutions). ``cell``: the cell the snapshot
        was taken in, when known (starts a new epoch for updates)."""
        counts = _counts(snap)
        with self._lock:
            self.seq += 1
            if cell is not None and cell != self._last_cell:
                if self._last_cell is not None:
                    self.epoch += 1
                self._last_cell = cell
            record = summarize(snap, self.seq, trigger, interval_s)
            self.last = record
            point = (record.time, record.arrays, record.device_bytes, {d.device: d.bytes for d in record.devices})
            self.timeline.append(point)
            self.overview.add(point)
            out = self._detect(counts, snap, trigger) if snap.attributed else []
            self.alerts.extend(out)
            if trigger == "cell":
                self.epoch += 1
        return record, out

    def active_alerts(self) -> list[BufferAlert]:
        """The alerts that are true now, with current counts (oldest first)."""
        with self._lock:
            return sorted((a.alert for a in self._active.values()), key=lambda a: a.id)

    def _detect(self, counts: dict, snap: Any, trigger: str) -> list[BufferAlert]:
        quiescent = trigger != "sampler"
        out: list[BufferAlert] = []
        candidates: list[tuple[tuple[str, str], list]] = []
        for key in set(self._series) | set(counts):
            value = counts.get(key)
            if value is None:
                value = (0, 0, "")
            series = self._series.get(key)
            if series is None:
                if value[0] == 0 or len(self._series) >= self.MAX_GROUPS:
                    continue
                series = self._series[key] = deque(maxlen=self.window)
            changed = not series or series[-1][:2] != value[:2]
            if changed:
                series.append(value)
            active = self._active.get(key)
            if active is not None:
                out += self._follow(key, active, value, changed)
                if value[0] == 0:
                    self._series.pop(key, None)
                continue
            if value[0] == 0:
                self._series.pop(key, None)
                continue
            if len(series) < self.window:
                continue
            values = list(series)
            if not all(_grew(a, b) for a, b in zip(values, values[1:], strict=False)):
                continue
            d_arrays = values[-1][0] - values[0][0]
            d_bytes = values[-1][1] - values[0][1]
            if d_arrays < self.min_arrays and not (d_bytes >= self.min_bytes and key[0] == "owner"):
                continue
            if key[0] == "site":
                if not quiescent:
                    continue  # a suspect: confirmed at the end of the cell, not while it runs
                if not changed and key in self._confirmed_gone:
                    continue
            candidates.append((key, values))
        site_keys = [k for k, _v in candidates if k[0] == "site"]
        alive = self._still_alive(snap, site_keys) if site_keys else {}
        for key, values in candidates:
            if key[0] == "site":
                n_alive = alive.get(key)
                if n_alive is None or n_alive < values[0][0] + self.min_arrays:
                    self._confirmed_gone.add(key)
                    continue  # garbage that a collection frees: not a leak
                self._confirmed_gone.discard(key)
            self._alert_id += 1
            steps = len(values) - 1
            by_bytes = values[-1][0] - values[0][0] < self.min_arrays
            message, hint = explain(key[0], key[1], values[0], values[-1], steps, by_bytes)
            alert = BufferAlert(
                id=self._alert_id,
                time=time.time(),
                group=key[0],
                name=key[1],
                arrays_delta=values[-1][0] - values[0][0],
                bytes_delta=values[-1][1] - values[0][1],
                snapshots=steps,
                message=message,
                hint=hint,
            )
            self._active[key] = _Active(alert, values[0], values[-1], steps, self.epoch, by_bytes)
            out.append(alert)
        if len(self._confirmed_gone) > self.MAX_GROUPS:
            self._confirmed_gone.clear()
        return out

    def _still_alive(self, snap: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Of the arrays no variable holds, per creation site in ``keys``: how many are still
        alive after a garbage collection (the snapshot's ``still_alive``; without one, as seen)."""
        wanted = {k[1] for k in keys}
        ids = {i.id: ("site", site_key(i)) for i in snap.arrays if not i.owner and not i.deleted and site_key(i) in wanted}
        check = getattr(snap, "still_alive", None)
        alive = set(ids) if check is None else check(set(ids))
        out: dict[tuple[str, str], int] = {}
        for array_id in alive or ():
            key = ids.get(array_id)
            if key is not None:
                out[key] = out.get(key, 0) + 1
        return out

    def _follow(self, key: tuple, active: _Active, value: tuple, changed: bool) -> list[BufferAlert]:
        """Update or resolve a raised alert; returns what to publish now."""
        start = active.start
        if value[0] <= start[0] and value[1] <= start[1]:
            del self._active[key]
            who = f"`{key[1]}`" if key[0] == "owner" else f"arrays created at {key[1]}"
            gone = "freed" if value[0] == 0 else f"back to {value[0]} arrays, {_human(value[1])}"
            resolved = dataclasses.replace(
                active.alert,
                time=time.time(),
                arrays_delta=value[0] - start[0],
                bytes_delta=value[1] - start[1],
                message=f"resolved: {who} no longer grows ({gone}); it had grown to {active.last[0]} "
                f"arrays, {_human(active.last[1])}",
                hint="nothing to do",
            )
            return [resolved]
        if not changed or value[:2] == active.last[:2]:
            return []
        if _grew(active.last, value):
            active.steps += 1
        active.last = value
        message, hint = explain(key[0], key[1], start, value, active.steps, active.by_bytes)
        active.alert = dataclasses.replace(
            active.alert,
            time=time.time(),
            arrays_delta=value[0] - start[0],
            bytes_delta=value[1] - start[1],
            snapshots=active.steps,
            message=message,
            hint=hint,
        )
        if active.epoch == self.epoch:
            return []  # one alert per group per cell: the views show the update
        active.epoch = self.epoch
        return [active.alert]

    def reset(self) -> None:
        with self._lock:
            self._series.clear()
            self._active.clear()
            self._confirmed_gone = set()
