"""Display objects: every one has ``to_json()``, a text twin (``__repr__``) and HTML."""

from __future__ import annotations

from typing import Any

from ..render import statuslib


class StatusView:
    """What ``%jaxinspect status`` and ``jaxinspect.status()`` show."""

    def __init__(self, env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> None:
        self.env = env
        self.status = status
        self.info = info

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "status": self.status, "info": self.info}

    def __repr__(self) -> str:
        return statuslib.status_text(self.env, self.status, self.info)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {
            "text/plain": repr(self),
            "text/html": statuslib.status_html(self.env, self.status, self.info),
        }


class Message:
    """A short message (usage errors, hints) with a text and an HTML form."""

    def __init__(self, text: str, level: str = "info") -> None:
        self.text = text
        self.level = level

    def to_json(self) -> dict[str, Any]:
        return {"message": self.text, "level": self.level}

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from ..render.htmllib import esc

        cls = "ji-warn" if self.level != "info" else ""
        return {
            "text/plain": self.text,
            "text/html": f'<pre class="{cls}" style="white-space:pre-wrap">{esc(self.text)}</pre>',
        }
