"""A report to share (``jaxinspect.report("run.html")``, ``%jaxinspect report FILE``): one
self-contained HTML page of the session so far, and the compile timeline as a Chrome / Perfetto
trace (Trace Event Format JSON). Pure: records in, text out; never imports jax.

The page is the existing views (status, compiles, buffers, keys) composed under one heading each,
plus the charts ``svgchart`` draws (no plotly, no script): it opens from disk with no network (a
Content-Security-Policy forbids every fetch), reads in light and dark (``prefers-color-scheme``),
and escapes every user-derived string (the document model's HTML back end does). Both outputs are
bounded however long the session ran: the newest events in full, the rest counted ("… N earlier
compiles not shown"), curves cut to a fixed number of points per series by ``svgchart`` (each
stretch keeps its lowest and highest value and its first NaN/Inf, so neither a spike nor a NaN
step is thinned away), the timeline to the functions with the most compile time.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any

from .. import units
from ..records import (
    BufferAlert,
    BuffersRecord,
    CompileAlert,
    CompileEvent,
    FunctionCompileStats,
    InternalErrorRecord,
    KeyReuse,
    KeysRecord,
    ParamAlert,
    ParamWatchRecord,
)
from . import bufferview, compileslib, keyview, processview, statuslib, svgchart
from .doc import (
    Alert,
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
)

# -- bounds (what one report holds at most, however long the session) ---------------------------
TABLE_FUNCTIONS = 25  # functions in the overview table (the most compile time)
MAX_FUNCTIONS = 60  # functions listed with their events
EVENTS_PER_FUNCTION = 8  # the newest compiles of each listed function, in full
OPEN_FUNCTIONS = 3  # functions unfolded: those that recompiled, the most compile time first
TIMELINE_EVENTS = 2000  # compiles on the timeline (the newest; close bars are merged)
TIMELINE_LANES = 10  # functions on the timeline (the most compile time)
TRACE_EVENTS = 2000  # compiles in the trace file (each: one slice + one per phase)
PARAM_NAMES = 8  # watched trees charted
PARAM_MODULES = 5  # modules per chart beside the whole tree
PARAM_ALERTS = 20
BUFFER_ARRAYS = 15
MAX_ERRORS = 30
MAX_ALERTS = 6  # compile alerts shown (the newest per function)
PHASES = ("trace", "lower", "compile")

SECTIONS = (
    ("environment", "Environment"),
    ("compiles", "Compiles"),
    ("memory", "Memory"),
    ("keys", "PRNG keys"),
    ("params", "Watched parameters"),
    ("processes", "Processes"),
    ("errors", "jaxinspect's own errors"),
    ("coverage", "What this report holds"),
)


@dataclasses.dataclass
class ReportData:
    """What the session holds, as records (``glue.session`` gathers it)."""

    created: float  # Unix seconds
    env: dict[str, Any]
    status: dict[str, Any]
    info: dict[str, Any]
    loaded: bool  # whether %load_ext jaxinspect recorded compiles
    events: list[CompileEvent]  # the compiles still kept, oldest first (JAX-internal ones left out)
    functions: list[FunctionCompileStats]  # exact per-function totals over the whole session
    compile_alerts: list[CompileAlert]
    hidden_internal: int  # JAX-internal eager compiles, left out everywhere
    memory: list[tuple[float, int, int, dict[str, int]]]  # (time, arrays, device bytes, per device)
    memory_capacity: int  # snapshots kept at full resolution (the newest)
    buffers: BuffersRecord | None  # the latest snapshot
    arrays: list[Any]  # its largest arrays (``ArrayRow``)
    buffer_alerts: list[BufferAlert]
    keys: KeysRecord | None
    reuses: list[KeyReuse]
    watch: list[ParamWatchRecord]  # samples of watched trees, oldest first
    watch_capacity: int
    watched: list[str]  # names watched now
    param_alerts: list[ParamAlert]
    errors: list[InternalErrorRecord]
    notes: list[str] = dataclasses.field(default_factory=list)  # said under "What this report holds"
    memory_total: int | None = None  # snapshots taken over the session (None: len(memory))
    # the collector's table (``ProcessTable.snapshot()`` + "address"), None without a collector
    processes: dict[str, Any] | None = None

    @property
    def compiles_total(self) -> int:
        """Compiles of the user's functions over the whole session (exact)."""
        return sum(f.compiles for f in self.functions)


