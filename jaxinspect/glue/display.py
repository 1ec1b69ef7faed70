"""Display objects: every one has ``to_json()``, a text twin (``__repr__``) and HTML."""

from __future__ import annotations

from typing import Any

from ..render import statuslib
from ..render.doc import Pre, to_html, to_text


class StatusView:
    """What ``%jaxinspect status`` and ``jaxinspect.status()`` show."""

    def __init__(self, env: dict[str, Any], status: dict[str, Any], info: dict[str, Any]) -> None:
        self.env = env
        self.status = status
        self.info = info

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "status": self.status, "info": self.info}

    def document(self):
        """The status as one document (``render.doc``): text and HTML both come from it."""
        return statuslib.status_doc(self.env, self.status, self.info)

    def __repr__(self) -> str:
        return to_text(self.document())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}


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
        cls = "ji-warn" if self.level != "info" else None
        doc = Pre(self.text, cls=cls, style="white-space:pre-wrap")
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}


class CompileReport:
    """Compile events + per-function stats + alerts: what ``%jit_profile`` and
    ``%jaxinspect compiles`` show. ``.events``, ``.functions`` and ``.alerts`` are records."""

    title = "compiles"

    def __init__(
        self,
        log: Any = None,
        include_internal: bool = False,
        title: str | None = None,
        differ: Any = None,
    ) -> None:
        self._log = log
        #: ``compile_diff`` (``glue.tracing``), handed in by the session that made this report
        self._differ = differ
        self.include_internal = include_internal
        if title is not None:
            self.title = title

    @property
    def events(self) -> list:
        return self._log.event_list(self.include_internal) if self._log else []

    @property
    def functions(self) -> list:
        return self._log.functions(self.include_internal) if self._log else []

    @property
    def alerts(self) -> list:
        return list(self._log.alerts) if self._log else []

    @property
    def hidden_internal(self) -> int:
        return self._log.hidden_internal() if self._log else 0

    def diff(self, event: Any):
        """The jaxpr diff of a recompile (event record or id) against the closest previous
        call of that function: ``p.diff(p.events[-1])``."""
        if self._differ is None:
            return Message("compile diff: this report was made without a tracer", level="error")
        return self._differ(event)

    def compiles(self, fun_name: str) -> int:
        """Number of compiles of the function named ``fun_name``."""
        return sum(f.compiles for f in self.functions if f.fun_name == fun_name)

    def _parts(self) -> tuple:
        return (
            [e.to_json() for e in self.events],
            [f.to_json() for f in self.functions],
            [a.to_json() for a in self.alerts],
        )

    def to_json(self) -> dict[str, Any]:
        events, functions, alerts = self._parts()
        return {
            "title": self.title,
            "events": events,
            "functions": functions,
            "alerts": alerts,
            "hidden_internal": self.hidden_internal,
        }

    def timeline(self):
        """A plotly figure of the compile events over time."""
        from ..render import compileslib

        return compileslib.timeline_figure(self._parts()[0])

    def document(self):
        """The report as one document (``render.doc``): text and HTML both come from it."""
        from ..render import compileslib

        events, functions, alerts = self._parts()
        return compileslib.report_doc(
            self.title, events, functions, alerts, self.hidden_internal, self.include_internal
        )

    def __repr__(self) -> str:
        return to_text(self.document())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}
