"""``JaxprView`` / ``JaxprDiffView``: what ``%jaxpr`` and ``jaxinspect.jaxpr`` return."""

from __future__ import annotations

from typing import Any

from ..render import jaxprview
from ..render.doc import to_html, to_text
from .display import Message

SECTIONS = ("jaxpr", "stablehlo", "hlo", "cost", "graph")


class JaxprView:
    """A traced program. ``.jaxpr`` is JAX's own jaxpr object, ``.doc`` / ``.stats`` are records,
    ``.stablehlo()``, ``.hlo()``, ``.cost()`` lower and compile on demand (once), ``.diff(other)``
    compares two programs, ``.graph()`` draws the dataflow, ``.text()`` is the plain twin."""

    def __init__(
        self,
        traced: Any,
        doc: Any,
        sections: tuple[str, ...] = ("jaxpr",),
        source: bool = False,
        root: int = 0,
        speaker: str = "%jaxpr",
    ) -> None:
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}")
        self.speaker = speaker
        self._traced = traced
        self.doc = doc
        self.sections = tuple(sections) or ("jaxpr",)
        self.source = source
        self.root = root
        self._cache: dict[str, Any] = {}

    # -- data --------------------------------------------------------------------------------
    @property
    def jaxpr(self) -> Any:
        """JAX's (closed) jaxpr object."""
        return self._traced.jaxpr if self._traced is not None else None

    @property
    def stats(self):
        """Summary record: equations, by primitive, inputs/outputs, constants, flagged."""
        return self.doc.stats

    @property
    def title(self) -> str:
        return self.doc.title

    def _get(self, what: str) -> Any:
        """Lowered / compiled results, computed once; a failure is kept as its message."""
        if what not in self._cache:
            from ..collect import jaxprlib

            fn = {"stablehlo": jaxprlib.stablehlo_text, "hlo": jaxprlib.hlo_text, "cost": jaxprlib.cost}[
                what
            ]
            token = jaxprlib.PREFIX.set(self.speaker)
            try:
                self._cache[what] = fn(self._traced)
            except jaxprlib.TraceFailure as exc:
                self._cache[what] = _Failure(str(exc))
            except Exception as exc:  # noqa: BLE001
                self._cache[what] = _Failure(
                    f"{self.speaker}: {what} unavailable: {type(exc).__name__}: {exc}"
                )
            finally:
                jaxprlib.PREFIX.reset(token)
        return self._cache[what]

    def stablehlo(self) -> str:
        """The lowered program (StableHLO text)."""
        return str(self._get("stablehlo"))

    def hlo(self) -> str:
        """The compiled, optimized HLO text."""
        return str(self._get("hlo"))

    def cost(self):
        """``CostRecord``: flops, transcendentals, bytes accessed, memory analysis (None where
        XLA gives nothing). Compiles the program once; a ``Message`` if that failed."""
        value = self._get("cost")
        if isinstance(value, _Failure):
            return Message(value.message, level="error")
        return value

    # -- other views ---------------------------------------------------------------------------
    def with_sections(self, *sections: str, source: bool | None = None) -> JaxprView | Message:
        """The same program showing other sections (``"jaxpr"``, ``"stablehlo"``, ``"hlo"``,
        ``"cost"``, ``"graph"``)."""
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            return Message(
                f"{self.speaker}: no section {unknown[0]!r}; choose from {', '.join(SECTIONS)}",
                level="error",
            )
        view = JaxprView(
            self._traced,
            self.doc,
            sections,
            self.source if source is None else source,
            self.root,
            self.speaker,
        )
        view._cache = self._cache
        return view

    def graph(self) -> JaxprView:
        """The dataflow graph of the top-level equations (SVG; nested calls fold below it)."""
        return self.with_sections("graph")

    def section(self, which: int | str) -> JaxprView:
        """One nested jaxpr on its own, by index or name (e.g. ``"scan.jaxpr"``, a jit name):
        how to read a part that the output budget folded away."""
        bodies = self.doc.bodies
        names = sorted({b.name for b in bodies[1:]})
        listed = ", ".join(repr(n) for n in names[:20]) + (f", … {len(names) - 20} more" if len(names) > 20 else "")
        how = f"give its index (1–{len(bodies) - 1}) or one of its names: {listed}" if names else (
            "this program has no nested jaxprs"
        )
        if isinstance(which, bool) or not isinstance(which, (int, str)):
            return Message(
                f"{self.speaker}: .section() takes a nested jaxpr's index or name, not a "
                f"{type(which).__name__}; {how}",
                level="error",
            )
        if isinstance(which, int):
            if not 0 <= which < len(bodies):
                return Message(f"{self.speaker}: no nested jaxpr #{which}; {how}", level="error")
            index = which
        else:
            matches = [b.index for b in bodies if b.name == which]
            if not matches:
                return Message(f"{self.speaker}: no nested jaxpr named {which!r}; {how}", level="error")
            index = matches[0]
        view = JaxprView(self._traced, self.doc, ("jaxpr",), self.source, index, self.speaker)
        view._cache = self._cache
        return view

    def diff(self, other: Any) -> JaxprDiffView | Message:
        """This program (before) against ``other`` (after, another ``JaxprView``), equation by
        equation."""
        from ..analyze import jaxprdiff

        if not isinstance(other, JaxprView):
            if isinstance(other, Message):
                return Message(
                    f"{self.speaker}: .diff() got a failed trace, not a program; its message was:\n"
                    f"{other.text}",
                    level="error",
                )
            return Message(
                f"{self.speaker}: .diff() compares with another traced program, not a "
                f"{type(other).__name__}: view.diff(jaxinspect.jaxpr(f, *other_args))",
                level="error",
            )
        return JaxprDiffView(jaxprdiff.diff(self.doc, other.doc))

    # -- output ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"doc": self.doc.to_json(), "sections": list(self.sections)}
        for what in ("stablehlo", "hlo", "cost"):
            value = self._cache.get(what)
            if value is None:
                continue
            out[what] = (
                {"error": value.message}
                if isinstance(value, _Failure)
                else value.to_json()
                if hasattr(value, "to_json")
                else value
            )
        return out

    def document(self, limit: int | None = jaxprview.OUTPUT_BUDGET, code_limit: int | None = None):
        """The view as one document (``render.doc``): the summary, the selected sections, then the
        program (``limit`` characters of text; the HTML has its own byte budget)."""
        code_limit = code_limit or jaxprview.OUTPUT_BUDGET // 2
        blocks = []
        for what in self.sections:
            if what in ("stablehlo", "hlo"):
                value = self._get(what)
                title = "StableHLO (lowered)" if what == "stablehlo" else "HLO (compiled, optimized)"
                blocks.append(
                    jaxprview.failure_section(value.message)
                    if isinstance(value, _Failure)
                    else jaxprview.code_section(title, str(value), limit=code_limit)
                )
            elif what == "cost":
                value = self._get("cost")
                blocks.append(
                    jaxprview.failure_section(value.message)
                    if isinstance(value, _Failure)
                    else jaxprview.cost_section(value)
                )
            elif what == "graph":
                blocks.append(jaxprview.graph_section(self.doc))
        return jaxprview.page_doc(
            self.doc, source=self.source, limit=limit, sections=blocks, root=self.root,
            code="jaxpr" in self.sections,
        )  # fmt: skip

    def text(self, limit: int | None = jaxprview.OUTPUT_BUDGET) -> str:
        """The plain-text twin of the selected sections (``limit=None``: unbounded)."""
        return to_text(self.document(limit, code_limit=limit or 1 << 62))

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}


class JaxprDiffView:
    """Two programs aligned equation by equation (``.diff`` is the record)."""

    def __init__(self, diff: Any) -> None:
        self.diff = diff

    @property
    def identical(self) -> bool:
        return self.diff.identical

    def to_json(self) -> dict[str, Any]:
        return self.diff.to_json()

    def document(self):
        """The diff as one document (``render.doc``): text and HTML both come from it."""
        return jaxprview.diff_doc(self.diff)

    def text(self) -> str:
        return to_text(self.document())

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        doc = self.document()
        return {"text/plain": to_text(doc), "text/html": to_html(doc)}


class _Failure:
    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message
