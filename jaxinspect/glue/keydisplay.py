"""``KeysView``: what ``jaxinspect.keys()`` and ``%jaxinspect keys`` show."""

from __future__ import annotations

from typing import Any

from ..records import KeyReuse, KeysRecord
from ..render import keyview


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

    def text(self, limit: int | None = 200) -> str:
        return keyview.keys_text(self.record, self.reuses, limit)

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": keyview.keys_html(self.record, self.reuses)}
