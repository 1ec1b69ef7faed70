"""``KeysView``: what ``jaxinspect.keys()`` and ``%jaxinspect keys`` show."""

from __future__ import annotations

from typing import Any

from ..records import KeyReuse, KeysRecord
from ..render import keyview
from ..render.doc import to_html, to_text


class KeysView:
    """The PRNG key lineage: ``.record`` (a ``KeysRecord``: counts, ``.nodes`` rows of the tree,
    ``.consumers``), ``.reuses`` (``KeyReuse`` records, oldest first), ``.to_json()``."""

    def __init__(self, record: KeysRecord, reuses: list[KeyReuse]) -> None:
        self.record = record
        self.reuses = reuses

    @property
    def nodes(self) -> tuple:
        return self.record.nodes

    def to_json(self) -> dict[str, Any]:
        return {"keys": self.record.to_json(), "reuses": [r.to_json() for r in self.reuses]}

    def document(self, limit: int | None = 200):
        """The view as one document (``render.doc``): text and HTML both come from it."""
        return keyview.keys_doc(self.record, self.reuses, limit)

    def text(self, limit: int | None = 200) -> str:
        return to_text(self.document(limit))

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document(limit=None)  # every row of the record (itself bounded, with "N more")
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}