# -- charts (svgchart) ---------------------------------------------------------------------------


def _chart(markup: str, text: str | None = None) -> Raw:
    """A drawing, with its text twin (the text back end shows the sentence, not the picture;
    None: a line beside the drawing says it already)."""
    return Raw(Markup(f'<div class="ji-chart">{markup}</div>'), text=text)


def _lanes(events: list[CompileEvent], functions: list[FunctionCompileStats]) -> list[str]:
    """The functions drawn as lanes: those with the most compile time that compiled in ``events``."""
    seen = {e.fun_name for e in events}
    return [f.fun_name for f in functions if f.fun_name in seen][:TIMELINE_LANES]


def compile_timeline(events: list[CompileEvent], functions: list[FunctionCompileStats]) -> list[Any]:
    """The newest ``TIMELINE_EVENTS`` compiles on a time axis: one lane per function (the
    ``TIMELINE_LANES`` with the most compile time), one bar per phase (trace, lower, compile)."""
    shown = events[-TIMELINE_EVENTS:]
    if not shown:
        return []
    lanes = _lanes(shown, functions)
    order = {name: i for i, name in enumerate(lanes)}
    drawn = sorted((e for e in shown if e.fun_name in order), key=lambda e: (order[e.fun_name], e.time))
    rows: list[tuple[str, float, float, str]] = []
    for e in drawn:
        at = e.time
        for phase in PHASES:
            d = getattr(e, f"{phase}_s") or 0.0
            if d > 0:
                rows.append((e.fun_name, at, d, phase))
                at += d
    span = max(e.time + e.total_s for e in shown) - shown[0].time
    what = (f"the newest {len(shown):,} of {len(events):,} compiles kept" if len(events) > len(shown)
            else units.plural(len(shown), "compile", thousands=True))  # fmt: skip
    text = f"compile timeline: {what}, over {units.human_duration(span)}"
    others = len({e.fun_name for e in shown}) - len(lanes)
    if others > 0:
        text += f"; the {len(lanes)} functions with the most compile time drawn, {others} more not drawn"
    return [Line(text, role="muted"), _chart(svgchart.bars(rows, width=720, row_height=16))]


# -- sections ------------------------------------------------------------------------------------


def _ids(*parts: str) -> str:
    return "-".join(parts)


def environment_section(data: ReportData) -> list[Any]:
    return [statuslib.status_doc(data.env, data.status, data.info)]


def _function_block(f: FunctionCompileStats, events: list[CompileEvent], open_: bool = False) -> Section:
    mine = [e for e in events if e.fun_key == f.fun_key]
    shown = mine[-EVENTS_PER_FUNCTION:]
    head = [
        Text(f.fun_name, role="code"),
        f" — {units.plural(f.compiles, 'compile')}, {f.total_text}: {f.reasons_text or 'no reason recorded'}",
    ]
    blocks: list[Any] = []
    defined = getattr(f, "defined", None)
    if defined is not None or f.defined_at:
        blocks.append(Line(["defined at ", place(defined, None if defined is not None else f.defined_at)],
                           role="muted"))  # fmt: skip
    blocks.append(More(f.compiles - len(shown), "earlier compiles not shown", thousands=True))
    blocks += [compileslib.event_block(e.to_json()) for e in shown]
    return Section(head, blocks, open=open_, colon=False)


