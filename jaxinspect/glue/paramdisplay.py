"""``ParamsView``: what ``jaxinspect.params(tree)`` and ``%jaxinspect params EXPR`` show."""

from __future__ import annotations

from typing import Any

from .. import units
from ..render import paramview
from ..render.doc import to_html, to_text


class ParamsView:
    """A parameter tree: ``.leaves`` (records), ``.stats`` (per-leaf statistics or None),
    ``.total`` values, ``.find(text)`` / ``.subtree(path)`` narrow it, ``.to_json()``."""

    def __init__(self, title: str, leaves: list, stats: list | None = None, query: str | None = None) -> None:
        self.title = title
        self.leaves = leaves
        self.stats = stats
        self.query = query

    @property
    def total(self) -> int:
        return sum(leaf.size for leaf in self.leaves)

    @property
    def nbytes(self) -> int:
        return sum(leaf.bytes for leaf in self.leaves)

    def by_kind(self) -> dict[str, int]:
        return {k: s for k, _n, s, _b in paramview.kinds_summary(self.leaves)}

    def nonfinite(self) -> list[str]:
        """Paths of the leaves holding NaN or Inf (needs statistics)."""
        return [
            leaf.path
            for leaf, s in zip(self.leaves, self.stats or [], strict=False)
            if s is not None and (s.nan or s.inf)
        ]

    def find(self, text: str) -> ParamsView:
        """Only the leaves whose path contains ``text`` (case-insensitive)."""
        needle = text.lower()
        keep = [i for i, leaf in enumerate(self.leaves) if needle in leaf.path.lower()]
        return ParamsView(
            self.title,
            [self.leaves[i] for i in keep],
            [self.stats[i] for i in keep] if self.stats else None,
            query=text,
        )

    def subtree(self, prefix: str) -> ParamsView:
        """Only the leaves under ``prefix`` (a path prefix such as ".blocks[3]")."""
        keep = [i for i, leaf in enumerate(self.leaves) if leaf.path.startswith(prefix)]
        return ParamsView(
            f"{self.title}{prefix}",
            [self.leaves[i] for i in keep],
            [self.stats[i] for i in keep] if self.stats else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "leaves": [leaf.to_json() for leaf in self.leaves],
            "stats": [s.to_json() if s else None for s in self.stats] if self.stats else None,
        }

    def document(self, budget: int | None = paramview.LEAF_BUDGET):
        """The tree as one document (``render.doc``), at most ``budget`` leaves unfolded."""
        return paramview.params_doc(self.title, self.leaves, self.stats, budget=budget, query=self.query)

    def text(self, limit: int | None = 400) -> str:
        return to_text(self.document(limit))

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        # one document; the text twin unfolds fewer leaves (a terminal shows all of it)
        return {"text/plain": self.text(), "text/html": to_html(self.document())}


class WatchHistoryView:
    """The samples of watched trees so far: per-module norm and update ratio over steps
    (``.figure()`` is a plotly figure; the display shows it where plotly renders)."""

    def __init__(self, records: list, name: str | None = None) -> None:
        self.records = [r for r in records if name is None or r.name == name]
        self.name = name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "records": [r.to_json() for r in self.records]}

    def text(self) -> str:
        if not self.records:
            return (
                "no samples yet: call jaxinspect.watch(name, params, step=i) in the loop and open "
                "the sidebar's Params tab (or jaxinspect.api.sample_watched() to sample now)"
            )
        lines = []
        for name in dict.fromkeys(r.name for r in self.records):
            recs = [r for r in self.records if r.name == name and r.leaves]
            if not recs:
                continue
            last = recs[-1]
            lines.append(
                f"{name}: {len(recs)} samples, steps {recs[0].step}–{last.step}; norm "
                f"{_norm(recs[0].norm)} → {_norm(last.norm)}"
                + (f"; last update ratio {last.update_text}" if last.update is not None else "")
                + (f"; ⚠ {last.nonfinite} leaves hold NaN/Inf" if last.nonfinite else "")
            )
            for layer in last.layers[:20]:
                bad = f"  NaN {layer.nan} Inf {layer.inf}" if layer.nan or layer.inf else ""
                lines.append(f"  {layer.path:<40} norm {layer.norm_text}  update {layer.update_text}{bad}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def figure(self):
        """Plotly small multiples: each module's norm and update ratio against the step."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, subplot_titles=("norm", "update ratio ‖Δθ‖/‖θ‖"))
        series: dict[tuple[str, str], list] = {}
        for r in self.records:
            x = r.step if r.step is not None else r.seq
            for layer in r.layers:
                series.setdefault((r.name, layer.path), []).append((x, layer.norm, layer.update))
        for (name, path), pts in list(series.items())[:40]:
            label = path if self.name else f"{name}{path}"
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=label, mode="lines", legendgroup=label), row=1, col=1)
            fig.add_trace(
                go.Scatter(x=[p[0] for p in pts], y=[p[2] for p in pts], name=label, mode="lines", legendgroup=label, showlegend=False),
                row=1, col=2,
            )  # fmt: skip
        fig.update_yaxes(type="log", row=1, col=2)
        fig.update_layout(height=340, margin={"l": 50, "r": 20, "t": 40, "b": 40})
        return fig

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.text()}
        if self.records:
            try:
                bundle.update(self.figure()._repr_mimebundle_(include, exclude))
                bundle["text/plain"] = self.text()
            except Exception:  # noqa: BLE001 - plotly missing: the text twin stands alone
                pass
        return bundle


def _norm(x: float | None) -> str:
    """A norm; None means a value was NaN/Inf, so the norm is not a number."""
    return units.human_norm(x, nan=1)  # as the sidebar shows it (records' norm_text)
