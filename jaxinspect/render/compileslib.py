"""Compile reports (``%jit_profile``, ``%jaxinspect compiles``): one document, two back ends.

Input is JSON records (``compile``, ``compile_stats``, ``compile_alert``); never live objects.
``report_doc`` builds the view once; ``report_text`` / ``report_html`` are its text twin and HTML.
Sections other views add (e.g. compiled memory) go into ``report_doc``'s ``extra`` blocks.
"""

from __future__ import annotations

from typing import Any

from .. import units
from .doc import (
    Alert,
    Cell,
    Column,
    Group,
    Line,
    Markup,
    More,
    Raw,
    Section,
    Table,
    Text,
    View,
    esc,
    place,
    to_html,
    to_text,
)  # fmt: skip

MAX_EVENT_ROWS = 50
MAX_FUNCTION_ROWS = 100
MAX_DETAILS = 20  # differences listed per reason (the record holds every one)
PHASE_COLORS = {"trace": "#4e79a7", "lower": "#f28e2b", "compile": "#e15759"}


def ms(seconds: float | None) -> str:
    """A duration as every view shows it (``units.human_duration``)."""
    return units.human_duration(seconds)


def site(event: dict[str, Any]) -> str:
    """"cell [N] line L" in a notebook, else the call site."""
    return units.location(event.get("call_site"), event.get("cell"))


def _defined(loc: dict[str, Any] | None) -> list[Any]:
    """Where a function is defined, after its name in HTML (a link to the cell there)."""
    if not loc:
        return []
    return [Text(" defined at ", role="muted", only="html"), _html_only(place(loc))]


def _html_only(part: Any) -> Any:
    if isinstance(part, Text):
        return Text(part.value, role=part.role or "muted", title=part.title, cls=part.cls, only="html", attrs=part.attrs)
    return Text(part, role="muted", only="html")


def reasons_summary(counts: dict[str, int]) -> str:
    return units.reasons_summary(counts)


def event_reason(event: dict[str, Any]) -> str:
    reasons = event.get("reasons") or []
    if not reasons:
        return "internal" if event.get("internal") else "–"
    return "; ".join(r["message"] for r in reasons)


def no_compiles_text(hidden: int, include_internal: bool = False) -> str:
    """What an empty report says: "hit the cache" only when nothing compiled at all."""
    if hidden and not include_internal:
        return (
            "none of your functions compiled; JAX compiled "
            f"{hidden} of its own single operations run eagerly (jnp.ones, dtype conversions, …): "
            "--all shows them"
        )
    return "no compiles: every jitted call hit the cache"


def _header(title: str, events: list, functions: list, hidden: int, include_internal: bool) -> str:
    total = sum(f["total_s"] for f in functions)
    text = (
        f"{title}: {units.plural(len(events), 'compile')} of "
        f"{units.plural(len(functions), 'function')}, {ms(total)} compiling"
    )
    if hidden and not include_internal:
        text += f" ({hidden} JAX-internal compiles hidden; --all shows them)"
    return text


def out_shardings_text(e: dict[str, Any], limit: int = 4) -> str:
    """``"outputs: 0 NamedSharding(...), 1 unspecified"`` when any output has a sharding, else ""."""
    outs = list(e.get("out_shardings") or ())
    if not any(o != "unspecified" and not o.startswith("… ") for o in outs):
        return ""  # nothing known about any output: say nothing
    parts = [f"{i} {o}" for i, o in enumerate(outs[:limit])]
    if len(outs) > limit:
        parts.append(f"… {len(outs) - limit} more")
    return "outputs: " + ", ".join(parts)


def _is_recompile(e: dict[str, Any]) -> bool:
    reasons = e.get("reasons") or []
    if str(e.get("fun_key", "")).startswith("<eager>."):
        return False  # an un-jitted lax.scan/cond: no jitted function to re-trace for a diff
    return bool(reasons) and not e.get("internal") and all(r["kind"] != "first_call" for r in reasons)


# -- the document --------------------------------------------------------------------------------

FUNCTION_COLUMNS = (
    Column("function"),
    Column("compiles", "right"),
    Column("trace", "right"),
    Column("lower", "right"),
    Column("compile", "right"),
    Column("total", "right"),
    Column("reasons"),
)


def functions_table(functions: list[dict[str, Any]]) -> Table:
    """Per function: compiles, time per phase, reasons (HTML adds the latest reasons under them
    and where the function was defined as a tooltip)."""
    rows = []
    for f in functions:
        last = [Line(r["message"], role="muted") for r in f.get("last_reasons") or []]
        rows.append(
            (
                Cell(
                    [Text(f["fun_name"], role="code"), *_defined(f.get("defined"))],
                    title=f"defined at {f['defined']['text']}" if f.get("defined") else None,
                ),
                str(f["compiles"]),
                ms(f["trace_s"]),
                ms(f["lower_s"]),
                ms(f["compile_s"]),
                ms(f["total_s"]),
                Cell(reasons_summary(f["reasons"]), sub=last),
            )
        )
    return Table(FUNCTION_COLUMNS, rows, limit=MAX_FUNCTION_ROWS, more_label="more functions")