def compiles_section(data: ReportData) -> list[Any]:
    if not data.loaded and not data.events:
        return [Line("no compiles recorded: jaxinspect was not loaded (%load_ext jaxinspect records "
                     "every compile from then on)", role="muted")]  # fmt: skip
    functions = [f.to_json() for f in data.functions]
    head = (
        f"{units.plural(data.compiles_total, 'compile', thousands=True)} of "
        f"{units.plural(len(data.functions), 'function')}, "
        f"{units.human_duration(sum(f.total_s for f in data.functions))} compiling"
    )
    if data.hidden_internal:
        head += f" ({data.hidden_internal:,} JAX-internal eager compiles left out)"
    if not data.functions:
        body: list[Any] = [Line(compileslib.no_compiles_text(data.hidden_internal), role="muted")]
        return [View(head, body)]
    newest = list({(a.fun_key, a.reason_kind): a for a in data.compile_alerts}.values())  # one per function
    newest.sort(key=lambda a: a.time)
    top: list[Any] = [Alert(a.message, a.hint) for a in newest[-MAX_ALERTS:]]
    top.append(More(len(newest) - MAX_ALERTS, "more functions with alerts (the newest shown)"))
    top.append(compileslib.functions_table(functions[:TABLE_FUNCTIONS]))
    top.append(More(len(functions) - TABLE_FUNCTIONS, "more functions in the table (least compile time)"))
    memory = compileslib.memory_section(functions[:TABLE_FUNCTIONS], [a.to_json() for a in data.compile_alerts])
    if memory:
        memory.append(More(sum(1 for f in functions[TABLE_FUNCTIONS:] if f.get("memory")),
                           "more functions' compiled memory not listed"))  # fmt: skip
    top += memory
    children: list[Any] = [Group(top, indent=2)]
    children.append(Section("timeline", compile_timeline(data.events, data.functions), open=True))
    listed = data.functions[:MAX_FUNCTIONS]
    recompiled = [f.fun_key for f in listed if f.compiles > 1][:OPEN_FUNCTIONS]
    per_function: list[Any] = [_function_block(f, data.events, f.fun_key in recompiled) for f in listed]
    per_function.append(More(len(data.functions) - len(listed), "more functions (least compile time)"))
    kept = len(data.events)
    if kept < data.compiles_total:
        per_function.append(Line(
            f"the session keeps the newest {kept:,} compiles in full (jaxinspect.config.compile_capacity); "
            f"{data.compiles_total - kept:,} older ones are counted above, not listed", role="muted"))  # fmt: skip
    children.append(Section(
        "per function: reasons, then the newest compiles with where they were called and what changed",
        per_function, open=True))  # fmt: skip
    return [View(head, children)]


def memory_section(data: ReportData) -> list[Any]:
    out: list[Any] = []
    points = data.memory
    if points:
        t0 = points[0][0]
        devices = sorted({d for p in points for d in p[3]}, key=units_natural)
        scale, unit = svgchart.byte_scale([v for p in points for v in p[3].values()])
        series = {d: [(p[0] - t0, p[3].get(d, 0) / scale) for p in points] for d in devices[:8]}
        peak = max(points, key=lambda p: p[2])
        total = data.memory_total if data.memory_total is not None else len(points)
        text = (
            f"bytes per device over {units.plural(total, 'snapshot', thousands=True)} "
            f"({units.human_duration(points[-1][0] - t0)}): peak {units.human_bytes(peak[2])} "
            f"at +{units.human_duration(peak[0] - t0)}, last {units.human_bytes(points[-1][2])}"
        )
        out.append(Line(text))
        chart = svgchart.line_chart(series, title=f"{unit} held by live arrays, per device", width=720,
                                    height=180, x_label="seconds since the first snapshot")  # fmt: skip
        out.append(_chart(chart))
        if len(devices) > 8:
            out.append(More(len(devices) - 8, "more devices not drawn"))
    else:
        out.append(Line("no buffer snapshots: the Buffers tab, a monitor or jaxinspect.buffers() "
                        "takes them", role="muted"))  # fmt: skip
    if data.buffers is not None:
        out.append(Line(f"latest snapshot (#{data.buffers.seq}, "
                        f"{_clock(data.buffers.time)}), top holders:", role="muted"))  # fmt: skip
        out.append(bufferview.buffers_doc(data.buffers, data.arrays[:BUFFER_ARRAYS], data.buffer_alerts,
                                          limit=BUFFER_ARRAYS))  # fmt: skip
    elif data.buffer_alerts:
        out += [Alert(a.message, a.hint) for a in data.buffer_alerts]
    return out


def units_natural(name: str) -> tuple:
    head, _, num = name.rpartition(":")
    return (head, int(num)) if num.isdigit() else (name, 0)


def keys_section(data: ReportData) -> list[Any]:
    if data.keys is None and not data.reuses:
        return [Line("key tracking was never on: jaxinspect.track_keys() or %jaxinspect keys on "
                     "records every key and reports a key used twice", role="muted")]  # fmt: skip
    rec = data.keys
    if rec is None:
        rec = KeysRecord(seq=0, time=data.created, tracking=False, on_reuse="warn", created=0, derived=0,
                         consumed=0, reuses=len(data.reuses), summarised=0, nodes=(), more_nodes=0,
                         consumers=(), note=None)  # fmt: skip
    return [keyview.keys_doc(rec, data.reuses, limit=150)]


