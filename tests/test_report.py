"""``jaxinspect.report`` / ``%jaxinspect report``: one self-contained HTML page of a real session
(compiles with reasons and cell locations, memory, a key reuse, a watched tree that turns NaN),
and the compile timeline as a Trace Event Format JSON; both bounded for long sessions; bad paths
answered in one line."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import warnings
from html.parser import HTMLParser

import pytest

from jaxinspect.records import (
    CompileEvent,
    InternalErrorRecord,
    KeyReuse,
    ParamAlert,
    ParamLayer,
    ParamWatchRecord,
    Reason,
)
from jaxinspect.render import reportview

EVIL = '<img src=x onerror="window.__x=1">'

SESSION_CELLS = [
    # cell A: a jitted function that recompiles (a new shape), and one with a hostile name
    "import jax, jax.numpy as jnp, jaxinspect\n"
    "@jax.jit\n"
    "def train_step(x):\n"
    "    return (x * 2).sum()\n"
    "train_step(jnp.ones(3))\n"
    "train_step(jnp.ones(4))\n"
    "def f(x):\n"
    "    return x + 1\n"
    f"f.__name__ = f.__qualname__ = {EVIL!r} + 'f'\n"
    "jax.jit(f)(jnp.ones(2))\n",
    # cell B: a key drawn from twice
    "jaxinspect.track_keys(on_reuse='ignore')\n"
    "key = jax.random.key(0)\n"
    "a = jax.random.normal(key, (2,))\n"
    "b = jax.random.uniform(key, (2,))\n",
    # cell C: a watched tree that turns NaN at step 6, sampled each step; buffers sampled
    "params = {'l1': {'w': jnp.ones((4, 4))}, 'l2': {'w': jnp.ones((4, 2))}}\n"
    "for i in range(10):\n"
    "    params = jax.tree_util.tree_map(lambda w: w * 0.9, params)\n"
    "    if i == 6:\n"
    "        params['l2']['w'] = params['l2']['w'].at[0, 0].set(jnp.nan)\n"
    "    jaxinspect.watch('params', params, step=i)\n"
    "    jaxinspect.api.sample_watched()\n"
    "    if i % 3 == 0:\n"
    "        jaxinspect.buffers()\n",
]


class Page(HTMLParser):
    """The parts of a page the tests read: tags with attributes, text per section, styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.sections: dict[str, list[str]] = {}
        self.styles: list[str] = []
        self.text: list[str] = []
        self._section: str | None = None
        self._style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section] = []
        self._style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        if tag == "style":
            self._style = False

    def handle_data(self, data):
        if self._style:
            self.styles.append(data)
            return
        self.text.append(data)
        if self._section is not None:
            self.sections[self._section].append(data)

    def section(self, name: str) -> str:
        return " ".join(" ".join(self.sections[name]).split())


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A real IPython session with jaxinspect loaded, the cells above run, and its report."""
    from IPython.core.interactiveshell import InteractiveShell

    from jaxinspect.collect import keyslib, paramlib
    from jaxinspect.glue import extension

    mp = pytest.MonkeyPatch()
    mp.setattr(paramlib.Watcher, "_affordable", staticmethod(lambda track: True))  # every step checked
    shell = InteractiveShell.instance()
    keyslib.tracker().clear()  # the key reuses counted are this session's (an earlier test's stay otherwise)
    shell.run_line_magic("load_ext", "jaxinspect")
    cells = []
    try:
        for src in SESSION_CELLS:
            cells.append(shell.execution_count)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = shell.run_cell(src, store_history=True)
            assert result.success, result.error_in_exec
        import jaxinspect

        jaxinspect.api.SESSION.check_watched()
        jaxinspect.api.SESSION.watcher.checker.drain()
        out = tmp_path_factory.mktemp("report")
        written = jaxinspect.report(out / "run.html", trace=out / "run.trace.json")
        yield {
            "shell": shell,
            "cells": cells,
            "written": written,
            "html": (out / "run.html").read_text(encoding="utf-8"),
            "trace": json.loads((out / "run.trace.json").read_text(encoding="utf-8")),
            "dir": out,
        }
    finally:
        if "jaxinspect" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "jaxinspect")
        extension.unload(shell)
        keyslib.tracker().clear()
        mp.undo()


def test_the_page_holds_each_section_with_its_facts(session):
    import jax

    page = parse(session["html"])
    a, b, c = session["cells"]
    assert list(page.sections) == ["environment", "compiles", "memory", "keys", "params", "processes", "errors", "coverage"]
    env = page.section("environment")
    assert f"jax {jax.__version__}" in env and "cpu" in env and "cpu:0" in env
    compiles = page.section("compiles")
    assert "train_step" in compiles and "2 compiles" in compiles
    assert "`x` changed shape (3,) → (4,)" in compiles  # the reason of the recompile
    assert f"at cell [{a}] line 6" in compiles  # the call that recompiled, as a cell location
    assert "first call" in compiles
    assert f"defined at cell [{a}] line 2" in compiles  # where train_step is defined (its decorator)
    assert "ipython-input" not in page.section("compiles") + page.section("keys") + page.section("params")
    # the timeline and the memory chart are drawings
    assert any(t == "svg" for t, _ in page.tags)
    memory = page.section("memory")
    assert "bytes per device over" in memory and "top holders" in memory
    assert "params['l1']" in memory  # a holder of the latest snapshot
    keys = page.section("keys")
    assert "key(0)" in keys and "consumed twice" in keys
    assert f"normal @ cell [{b}] line 3" in keys and f"uniform @ cell [{b}] line 4" in keys
    assert "lineage" in keys
    params = page.section("params")
    assert "first NaN at step 6" in params and "last finite step 5" in params
    assert "first non-finite step 6" in params
    assert "['l2']['w']" in params  # the NaN leaf
    assert "10 samples, steps 0–9" in params
    assert f"watched at cell [{c}] line 6" in params
    assert "whole tree: NaN from step 6" in params and "['l2']: NaN from step 6" in params  # marked in charts
    from jaxinspect import errors

    assert page.section("errors").endswith(" none") == (not errors.recent())  # errors are per process
    assert "compiles: all" in page.section("coverage")


def test_the_page_needs_no_network(session):
    html = session["html"]
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    tags = {t for t, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    css = " ".join(page.styles)
    assert "@import" not in css and not re.search(r"url\s*\(", css)
    assert not re.search(r"url\s*\(", " ".join(a.get("style", "") for _, a in page.tags))
    assert "prefers-color-scheme: dark" in css  # readable in the dark


def test_user_strings_are_escaped(session):
    page = parse(session["html"])
    assert all(not (t == "img" or "onerror" in a) for t, a in page.tags)
    assert EVIL + "f" in " ".join(page.text)  # shown as text, whole
    trace_names = {e["name"] for e in session["trace"]["traceEvents"]}
    assert EVIL + "f" in trace_names  # JSON carries it verbatim


def test_the_trace_is_trace_event_format_and_phases_nest(session):
    doc = session["trace"]
    assert doc["displayTimeUnit"] == "ms"
    events = doc["traceEvents"]
    meta = [e for e in events if e["ph"] == "M"]
    assert {"process_name", "thread_name"} <= {e["name"] for e in meta}
    for e in meta:
        assert {"name", "ph", "pid", "tid", "args"} <= set(e) and "name" in e["args"] or "sort_index" in e["args"]
    slices = [e for e in events if e["ph"] == "X"]
    for e in slices:
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert e["dur"] >= 0 and e["ts"] >= 0
    compiles = [e for e in slices if e["cat"] == "jit"]
    assert len(compiles) == 3 == doc["otherData"]["compiles_in_trace"]
    a = session["cells"][0]
    recompile = [e for e in compiles if e["name"] == "train_step"][-1]
    assert recompile["args"]["reason"] == "`x` changed shape (3,) → (4,)"
    assert recompile["args"]["location"] == f"cell [{a}] line 6"
    assert recompile["args"]["code"] == "train_step(jnp.ones(4))" and recompile["args"]["cell"] == a
    assert "call_site" not in recompile["args"]  # a cell, not the kernel's temp file
    for c in compiles:
        phases = [e for e in slices if e["cat"].startswith("jit,") and e["args"]["id"] == c["args"]["id"]]
        assert {p["args"]["phase"] for p in phases} >= {"trace", "compile"}
        for p in phases:
            assert p["tid"] == c["tid"] and p["name"] == f"{p['args']['phase']} {c['name']}"
            assert c["ts"] - 1e-3 <= p["ts"] and p["ts"] + p["dur"] <= c["ts"] + c["dur"] + 1e-3
    assert_laminar(slices)


def assert_laminar(slices):
    """On each track, any two slices are disjoint or one holds the other (how viewers nest)."""
    by_track: dict = {}
    for e in slices:
        by_track.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_track.values():
        spans.sort(key=lambda s: (s[0], -s[1]))
        for i, (s1, e1) in enumerate(spans):
            for s2, e2 in spans[i + 1 :]:
                if s2 >= e1 - 1e-3:
                    break
                assert e2 <= e1 + 1e-3, f"[{s1}, {e1}] and [{s2}, {e2}] overlap without nesting"


def test_the_magic_writes_the_files_and_answers_one_line(session):
    shell, out = session["shell"], session["dir"]
    msg = shell.run_line_magic("jaxinspect", f"report {out / 'm.html'} --trace {out / 'm.json'}")
    text = repr(msg)
    assert "\n" not in text and msg.level == "info"
    size = (out / "m.html").stat().st_size
    assert str(out / "m.html") in text and str(out / "m.json") in text
    assert re.search(r"\(\d+(\.\d)? KiB: ", text) and msg.bytes == size
    assert json.loads((out / "m.json").read_text())["traceEvents"]
    assert msg.to_json()["path"] == str(out / "m.html")
    msg = shell.run_line_magic("jaxinspect", f"report '{out / 'my run.html'}'")  # quoted, with a space
    assert msg.level == "info" and (out / "my run.html").stat().st_size == msg.bytes
    msg = shell.run_line_magic("jaxinspect", f"report {out / 'm.txt'}")  # the plain-text twin
    text = (out / "m.txt").read_text()
    assert msg.level == "info" and "== Compiles ==" in text and "`x` changed shape (3,) → (4,)" in text
    assert "first NaN at step 6" in text and "<svg" not in text and "<div" not in text
    written = session["written"]
    assert written.level == "info" and "3 compiles of 2 functions" in repr(written)
    assert "1 key reuse" in repr(written) and "1 NaN/Inf alert" in repr(written)


def test_bad_paths_get_one_line_naming_the_culprit_and_the_fix(session, tmp_path):
    import jaxinspect

    shell = session["shell"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    cases = {
        f"report {tmp_path}": (str(tmp_path), "is a folder", "give a file name in it"),
        "report": ("which file?", "%jaxinspect report run.html", "usage"),
        f"report {tmp_path / 'no' / 'x.html'}": (str(tmp_path / "no"), "does not exist", "create it first"),
        f"report {a_file / 'x.html'}": (str(a_file), "is a file, not a folder", "choose another path"),
        f"report {tmp_path / 'x.html'} --trace {tmp_path / 'x.html'}": ("both be", "its own name"),
        "report /proc/x.html": ("/proc/x.html", "could not write", "folder you can write to"),
        f"report {tmp_path / 'y.html'} --trace": ("--trace needs a value",),
    }
    for line, needles in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            msg = shell.run_line_magic("jaxinspect", line)
        text = repr(msg)
        assert msg.level == "error" and text.startswith("%jaxinspect report"), (line, text)
        assert "Traceback" not in text and len(text.splitlines()) == 1, text
        for needle in needles:
            assert needle in text, (line, text)
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*tmp"))
    for bad in (None, 42, ""):
        msg = jaxinspect.report(bad)
        assert msg.level == "error" and repr(msg).startswith("jaxinspect.report: ")


def test_a_failure_inside_the_report_is_one_line_never_a_traceback(tmp_path, monkeypatch):
    from jaxinspect import errors
    from jaxinspect.glue.session import Session

    def broken(data):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(reportview, "report_html", broken)
    before = errors.total()
    msg = Session().report(tmp_path / "r.html", namespace={})
    assert msg.level == "error" and "ZeroDivisionError: boom" in repr(msg) and "bug in jaxinspect" in repr(msg)
    assert errors.total() == before + 1 and not list(tmp_path.iterdir())
    errors.reset()  # later tests count the process's internal errors from zero


def test_without_load_ext_the_report_says_what_it_lacks(tmp_path):
    from jaxinspect.glue.session import Session

    written = Session().report(tmp_path / "r.html", namespace={})
    page = parse((tmp_path / "r.html").read_text())
    assert "jaxinspect was not loaded" in page.section("compiles")
    assert "not loaded (%load_ext jaxinspect)" in page.section("coverage")
    assert written.level == "info"


# -- bounded for long sessions ---------------------------------------------------------------------


def _event(i: int, t: float, fun: int, thread: str = "MainThread", parent: str | None = None) -> CompileEvent:
    reasons = (
        (Reason("first_call", None, None, None, "first call"),)
        if i < 300
        else (Reason("shape", "x", f"({i},)", f"({i + 1},)", f"`x` changed shape ({i},) → ({i + 1},)",
                     details=tuple(f"leaf {k} changed" for k in range(30))),)
    )  # fmt: skip
    return CompileEvent(
        id=i, fun_key=f"k{fun}", fun_name=f"{EVIL}fn_{fun}", defined_at="/x/model.py:1",
        call_site=f"/tmp/ipykernel_1/123.py:{i % 50 + 1}", cell=i // 100 + 1, trace_s=0.004,
        lower_s=0.002, compile_s=0.01, total_s=0.016, persistent_cache=None, time=t, thread=thread,
        process_index=0, internal=False, parent=parent, api="call", signature="x: float32[8]" * 10,
        reasons=reasons,
    )  # fmt: skip


def long_session(compiles: int = 12_000, functions: int = 300, snapshots: int = 600, samples: int = 2000):
    from jaxinspect.analyze.compilestats import CompileLog

    log = CompileLog(capacity=10_000)
    t = 1_700_000_000.0
    for i in range(compiles):
        log.add_all(_event(i, t + i * 0.05, i % functions))
    memory = [(t + k, 10 + k, 1000 * k, {f"cpu:{d}": 100 * k + d for d in range(8)}) for k in range(snapshots)]
    layers = tuple(ParamLayer(path=f"['layer_{j}']", leaves=2, values=100, norm=1.0 + j, update=1e-3, nan=0, inf=0)
                   for j in range(12))  # fmt: skip
    watch = [
        ParamWatchRecord(name=f"tree{s % 4}", seq=s, step=s, time=t + s, leaves=24, values=1200,
                         norm=None if s == 1500 else 10.0 + s, update=1e-3, nonfinite=int(s == 1500),
                         layers=layers, more_layers=0, took_s=0.001, interval_s=1.0, note=None)
        for s in range(samples)
    ]  # fmt: skip
    alerts = [ParamAlert(id=k, time=t, name=f"tree{k}", step=k, path="['w']", nan=1, inf=0, message=f"m{k}",
                         hint="h") for k in range(100)]  # fmt: skip
    reuses = [KeyReuse(id=k, time=t, where="eager", reuse="consumed twice", key=f"key({k})", function=None,
                       first_op="normal", first_site="cell [1] line 2", second_op="uniform",
                       second_site="cell [1] line 3", path=("key(0)",) * 20, count=1, message="m", hint="h")
              for k in range(1000)]  # fmt: skip
    return reportview.ReportData(
        created=t + compiles, env={"jax_version": "0.12", "backend": "cpu", "backend_initialized": True,
                                   "device_count": 8, "devices": []},
        status={}, info={"version": "test"}, loaded=True, events=log.event_list(), functions=log.functions(),
        compile_alerts=list(log.alerts), hidden_internal=0, memory=memory, memory_capacity=600, buffers=None,
        arrays=[], buffer_alerts=[], keys=None, reuses=reuses, watch=watch, watch_capacity=2000,
        watched=["tree0"], param_alerts=alerts,
        errors=[InternalErrorRecord(where=f"w{k}", message="boom " * 50, count=k) for k in range(200)],
    )  # fmt: skip


def test_a_long_session_stays_within_bounds():
    data = long_session()
    start = time.perf_counter()
    html = reportview.report_html(data)
    trace = json.dumps(reportview.trace_events(data.events, compiles_total=data.compiles_total))
    took = time.perf_counter() - start
    assert len(html.encode()) <= 2 * 2**20, len(html)
    assert len(trace.encode()) <= 3 * 2**20, len(trace)
    page = parse(html)
    compiles = page.section("compiles")
    assert "12,000 compiles of 300 functions" in compiles
    assert "… 275 more functions in the table (least compile time)" in compiles
    assert "… 240 more functions (least compile time)" in compiles and "earlier compiles not shown" in compiles
    assert "… 294 more functions with alerts (the newest shown)" in compiles  # one alert per function
    assert compiles.count("recompiled 20 times") == 6 and "recompiled 10 times" not in compiles
    assert "the session keeps the newest 10,000 compiles" in compiles
    assert "the newest 2,000 of 10,000 compiles kept" in compiles
    assert "the 10 functions with the most compile time drawn, 290 more not drawn" in compiles
    assert "memory: 600 snapshots" in page.section("coverage")
    data.memory_total = 5000  # the session took more than it kept as taken
    coverage = parse(reportview.report_html(data)).section("coverage")
    assert "memory: 5,000 snapshots" in coverage and "drawn at 600 points: the newest 600 as taken" in coverage
    doc = json.loads(trace)
    assert doc["otherData"]["compiles_in_trace"] == reportview.TRACE_EVENTS
    assert doc["otherData"]["left_out"] == 12_000 - reportview.TRACE_EVENTS
    assert any(e["ph"] == "i" and "earlier compiles not in this trace" in e["name"] for e in doc["traceEvents"])
    assert took < 30  # generous on a shared CI machine; benchmarks/bench_report.py states the real bound


def test_the_memory_overview_spans_the_session_in_bounded_points_and_keeps_peaks():
    from jaxinspect.analyze.bufferstats import Overview
    from jaxinspect.glue.session import _memory_points

    o = Overview(512)
    for k in range(100_000):
        o.add((float(k), 1, 10**9 if k == 77_777 else k % 1000, {"cpu:0": k % 1000}))
    pts = o.snapshot()
    assert o.count == 100_000 and len(pts) <= 513
    assert pts[0][0] == 0.0 and pts[-1][0] > 99_000  # from the first snapshot to the newest
    assert (77_777.0, 1, 10**9, {"cpu:0": 777}) in pts  # the peak survives every merge
    assert [p[0] for p in pts] == sorted(p[0] for p in pts)

    class Tracker:  # what _memory_points reads: the newest as taken, the overview before them
        timeline = [(float(k), 1, 5, {}) for k in range(99_990, 100_000)]
        overview = o

    merged = _memory_points(Tracker)
    assert merged[-10:] == Tracker.timeline and all(p[0] < 99_990 for p in merged[:-10])


def test_overlapping_compiles_get_tracks_of_their_own_and_nested_jit_nests():
    t = 1000.0
    outer = _event(1, t, 1)  # 16 ms: trace 4, lower 2, compile 10
    inner = _event(2, t + 0.001, 2, parent="fn_1")  # inside outer's trace... but 16 ms long
    inner = dataclasses.replace(inner, trace_s=0.002, lower_s=None, compile_s=None, total_s=0.002)
    other = _event(3, t + 0.005, 3)  # starts in outer's lower phase, ends after it: overlaps
    worker = _event(4, t + 0.002, 4, thread="worker")
    doc = reportview.trace_events([outer, inner, other, worker])
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert_laminar(slices)
    tid = {e["args"]["id"]: e["tid"] for e in slices if e["cat"] == "jit"}
    assert tid[2] == tid[1]  # the nested jit nests in the outer's trace phase
    assert tid[3] != tid[1] and tid[4] not in (tid[1], tid[3])
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert "MainThread" in names and "worker" in names and "MainThread (overlapping compiles 2)" in names


def test_report_text_twin_says_the_same_facts():
    data = long_session(compiles=400, functions=5, snapshots=10, samples=20)
    text = reportview.report_text(data)
    assert "== Compiles ==" in text and "400 compiles of 5 functions" in text
    assert "`x` changed shape" in text and "cell [4] line" in text
