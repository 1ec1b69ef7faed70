"""Tracing for the views: ``%jaxpr`` / ``jaxinspect.jaxpr`` and the jaxpr diff behind a recompile.

Below the session and the inspector (the Compiles tab's diff RPC uses it too), above the display
objects it returns.
"""

from __future__ import annotations

from typing import Any

from ..analyze import jaxprdiff
from ..collect import compilelib, jaxprlib
from .display import Message
from .jaxprdisplay import JaxprDiffView, JaxprView


def trace_view(
    fn: Any,
    args: tuple,
    kwargs: dict,
    label: str | None = None,
    sections: tuple[str, ...] = ("jaxpr",),
    source: bool = False,
    title: str | None = None,
    speaker: str = "%jaxpr",
):
    """Trace ``fn(*args, **kwargs)`` and wrap it as a ``JaxprView`` (or a ``Message`` saying
    what failed). Shared by ``jaxinspect.jaxpr`` and ``%jaxpr`` (``speaker`` names which one
    messages come from)."""
    token = jaxprlib.PREFIX.set(speaker)
    try:
        traced = jaxprlib.trace_call(fn, args, kwargs, label=label)
        doc = jaxprlib.build_doc(
            traced.jaxpr,
            title=title or label or traced.label,
            source=True,
            cell_of=compilelib.collector().cell_of,
            in_labels=traced.labels,
            out_labels=getattr(traced, "out_labels", ()),
        )
    except jaxprlib.TraceFailure as exc:
        return Message(str(exc), level="error")
    except RecursionError:
        return Message(
            f"{speaker}: the program nests deeper than Python's recursion limit; "
            "sys.setrecursionlimit raises it",
            level="error",
        )
    except Exception as exc:  # noqa: BLE001 - never a traceback from jaxinspect
        return Message(
            f"{speaker}: could not read the traced program of `{label or jaxprlib.callable_name(fn)}`: "
            f"{type(exc).__name__}: {exc}",
            level="error",
        )
    finally:
        jaxprlib.PREFIX.reset(token)
    return JaxprView(traced, doc, sections, source, speaker=speaker)


def compile_diff(event: Any):
    """The jaxpr diff behind a recompile: the closest previous call of that function against the
    call that recompiled, both re-traced from their recorded signatures (arrays become
    ``ShapeDtypeStruct``; static values are the remembered ones). ``event`` is a compile event
    record (``profile().events[i]``) or its id. Returns a ``JaxprDiffView`` or a ``Message``."""
    event_id = getattr(event, "id", event)
    name = getattr(event, "fun_name", None)
    if not isinstance(event_id, int):
        return Message(f"compile_diff: expected a compile event or its id, got {event_id!r}", "error")
    try:
        before, after = jaxprlib.retrace_event(event_id, name)
        cell_of = compilelib.collector().cell_of
        docs = [
            jaxprlib.build_doc(t.jaxpr, title=t.label, cell_of=cell_of, in_labels=t.labels)
            for t in (before, after)
        ]
    except jaxprlib.TraceFailure as exc:
        return Message(str(exc).replace("%jaxpr: ", "compile diff: "), level="error")
    return JaxprDiffView(jaxprdiff.diff(*docs))