def _param_series(recs: list[ParamWatchRecord]) -> tuple[dict, dict]:
    norms: dict[str, list] = {"whole tree": []}
    ratios: dict[str, list] = {"whole tree": []}
    last = next((r for r in reversed(recs) if r.layers), recs[-1])
    modules = [la.path for la in sorted(last.layers, key=lambda la: -(la.norm or 0.0))][:PARAM_MODULES]
    for r in recs:
        x = float(r.step if r.step is not None else r.seq)
        norms["whole tree"].append((x, r.norm if r.norm is not None or not r.nonfinite else math.nan))
        ratios["whole tree"].append((x, r.update))
        by_path = {la.path: la for la in r.layers}
        for path in modules:
            la = by_path.get(path)
            label = path or "(root)"
            bad = la is not None and (la.nan or la.inf)
            norms.setdefault(label, []).append((x, math.nan if bad else (la.norm if la else None)))
            ratios.setdefault(label, []).append((x, la.update if la else None))
    return norms, ratios


def _param_alert(a: ParamAlert) -> Group:
    lines: list[Any] = [Alert(a.headline, a.hint, level="error")]
    facts = [
        ("first non-finite step", "–" if a.step is None else str(a.step)),
        ("last finite step", "–" if a.last_finite_step is None else str(a.last_finite_step)),
        ("first non-finite leaf", a.path),
    ]
    if a.leaves_text:
        facts.append(("leaves", a.leaves_text))
    if a.leaves:
        facts.append(("non-finite leaves", ", ".join(a.leaves)))
    facts.append(("values", f"NaN {a.nan:,} · Inf {a.inf:,}"))
    if a.checked:
        facts.append(("checked", a.checked))
    watched_at = getattr(a, "watched_at", None)
    if watched_at is not None:
        facts.append(("watched at", place(watched_at)))
    if a.cause:
        facts.append(("cause", a.cause))
    cause_at = getattr(a, "cause_at", None)
    if cause_at is not None:
        facts.append(("made at", place(cause_at)))
    lines.append(Table(("", ""), facts, header=False, cls="ji-facts"))
    return Group(lines, cls="ji-param-alert")


def params_section(data: ReportData) -> list[Any]:
    out: list[Any] = []
    alerts = list({a.id: a for a in data.param_alerts}.values())  # the newest version of each
    if alerts:
        shown = alerts[-PARAM_ALERTS:]
        out.append(Section(f"alerts ({len(alerts)})", [*(_param_alert(a) for a in shown),
                                                       More(len(alerts) - len(shown), "earlier alerts")],
                           fold=False))  # fmt: skip
    names = list(dict.fromkeys(r.name for r in data.watch))
    for name in names[:PARAM_NAMES]:
        recs = [r for r in data.watch if r.name == name and r.leaves]
        if not recs:
            continue
        norms, ratios = _param_series(recs)
        last = recs[-1]
        steps = [r.step for r in recs if r.step is not None]
        span = f"steps {steps[0]}–{steps[-1]}" if steps else f"samples 1–{len(recs)}"
        text = (f"{units.plural(len(recs), 'sample')}, {span}; norm {recs[0].norm_text} → {last.norm_text}; "
                f"last update ratio {last.update_text}")  # fmt: skip
        charts = Group([
            _chart(svgchart.line_chart(norms, title="norm ‖θ‖", width=340, height=150), f"{name}: norm per step"),
            _chart(svgchart.line_chart(ratios, title="update ratio ‖Δθ‖/‖θ‖", width=340, height=150, log_y=True),
                   f"{name}: update ratio per step"),
        ], cls="ji-charts")  # fmt: skip
        bad = [Alert(f"{last.nonfinite} leaves hold NaN/Inf at the last sample")] if last.nonfinite else []
        out.append(Section([Text(name, role="code"), f": {text}"], [*bad, charts], open=True, colon=False))
    out.append(More(len(names) - PARAM_NAMES, "more watched trees not charted"))
    if not out[:-1]:
        if data.watched:
            out.insert(0, Line(
                f"watched: {', '.join(data.watched)}; no samples were taken (the Params tab or a monitor "
                "samples watched trees while open; jaxinspect.sample_watched() takes one now) and no "
                "NaN/Inf alert was raised (every watch() call is checked)", role="muted"))  # fmt: skip
        else:
            out.insert(0, Line("nothing watched: jaxinspect.watch(name, params, step=i) in the training "
                               "loop checks every step for NaN/Inf", role="muted"))  # fmt: skip
    return out


