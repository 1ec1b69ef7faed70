"""``ParamsView``: what ``jaxinspect.params(tree)`` and ``%jaxinspect params EXPR`` show."""

from __future__ import annotations

from typing import Any

from ..render import paramview


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

    def text(self, limit: int | None = 400) -> str:
        return paramview.params_text(self.title, self.leaves, self.stats, limit)

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {
            "text/plain": self.text(),
            "text/html": paramview.params_html(self.title, self.leaves, self.stats, query=self.query),
        }