MEMORY_COLUMNS = (
    Column("function"),
    Column("temporaries", "right"),
    Column("arguments", "right"),
    Column("outputs", "right"),
    Column("aliased", "right"),
    Column("code", "right"),
    Column("flops", "right"),
    Column("device limit"),
)
NOT_REPORTED = "not reported"


def memory_section(
    functions: list[dict[str, Any]], alerts: list[dict[str, Any]] = ()
) -> list[Any]:
    """Compiled memory per function (the latest compile's ``memory_analysis()`` and flops, the
    largest temporaries when an earlier compile needed more), beside the device's limit; a
    number the backend did not report reads "not reported", never 0. Nothing when no function
    has numbers (e.g. only traces). A function with a memory alert has its share in warning
    colour."""
    alerted = {a.get("fun_key") for a in alerts if a.get("reason_kind") == "memory"}
    rows = []
    for f in functions:
        m = f.get("memory")
        if not m:
            continue
        temp = units.human_bytes(m.get("temp_bytes"), NOT_REPORTED)
        peak = f.get("peak_temp_bytes")
        if peak is not None and m.get("temp_bytes") is not None and peak > m["temp_bytes"]:
            temp += f" (largest {units.human_bytes(peak)})"
        limit = m.get("device_limit_bytes")
        if limit and m.get("temp_bytes") is not None:
            worst = max(m["temp_bytes"], peak or 0)  # "will it fit": the largest compile counts
            up_to = "up to " if worst > m["temp_bytes"] else ""
            share = Text(
                f"temporaries {up_to}{worst / limit:.0%} of {units.human_bytes(limit)}",
                role="warn" if f.get("fun_key") in alerted else None,
            )
        else:
            share = f"none reported ({m.get('platform') or '?'})"
        rows.append(
            (
                Cell(Text(f["fun_name"], role="code"), title=f.get("memory_text") or None),
                temp,
                units.human_bytes(m.get("argument_bytes"), NOT_REPORTED),
                units.human_bytes(m.get("output_bytes"), NOT_REPORTED),
                units.human_bytes(m.get("alias_bytes"), NOT_REPORTED),
                units.human_bytes(m.get("generated_code_bytes"), NOT_REPORTED),
                units.human_flops(m.get("flops"), NOT_REPORTED),
                share,
            )
        )
    if not rows:
        return []
    notes = [
        Line(
            "per call and per device, as XLA compiled it (Compiled.memory_analysis() / "
            "cost_analysis()); \"not reported\": the backend gave no number",
            role="muted",
        )
    ]
    # no "no device limit reported" note: the device-limit column already says it on each row
    table = Table(MEMORY_COLUMNS, rows, limit=MAX_FUNCTION_ROWS, more_label="more functions")
    return [Section("compiled memory", [table, *notes], open=True)]


def reason_details(reasons: list[dict[str, Any]]) -> list[Section]:
    """Each reason's differences, one fold each (``<details>``; listed under it in text)."""
    out = []
    for r in reasons:
        details = r.get("details") or []
        if details:
            out.append(
                Section(
                    units.plural(len(details), "difference"),
                    [Line(d) for d in details[:MAX_DETAILS]] + [More(len(details) - MAX_DETAILS)],
                    cls="ji-muted",
                )
            )
    return out


def event_block(e: dict[str, Any]) -> Group:
    nested = [" ", Text(f"(inside {e['parent']})", role="muted")] if e.get("parent") else []
    api = [] if e.get("api") == "call" else [f" [{e['api']}]"]
    head = Line(
        [f"#{e['id']} ", Text(e["fun_name"], role="code"), *nested, *api,
         " at ", place(e.get("call"), site(e)), f": {ms(e['total_s'])} — {event_reason(e)}"]
    )  # fmt: skip
    under: list[Any] = []
    if (memory := e.get("memory")) and memory.get("text"):
        under.append(Line(f"compiled: {memory['text']}", role="muted"))
    if outs := out_shardings_text(e):
        under.append(Line(outs, role="muted"))
    if e.get("signature"):
        under.append(Line(e["signature"], role="muted", only="html"))
    under.extend(reason_details(e.get("reasons") or []))
    return Group([head, Group(under, indent=4)], cls="ji-event")