def processes_section(data: ReportData) -> list[Any]:
    """A multi-process job as the collector saw it when the report was written: the processes
    side by side (where each main thread was, the stuck ones named, their stacks), compiles by
    function with the divergence marks, the newest alerts."""
    snap = data.processes
    if snap is None:
        return [Line("no collector was open (jaxinspect.collect_processes)", role="muted")]
    doc = processview.processes_doc(snap, snap.get("address"), now=data.created)
    return [Line(doc.title), *doc.children]


def errors_section(data: ReportData) -> list[Any]:
    if not data.errors:
        return [Line("none", role="muted")]
    rows = [(e.where, e.message, f"{e.count:,}") for e in data.errors[:MAX_ERRORS]]
    return [
        Line("failures of jaxinspect itself, caught so they never reached your code; please attach "
             "this report to a bug report", role="muted"),
        Table(("where", "error", Column("times", "right")), rows, more=len(data.errors) - len(rows)),
    ]  # fmt: skip


def coverage(data: ReportData) -> list[str]:
    """What the report does not hold, said plainly (bounded outputs, sampled history)."""
    out = list(data.notes)
    kept = len(data.events)
    if data.compiles_total > kept:
        out.append(f"compiles: exact totals for all {data.compiles_total:,}; the newest {kept:,} kept in "
                   f"the session, per function the newest {EVENTS_PER_FUNCTION} listed in full")  # fmt: skip
    else:
        out.append(f"compiles: all {data.compiles_total:,} recorded, per function the newest "
                   f"{EVENTS_PER_FUNCTION} listed in full")  # fmt: skip
    if data.memory:
        total = data.memory_total if data.memory_total is not None else len(data.memory)
        note = (f"memory: {units.plural(total, 'snapshot', thousands=True)} from {_clock(data.memory[0][0])}"
                f" to {_clock(data.memory[-1][0])}")  # fmt: skip
        if total > len(data.memory):
            note += (f" drawn at {len(data.memory):,} points: the newest {data.memory_capacity} as taken, "
                     "older ones one per stretch (the snapshot with the most bytes), the first kept")  # fmt: skip
        note += "; snapshots are taken only while the Buffers tab or a monitor is open, at cell ends " \
                "then, and by jaxinspect.buffers(): memory between them is not seen"
        out.append(note)
    if data.watch:
        note = f"watched parameters: {units.plural(len(data.watch), 'sample')}"
        if len(data.watch) >= data.watch_capacity:
            note += f" (the session keeps the newest {data.watch_capacity} over all trees)"
        note += ("; samples are taken while the Params tab or a monitor is open; NaN/Inf alerts come "
                 "from an exact check of every watch() call")
        out.append(note)
    out.append(f"charts: at most {svgchart.MAX_POINTS} points per curve (each stretch keeps its lowest and "
               "highest value and its first NaN/Inf); the timeline draws the newest "
               f"{TIMELINE_EVENTS:,} compiles of the {TIMELINE_LANES} functions with the most compile time "
               f"(bars closer than a few pixels merged); the trace file holds the newest {TRACE_EVENTS:,} "
               "compiles")  # fmt: skip
    return out


# -- the page ------------------------------------------------------------------------------------

