"""``ParamsView``: what ``jaxinspect.params(tree)`` and ``%jaxinspect params EXPR`` show."""

from __future__ import annotations

from typing import Any

from .. import units
from ..render import paramview, svgchart
from ..render.doc import Group, Line, Markup, Raw, Section, View, to_html, to_text

HISTORY_CHART_LAYERS = 8  # layers drawn per watched tree (the text lists 20)


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
    """The samples of watched trees so far: per-module norm and update ratio over steps. The
    display is text and HTML with the curves as inline SVG (no plotly: a saved notebook stays
    small and reads anywhere); ``.figure()`` is an interactive plotly figure, on request."""

    def __init__(self, records: list, name: str | None = None) -> None:
        self.records = [r for r in records if name is None or r.name == name]
        self.name = name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "records": [r.to_json() for r in self.records]}

    EMPTY = (
        "no samples yet: call jaxinspect.watch(name, params, step=i) in the loop and open "
        "the sidebar's Params tab (or jaxinspect.api.sample_watched() to sample now)"
    )

    def _trees(self) -> list[tuple[str, list]]:
        """Each watched name with its samples that hold leaves, first watched first."""
        out = []
        for name in dict.fromkeys(r.name for r in self.records):
            recs = [r for r in self.records if r.name == name and r.leaves]
            if recs:
                out.append((name, recs))
        return out

    @staticmethod
    def _headline(name: str, recs: list) -> str:
        last = recs[-1]
        return (
            f"{name}: {len(recs)} samples, steps {recs[0].step}–{last.step}; norm "
            f"{_norm(recs[0].norm)} → {_norm(last.norm)}"
            + (f"; last update ratio {last.update_text}" if last.update is not None else "")
            + (f"; ⚠ {last.nonfinite} leaves hold NaN/Inf" if last.nonfinite else "")
        )

    @staticmethod
    def _layer_lines(recs: list) -> list[str]:
        out = []
        for layer in recs[-1].layers[:20]:
            bad = f"  NaN {layer.nan} Inf {layer.inf}" if layer.nan or layer.inf else ""
            out.append(f"{layer.path:<40} norm {layer.norm_text}  update {layer.update_text}{bad}")
        return out

    def text(self) -> str:
        if not self.records:
            return self.EMPTY
        lines = []
        for name, recs in self._trees():
            lines.append(self._headline(name, recs))
            lines += [f"  {line}" for line in self._layer_lines(recs)]
        return "\n".join(lines)

    def _charts(self, name: str, recs: list) -> Markup:
        """Norm and update ratio of the tree's layers (the first few) against the step."""
        norms: dict[str, list] = {}
        updates: dict[str, list] = {}
        for r in recs:
            x = r.step if r.step is not None else r.seq
            for layer in r.layers:
                if layer.path not in norms and len(norms) >= HISTORY_CHART_LAYERS:
                    continue
                bad = float("nan") if (layer.nan or layer.inf) else None  # a norm of NaN/Inf: marked
                norms.setdefault(layer.path, []).append((x, layer.norm if layer.norm is not None else bad))
                updates.setdefault(layer.path, []).append((x, layer.update))
        short = {path: (path if len(path) <= 24 else "…" + path[-23:]) for path in norms}
        norm_svg = svgchart.line_chart({short[k]: v for k, v in norms.items()}, title=f"{name}: norm ‖θ‖",
                                       width=360, height=150)  # fmt: skip
        parts = [norm_svg]
        if any(isinstance(y, (int, float)) and y > 0 for pts in updates.values() for _x, y in pts):  # log axis
            parts.append(svgchart.line_chart({short[k]: v for k, v in updates.items()},
                                             title=f"{name}: update ratio ‖Δθ‖/‖θ‖", width=360, height=150,
                                             log_y=True))  # fmt: skip
        return Markup(
            '<div style="display:flex;flex-wrap:wrap;gap:6px 14px">'
            + "".join(f"<div>{p}</div>" for p in parts)
            + "</div>"
        )

    def document(self) -> View:
        """Text and HTML from one document: per watched tree its headline, its curves (HTML
        only, inline SVG) and its layers' latest norm and update ratio."""
        if not self.records:
            return View("watched parameters", [Line(self.EMPTY, role="muted")])
        sections = []
        for name, recs in self._trees():
            body: list = [Raw(self._charts(name, recs), only="html")]
            body += [Line(line, indent=1) for line in self._layer_lines(recs)]
            sections.append(Section(self._headline(name, recs), body, fold=False, colon=False))
        return View("watched parameters", [Group(sections)])

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
        # plotly only through .figure(): its JavaScript would be stored in every saved notebook
        return {"text/plain": self.text(), "text/html": to_html(self.document())}


def _norm(x: float | None) -> str:
    """A norm; None means a value was NaN/Inf, so the norm is not a number."""
    return units.human_norm(x, nan=1)  # as the sidebar shows it (records' norm_text)
