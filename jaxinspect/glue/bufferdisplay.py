"""``BuffersView`` (``jaxinspect.buffers()``) and ``ShardingView`` (``jaxinspect.sharding(x)``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..render import bufferview, svgchart
from ..render.doc import Markup, Raw, Section, View, to_html, to_text

TIMELINE_DEVICES = 8  # devices drawn in the memory-over-time chart


class BuffersView:
    """One snapshot of the live arrays. ``.record`` is the summary record, ``.arrays`` every
    array (largest first, metadata only), ``.by_owner`` / ``.by_site`` / ``.by_device`` the
    groups, ``.alerts`` the growth alerts raised so far, ``.timeline()`` memory over snapshots."""

    def __init__(
        self,
        record: Any,
        infos: list,
        alerts: list,
        shards: dict[int, list],
        timeline: list,
        limit: int | None = bufferview.ARRAY_ROWS,
        own: tuple[int, int] = (0, 0),
    ) -> None:
        self.record = record
        self.own = own  # jaxinspect's own arrays (count, bytes): left out of every table
        self._infos = infos  # plain per-array data (no array references)
        self._rows: list | None = None
        self.alerts = alerts
        self.shards = shards
        self._timeline = timeline
        self.limit = limit
        self.profile: dict[str, Any] | None = None  # parsed device_memory_profile(), if asked

    @property
    def arrays(self) -> list:
        """Every array of the snapshot as ``ArrayRow`` records, largest first."""
        if self._rows is None:
            from ..analyze import bufferstats

            self._rows = bufferstats.rows(self._infos, None)
        return self._rows

    def _shown(self) -> list:
        if self._rows is not None or self.limit is None:
            return self.arrays[: self.limit or bufferview.ALL_ROWS]
        from ..analyze import bufferstats

        return bufferstats.rows(self._infos, self.limit)

    @property
    def by_owner(self) -> list:
        return [*self.record.owners, *([self.record.unowned] if self.record.unowned.arrays else [])]

    @property
    def by_site(self) -> list:
        return list(self.record.sites)

    @property
    def by_device(self) -> list:
        return list(self.record.devices)

    @property
    def total_bytes(self) -> int:
        return self.record.device_bytes

    def owner_of(self, path_part: str) -> list:
        """Arrays whose owner path contains ``path_part``."""
        return [a for a in self.arrays if a.owner and path_part in a.owner]

    def timeline(self):
        """A plotly figure of the bytes on each device over the snapshots taken so far (the
        display draws the same as inline SVG, without plotly)."""
        return bufferview.timeline_figure(self._timeline)

    def timeline_svg(self) -> Markup:
        """Bytes on each device over the snapshots taken so far (MiB against seconds), inline
        SVG; empty before a second snapshot."""
        points = [p for p in self._timeline if isinstance(p[3], dict)]
        if len(points) < 2:
            return Markup("")
        t0 = points[0][0]
        devices = list(dict.fromkeys(d for p in points for d in p[3]))[:TIMELINE_DEVICES]
        size, unit = svgchart.byte_scale([v for p in points for v in p[3].values()])
        series = {str(dev): [(p[0] - t0, p[3].get(dev, 0) / size) for p in points] for dev in devices}
        return svgchart.line_chart(series, title=f"device memory over time ({unit})", width=420, height=140,
                                   x_label="seconds")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record.to_json(),
            "arrays": [a.to_json() for a in self.arrays],
            "alerts": [a.to_json() for a in self.alerts],
            "shards": {str(k): [s.to_json() for s in v] for k, v in self.shards.items()},
            "profile": self.profile,
        }

    def document(self):
        """The view as one document (``render.doc``): text and HTML both come from it."""
        shown = self._shown()
        doc = bufferview.buffers_doc(
            self.record, shown, self.alerts, self.shards, len(shown), profile=self.profile, own=self.own
        )
        svg = self.timeline_svg()
        if svg and isinstance(doc, View):
            chart = Section("memory over time", [Raw(svg)], open=True, only="html")
            doc = dataclasses.replace(doc, children=[*doc.children, chart])
        return doc

    def __repr__(self) -> str:
        return to_text(self.document())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}


class ShardingView:
    """Which block of one array lives on which device (``deleted``: the array was deleted or
    donated, so its blocks hold no device memory any more)."""

    def __init__(self, title: str, sharding: str, shards: list, deleted: bool = False) -> None:
        self.title = title
        self.sharding = sharding
        self.shards = shards
        self.deleted = deleted

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "sharding": self.sharding,
            "deleted": self.deleted,
            "shards": [s.to_json() for s in self.shards],
        }

    def document(self):
        """The view as one document (``render.doc``): text and HTML both come from it."""
        return bufferview.sharding_doc(self.title, self.sharding, self.shards, deleted=self.deleted)

    def __repr__(self) -> str:
        return to_text(self.document())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}