PAGE_CSS = """
:root{color-scheme:light dark;--jp-ui-font-color1:#1d1d1f;--jp-ui-font-color2:#5b5b60;
 --jp-border-color2:#d9d9de;--jp-layout-color0:#ffffff;--jp-layout-color1:#ffffff;--jp-layout-color2:#eeeef2;
 --jp-warn-color0:#9a5b00;--jp-error-color1:#c4001a;--jp-brand-color1:#1f6fd1;
 --jp-ui-font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 --jp-code-font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media (prefers-color-scheme: dark){:root{--jp-ui-font-color1:#e8e8ec;--jp-ui-font-color2:#a6a6b0;
 --jp-border-color2:#3a3a42;--jp-layout-color0:#17171b;--jp-layout-color1:#1e1e23;--jp-layout-color2:#2b2b33;
 --jp-warn-color0:#f0b050;--jp-error-color1:#ff6b7a;--jp-brand-color1:#6aa8ff}}
html{background:var(--jp-layout-color0);color:var(--jp-ui-font-color1)}
body{margin:0;font-family:var(--jp-ui-font-family);font-size:14px;line-height:1.45}
main.ji-report{max-width:1100px;margin:0 auto;padding:16px 20px 48px;box-sizing:border-box}
.ji-report h1{font-size:22px;margin:4px 0}
.ji-report h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--jp-border-color2)}
.ji-report header p{margin:2px 0;color:var(--jp-ui-font-color2)}
.ji-report nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin:10px 0}
.ji-report nav a{color:var(--jp-brand-color1)}
.ji-report section{min-width:0}
.ji-report table{display:block;max-width:100%;overflow-x:auto}
.ji-report th{white-space:nowrap}
.ji-report td.ji-r{white-space:nowrap}
.ji-report .jaxinspect-view{font-size:13px;max-width:100%}
.ji-report .ji-event{margin:4px 0 6px;overflow-wrap:anywhere}
.ji-report .k-row{white-space:normal !important;overflow-wrap:anywhere}
.ji-report pre{white-space:pre-wrap;overflow-wrap:anywhere}
.ji-report .ji-chart{max-width:100%;overflow-x:auto;margin:6px 0}
.ji-report .ji-chart svg{max-width:100%;height:auto}
.ji-report .ji-charts{display:flex;flex-wrap:wrap;gap:8px 18px}
.ji-report .ji-param-alert{border-left:3px solid var(--jp-error-color1);padding:2px 10px;margin:6px 0}
.ji-report .ji-facts td:first-child{color:var(--jp-ui-font-color2);white-space:nowrap}
.ji-report details{margin:2px 0}
.ji-report ul.ji-coverage{padding-left:20px;color:var(--jp-ui-font-color2)}
"""