def events_section(events: list[dict[str, Any]]) -> list[Any]:
    shown = events[-MAX_EVENT_ROWS:]
    blocks: list[Any] = [More(len(events) - len(shown), "earlier events")]
    blocks += [event_block(e) for e in shown]
    out: list[Any] = [
        Section(f"events ({len(events)}, oldest first)", blocks, open=len(events) <= 10)
    ]
    recompiles = [e for e in shown if _is_recompile(e)]
    if recompiles:
        out.append(
            Group(
                [Line(f"what changed in the program: %jaxinspect compiles --diff {recompiles[-1]['id']} "
                      "(or jaxinspect.compile_diff(event))", role="muted")],  # fmt: skip
                indent=2,
            )
        )
    return out


def report_doc(
    title: str,
    events: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    hidden: int = 0,
    include_internal: bool = False,
    extra: list[Any] | None = None,
) -> View:
    """The compile report as one document; ``extra`` blocks go after the functions table."""
    head = _header(title, events, functions, hidden, include_internal)
    if not events:
        body = [Group([Line(no_compiles_text(hidden, include_internal), role="muted")], indent=2)]
        return View(head, body + list(extra or []))
    top: list[Any] = [Alert(a["message"], a["hint"]) for a in alerts]
    top.append(functions_table(functions))
    top += memory_section(functions, alerts)
    children: list[Any] = [Group(top, indent=2), *(extra or [])]
    children.append(
        Section("timeline", [Raw(timeline_svg(events))], open=True, only="html")
    )
    children += events_section(events)
    return View(head, children)


def report_text(
    title: str,
    events: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    hidden: int = 0,
    include_internal: bool = False,
) -> str:
    return to_text(report_doc(title, events, functions, alerts, hidden, include_internal))


def report_html(
    title: str,
    events: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    hidden: int = 0,
    include_internal: bool = False,
) -> str:
    return to_html(report_doc(title, events, functions, alerts, hidden, include_internal))


# -- drawings ------------------------------------------------------------------------------------


def timeline_svg(events: list[dict[str, Any]], width: int = 720) -> Markup:
    """A static SVG timeline (no script): one row per function, one bar per phase."""
    if not events:
        return Markup("")
    t0 = min(e["time"] for e in events)
    t1 = max(e["time"] + e["total_s"] for e in events)
    span = max(t1 - t0, 1e-6)
    names = list(dict.fromkeys(e["fun_name"] for e in events))[:30]
    row, left = 18, 140
    height = row * len(names) + 24
    scale = (width - left - 10) / span
    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="compile timeline" style="font:11px sans-serif">'
    ]
    for i, name in enumerate(names):
        parts.append(f'<text x="0" y="{i * row + 13}" fill="currentColor">{esc(name[:22])}</text>')
    for e in events:
        if e["fun_name"] not in names:
            continue
        y = names.index(e["fun_name"]) * row + 3
        x = left + (e["time"] - t0) * scale
        for phase in ("trace", "lower", "compile"):
            d = e.get(f"{phase}_s")
            if not d:
                continue
            w = max(d * scale, 1.0)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{PHASE_COLORS[phase]}">'
                f"<title>{esc(e['fun_name'])} {phase} {esc(ms(d))}</title></rect>"
            )
            x += w
    axis_y = row * len(names) + 16
    parts.append(f'<text x="{left}" y="{axis_y}" fill="currentColor">0</text>')
    parts.append(f'<text x="{width - 60}" y="{axis_y}" fill="currentColor">{esc(ms(span))}</text>')
    parts.append("</svg>")
    legend = " ".join(f'<span style="color:{c}">■</span> {p}' for p, c in PHASE_COLORS.items())
    return Markup("".join(parts) + f'<div class="ji-muted">{legend}</div>')


def timeline_figure(events: list[dict[str, Any]]):
    """A plotly timeline of compile events (one bar per phase); needs plotly."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if not events:
        return fig
    t0 = min(e["time"] for e in events)
    for phase, color in PHASE_COLORS.items():
        xs, bases, ys, texts = [], [], [], []
        for e in events:
            start = e["time"] - t0
            offset = sum(
                e.get(f"{p}_s") or 0.0
                for p in ("trace", "lower", "compile")[: ("trace", "lower", "compile").index(phase)]
            )
            d = e.get(f"{phase}_s")
            if not d:
                continue
            xs.append(d * 1e3)
            bases.append((start + offset) * 1e3)
            ys.append(e["fun_name"])
            texts.append(
                f"#{e['id']} {esc(e['fun_name'])} {phase}: {ms(d)}<br>{esc(event_reason(e))}"
            )
        fig.add_bar(
            x=xs,
            base=bases,
            y=ys,
            orientation="h",
            name=phase,
            marker_color=color,
            hovertext=texts,
            hoverinfo="text",
        )
    fig.update_layout(
        barmode="overlay",
        xaxis_title="ms since first compile",
        height=120 + 24 * len({e["fun_name"] for e in events}),
        margin=dict(l=10, r=10, t=30, b=40),
        title="compile timeline",
    )
    return fig