# no fetch of any kind (scripts, styles, fonts, images, frames): the page is all there is
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _clock(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def report_doc(data: ReportData) -> list[tuple[str, str, list[Any]]]:
    """The sections as (anchor, title, document blocks)."""
    builders = {
        "environment": environment_section,
        "compiles": compiles_section,
        "memory": memory_section,
        "keys": keys_section,
        "params": params_section,
        "processes": processes_section,
        "errors": errors_section,
    }
    out = []
    for anchor, title in SECTIONS:
        if anchor == "coverage":
            out.append((anchor, title, [_coverage_list(data)]))
        else:
            out.append((anchor, title, builders[anchor](data)))
    return out


def _coverage_list(data: ReportData) -> Any:
    from .doc import Items

    return Group([Items(coverage(data), bullet="- ")], cls="ji-coverage-box")


def headline(data: ReportData) -> str:
    env = data.env
    backend = env.get("backend") or "no backend started"
    return (
        f"jaxinspect {data.info.get('version', '?')} · jax {env.get('jax_version') or '?'} · "
        f"{backend} · {units.plural(int(env.get('device_count') or 0), 'device')} · "
        f"written {_clock(data.created)}"
    )


def report_text(data: ReportData) -> str:
    """The plain-text twin of the page (same sections, no charts)."""
    parts = [f"jaxinspect report — {headline(data)}"]
    for _anchor, title, blocks in report_doc(data):
        parts.append("")
        parts.append(f"== {title} ==")
        parts.append(to_text(blocks))
    return "\n".join(parts)


def report_html(data: ReportData) -> str:
    """The whole page: one file, no network, light and dark, every user string escaped."""
    sections = report_doc(data)
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    out = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>jaxinspect report — {esc(_clock(data.created))}</title>",
        f"<style>{PAGE_CSS}</style></head><body><main class=\"ji-report\">",
        f'<header><h1>jaxinspect report</h1><p>{esc(headline(data))}</p><nav aria-label="sections">{nav}</nav></header>',
    ]
    for anchor, title, blocks in sections:
        out.append(f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{esc(title)}</h2>')
        out.append(to_html(blocks))
        out.append("</section>")
    out.append("</main></body></html>\n")
    return "".join(out)


# -- the trace (Trace Event Format) --------------------------------------------------------------

def _us(ns: int) -> float:
    return round(ns / 1000, 3)


def trace_events(
    events: list[CompileEvent],
    *,
    compiles_total: int | None = None,
    pid: int = 0,
    process_name: str = "jaxinspect",
    limit: int = TRACE_EVENTS,
) -> dict[str, Any]:
    """The newest ``limit`` compiles as a Trace Event Format document (``ui.perfetto.dev``,
    ``chrome://tracing``, XProf/TensorBoard trace viewers): per compile one complete ("X") slice
    named by the function, and inside it one slice per phase (trace, lower, compile) that took
    time; ``args`` carry the reason, the cell location, the signature. Times are µs since the
    first compile in the file (its Unix time is ``otherData.start_unix_s``). One track per thread
    that compiled; a compile that would overlap another on its track without nesting in it (a
    nested jit traced inside an outer function is drawn inside it) gets a track of its own."""
    shown = sorted(events[-limit:] if limit else events, key=lambda e: (e.time, -e.total_s, e.id))
    total = compiles_total if compiles_total is not None else len(events)
    out: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": process_name}},
    ]
    if not shown:
        return {"traceEvents": out, "displayTimeUnit": "ms",
                "otherData": {"compiles_total": total, "compiles_in_trace": 0}}  # fmt: skip
    t0 = shown[0].time
    threads: dict[str, list[list[tuple[int, int]]]] = {}  # thread -> tracks -> slices open
    tids: dict[tuple[str, int], int] = {}
    body: list[dict[str, Any]] = []
    for e in shown:
        start = round((e.time - t0) * 1e9)
        phases = [(p, round((getattr(e, f"{p}_s") or 0.0) * 1e9)) for p in PHASES]
        length = max(round(e.total_s * 1e9), sum(d for _p, d in phases))
        end = start + length
        lanes = threads.setdefault(e.thread or "main", [])
        lane = None
        for i, active in enumerate(lanes):
            active[:] = [iv for iv in active if iv[1] > start]
            # a slice still open here must contain this compile; one that starts later (the next
            # phase of an outer compile) must begin after it ends
            if all(end <= (b if a <= start else a) for a, b in active):
                lane = i
                break
        if lane is None:
            lanes.append([])
            lane = len(lanes) - 1
        key = (e.thread or "main", lane)
        tid = tids.get(key)
        if tid is None:
            tid = tids[key] = len(tids) + 1
            label = key[0] if lane == 0 else f"{key[0]} (overlapping compiles {lane + 1})"
            out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": label}})
            out.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                        "args": {"sort_index": tid}})  # fmt: skip
        args: dict[str, Any] = {
            "id": e.id,
            "function": e.fun_name,
            "reason": compileslib.event_reason({"reasons": [r.to_json() for r in e.reasons],
                                                "internal": e.internal}),
            "location": e.location,  # "cell [5] line 3" in a notebook (never the kernel's temp file)
            "defined_at": e.defined.text if getattr(e, "defined", None) is not None else e.defined_at,
            "signature": e.signature,
            "api": e.api,
            "total": e.total_text,
        }  # fmt: skip
        if e.cell is not None:
            args["cell"] = e.cell
        elif e.call_site:
            args["call_site"] = e.call_site
        call = getattr(e, "call", None)
        if call is not None and call.code:
            args["code"] = call.code
        if e.parent:
            args["inside"] = e.parent
        if e.persistent_cache:
            args["persistent_cache"] = e.persistent_cache
        if e.memory is not None and getattr(e.memory, "text", None):
            args["compiled_memory"] = e.memory.text
        body.append({"name": e.fun_name, "cat": "jit", "ph": "X", "ts": _us(start), "dur": _us(length),
                     "pid": pid, "tid": tid, "args": args})  # fmt: skip
        at = start
        children = []
        for phase, d in phases:
            if d <= 0:
                continue
            body.append({"name": f"{phase} {e.fun_name}", "cat": f"jit,{phase}", "ph": "X", "ts": _us(at),
                         "dur": _us(d), "pid": pid, "tid": tid,
                         "args": {"phase": phase, "id": e.id, "duration": units.human_duration(d / 1e9)}})  # fmt: skip
            children.append((at, at + d))
            at += d
        lanes[lane].append((start, end))
        lanes[lane].extend(children)
    left_out = total - len(shown)
    if left_out > 0:
        body.insert(0, {"name": f"{left_out:,} earlier compiles not in this trace", "cat": "jaxinspect",
                        "ph": "i", "s": "g", "ts": 0.0, "pid": pid, "tid": 1,
                        "args": {"left_out": left_out}})  # fmt: skip
    out.extend(body)
    return {
        "traceEvents": out,
        "displayTimeUnit": "ms",
        "otherData": {
            "producer": "jaxinspect",
            "start_unix_s": t0,
            "compiles_total": total,
            "compiles_in_trace": len(shown),
            "left_out": max(left_out, 0),
        },
    }
