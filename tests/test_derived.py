"""Derived state is computed once, in the kernel: every number shown as text goes through one
function per quantity (``jaxinspect.units``), records carry that text (``*_text``, ``location``,
``label``, ``reasons_text``, ``diffable``), and the processes' divergence marks come from the
collector's table as a ``processes`` record. The sidebar and the monitor widget display these
fields as they arrive (see labextension/test/derived.test.tsx for the display side)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from jaxinspect import units
from jaxinspect.live.monitorstate import MonitorState
from jaxinspect.live.processtable import NOT_REPORTED, SUMMARY_EVERY, ProcessTable
from jaxinspect.records import (
    BufferGroup,
    BuffersRecord,
    CompileEvent,
    DeviceMemory,
    FunctionCompileStats,
    ProcessesRecord,
    Reason,
    StatusRecord,
)

GiB = 1 << 30


# -- one function per quantity --------------------------------------------------------------------


def test_bytes_read_the_same_everywhere():
    assert units.human_bytes(1.5 * GiB) == "1.5 GiB"  # the sidebar used to say "1.50 GiB"
    assert units.human_bytes(0) == "0 B"
    assert units.human_bytes(512) == "512 B"
    assert units.human_bytes(1536) == "1.5 KiB"
    assert units.human_bytes(12 * 1024) == "12.0 KiB"
    assert units.human_bytes(1023.6) == "1.0 KiB"  # never "1024 B"
    assert units.human_bytes(1024 * 1023.96) == "1.0 MiB"  # never "1024.0 KiB"
    assert units.human_bytes(-2048) == "-2.0 KiB"
    assert units.human_bytes(3 * (1 << 50)) == "3.0 PiB"
    for missing in (None, float("nan"), float("inf"), "x", True):
        assert units.human_bytes(missing) == "–"
    assert units.human_bytes(None, none="unavailable") == "unavailable"


def test_durations_counts_flops_and_values():
    assert units.human_duration(0.0123) == "12.3 ms"
    assert units.human_duration(0.99996) == "1.00 s"  # never "1000.0 ms"
    assert units.human_duration(2.5) == "2.50 s"
    assert units.human_duration(None) == "–" and units.human_duration(float("nan")) == "–"
    assert [units.human_count(n) for n in (950, 999.6, 1234, 12_345, 999_999, 1_234_567, 3.4e9)] == [
        "950", "1.0k", "1.2k", "12k", "1.0M", "1.2M", "3.4B"
    ]
    assert units.human_count(None) == "–"
    assert units.human_flops(950) == "950 FLOP"
    assert units.human_flops(2.5e9) == "2.5 GFLOP"
    assert units.human_flops(1.2e14) == "120 TFLOP"
    assert units.human_flops(None) == "–"
    assert units.human_value(0.025) == "0.02500"
    assert units.human_value(1234.5) in ("1234", "1235")
    assert units.human_value(12.0) == "12" and units.human_value(1_234_567) == "1,234,567"
    assert units.human_value(123456.7) == "1.235e+5" and units.human_value(9999.9) == "1.000e+4"
    assert units.human_value(float("nan")) == "NaN" and units.human_value("-Inf") == "-Inf"
    assert units.human_value(None) == "—"


def test_locations_and_reason_names():
    assert units.location("/tmp/ipykernel_1/123.py:7", 3) == "cell [3] line 7"
    assert units.location(None, 3) == "cell [3] line ?"
    assert units.location("model.py:12", None) == "model.py:12"
    assert units.location(None, None) == "?"
    # the sidebar's names (it used to hold its own table; the cell said "static part")
    assert units.reason_label("static_part") == "static field"
    assert units.reason_label("first_call") == "first call"
    assert units.reason_label("brand_new_kind") == "brand new kind"  # never raw
    assert units.reasons_summary({"first_call": 1, "shape": 4, "weak_type": 0}) == "shape ×4, first call ×1"
    assert units.reasons_summary({}) == "–" and units.reasons_summary(None) == "–"


# -- records carry their text ---------------------------------------------------------------------


def _event(**kw) -> CompileEvent:
    base = dict(
        id=1, fun_key="m:step", fun_name="step", defined_at="m.py:1",
        call_site="/tmp/ipykernel_9/4242.py:7", cell=3, trace_s=0.0012, lower_s=0.0034,
        compile_s=0.0157, total_s=0.0203, persistent_cache=None, time=1.0, thread="MainThread",
        process_index=0, internal=False, parent=None, api="call", signature="f32[3]",
        reasons=(Reason("shape", "x", "(3,)", "(4,)", "`x` changed shape"),),
    )
    base.update(kw)
    return CompileEvent(**base)


def test_a_compile_event_carries_its_place_times_and_whether_it_can_be_diffed():
    e = _event()
    j = e.to_json()
    assert j["location"] == "cell [3] line 7"  # never the kernel's temp file
    assert (j["trace_text"], j["lower_text"], j["compile_text"], j["total_text"]) == (
        "1.2 ms", "3.4 ms", "15.7 ms", "20.3 ms"
    )
    assert j["reasons"][0]["label"] == "shape"
    assert j["diffable"] is True
    json.dumps(j)
    # the rule the sidebar's diff button and the cell's diff both follow (it was in TS and in
    # render/compileslib): a recompile of a jitted function only
    first = Reason("first_call", None, None, None, "first call")
    assert _event(reasons=(first,)).diffable is False
    assert _event(reasons=()).diffable is False
    assert _event(internal=True).diffable is False
    assert _event(fun_key="<eager>.scan").diffable is False  # an un-jitted loop body
    # copies made with dataclasses.replace are re-derived, never stale
    moved = dataclasses.replace(e, cell=None, call_site="train.py:40", total_s=2.5)
    assert (moved.location, moved.total_text) == ("train.py:40", "2.50 s")
    with pytest.raises(TypeError):
        _event(location="forged")  # derived fields are never passed in


def test_function_stats_and_buffers_carry_their_text():
    stats = FunctionCompileStats(
        fun_key="k", fun_name="step", defined_at=None, internal=False, compiles=5, trace_s=0.1,
        lower_s=0.1, compile_s=1.0, total_s=1.2, reasons={"first_call": 1, "shape": 4},
        last_reasons=(), last_time=0.0,
    )
    assert stats.to_json()["total_text"] == "1.20 s"
    assert stats.to_json()["reasons_text"] == "shape ×4, first call ×1"
    dev = DeviceMemory("cpu:0", 0, "cpu", 3, int(1.5 * GiB), None, None, None)
    assert (dev.bytes_text, dev.in_use_text, dev.limit_text) == ("1.5 GiB", "–", "–")


def _buffers(device_bytes: int) -> BuffersRecord:
    group = BufferGroup("params", 2, device_bytes, "f32[4]", None)
    return BuffersRecord(
        seq=1, time=0.0, trigger="api", arrays=2, bytes=device_bytes, device_bytes=device_bytes,
        deleted=0, devices=(DeviceMemory("cpu:0", 0, "cpu", 2, device_bytes, None, None, None),),
        dtypes=(), owners=(group,), sites=(), unowned=BufferGroup("", 0, 0, "", None),
        attributed=True, partial=False, took_s=0.004, interval_s=None,
    )


def test_the_same_bytes_read_identically_in_a_cell_and_in_the_sidebar():
    """The cell's view renders the record; the sidebar shows the record's ``*_text`` fields as
    they arrive (labextension/test/derived.test.tsx checks it displays them verbatim)."""
    from jaxinspect.render import bufferview

    rec = _buffers(int(1.5 * GiB))
    sidebar = rec.to_json()  # what the comm sends
    assert sidebar["device_bytes_text"] == "1.5 GiB"
    assert sidebar["owners"][0]["bytes_text"] == "1.5 GiB"
    assert sidebar["devices"][0]["bytes_text"] == "1.5 GiB"
    cell = bufferview.headline(rec)
    assert f"({sidebar['device_bytes_text']} on devices" in cell
    assert "1.50 GiB" not in cell
    assert "1.5 GiB" in bufferview.buffers_text(rec, [], [])


def test_a_compile_reads_identically_in_a_cell_and_in_the_sidebar(ip):
    """A real compile in a notebook cell: the record the sidebar receives names the same place
    and time the cell's report shows."""
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    ip.run_cell("import jax, jax.numpy as jnp\n\n@jax.jit\ndef sq(x):\n    return x * x\n")
    ip.run_cell("sq(jnp.ones(3))\nsq(jnp.ones(5))\n")
    hub = extension.current().hub
    ev = [r for r in hub.recent("compile") if r["fun_name"] == "sq"][-1]
    assert ev["location"].startswith("cell [") and ev["location"].endswith("] line 2")
    assert ev["diffable"] is True and ev["reasons"][0]["label"] == "shape"
    stats = [r for r in hub.recent("compile_stats") if r["fun_name"] == "sq"][-1]
    view = ip.run_line_magic("jaxinspect", "compiles")
    for shown in (repr(view), view._repr_mimebundle_()["text/html"]):
        assert ev["location"] in shown
        assert stats["total_text"] in shown and ev["total_text"] in shown


# -- processes: divergence marks computed once, by the collector's table ----------------------------


def _table(stats: list[tuple[int, str, int]], procs: int = 2, **extra) -> ProcessTable:
    """``stats``: (connection id, function name, compiles)."""
    table = ProcessTable()
    for pid in range(1, procs + 1):
        table.add({"kind": "process", "id": pid, "process_index": pid - 1, "host": f"h{pid}",
                   "pid": 100 + pid, "state": "connected"})
    for pid, name, n in stats:
        table.add({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "compile_stats", "fun_key": f"{pid}:{name}", "fun_name": name, "compiles": n,
            "total_s": 0.0203 * n, "last_reasons": [], "last_time": 1.0, "internal": False,
            **extra}})
    return table


def test_a_function_compiled_a_different_number_of_times_is_marked_and_sorted_first():
    rows = _table([(1, "step", 1), (2, "step", 0), (1, "init", 1), (2, "init", 1)]).function_rows()
    assert [(r.name, r.differs) for r in rows] == [("step", True), ("init", False)]
    assert rows[0].counts == {"1": 1}  # a process that never compiled it: absent, and it differs
    equal = _table([(1, "step", 1), (2, "step", 1), (1, "init", 1), (2, "init", 1)]).function_rows()
    assert [(r.name, r.differs) for r in equal] == [("init", False), ("step", False)]  # by name
    # one process never differs
    assert _table([(1, "step", 3)], procs=1).function_rows()[0].differs is False
    # JAX-internal compiles are left out of the functions, counted apart per process
    table = _table([(1, "step", 2), (2, "step", 2)])
    table.add({"kind": "remote", "source": 1, "process_index": 0, "record": {
        "kind": "compile_stats", "fun_key": "bc", "fun_name": "broadcast_in_dim", "compiles": 9,
        "total_s": 0.1, "last_reasons": [], "internal": True}})
    assert [r.name for r in table.function_rows()] == ["step"]
    facts = table.record().processes
    assert [(f.compiles, f.internal_compiles) for f in facts] == [(2, 9), (2, 0)]
    assert facts[0].compile_text == units.human_duration(0.0203 * 2)


def test_the_reason_shown_is_the_newest_of_the_process_that_compiled_most():
    table = _table([(1, "step", 2), (2, "step", 6)])
    for pid, t, msg in ((1, 5.0, "from p0"), (2, 1.0, "old p1"), (2, 2.0, "from p1")):
        table.add({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "compile_stats", "fun_key": f"{pid}:step", "fun_name": "step",
            "compiles": 2 if pid == 1 else 6, "total_s": 0.1, "last_time": t, "internal": False,
            "last_reasons": [{"kind": "shape", "message": msg}]}})
    row = table.function_rows()[0]
    assert (row.reason, row.reason_from) == ("from p1", 2)


def test_rows_are_bounded_and_say_how_many_differing_ones_were_left_out():
    stats = []
    for i in range(57):
        stats += [(1, f"f{i:02d}", i + 1), (2, f"f{i:02d}", i + 2 if i < 2 else i + 1)]
    rec = _table(stats).record()
    names = [r.name for r in rec.functions]
    assert len(names) == 50 and names[:3] == ["f01", "f00", "f56"] and names[-1] == "f09"
    assert (rec.more_functions, rec.more_differing, rec.differing) == (7, 0, 2)
    one_sided = _table([(1, f"f{i}", 2) for i in range(53)]).record()
    assert (one_sided.more_functions, one_sided.more_differing, one_sided.differing) == (3, 3, 53)
    assert isinstance(one_sided, ProcessesRecord) and one_sided.to_json()["kind"] == "processes"
    json.dumps(one_sided.to_json())


def test_process_facts_say_what_the_allocator_did_not_report():
    table = _table([])
    assert [f.in_use_text for f in table.record().processes] == ["–", "–"]  # no snapshot yet
    table.add({"kind": "remote", "source": 1, "process_index": 0, "record": {
        "kind": "buffers", "seq": 1, "arrays": 7, "bytes": 3 << 20, "devices": [
            {"device": "cuda:0", "bytes_in_use": 1024, "peak_bytes_in_use": 4096},
            {"device": "cuda:1", "bytes_in_use": 2048, "peak_bytes_in_use": 1024}]}})
    table.add({"kind": "remote", "source": 2, "process_index": 1, "record": {
        "kind": "buffers", "seq": 1, "arrays": 2, "bytes": 100, "devices": [{"device": "cpu:0"}]}})
    facts = table.record().processes
    assert [(f.arrays, f.bytes_text) for f in facts] == [(7, "3.0 MiB"), (2, "100 B")]
    assert [f.in_use_text for f in facts] == [units.human_bytes(3072), NOT_REPORTED]
    assert [f.peak_text for f in facts] == [units.human_bytes(5120), NOT_REPORTED]


def test_the_processes_record_is_published_after_each_process_record_and_at_most_4_per_second():
    table = ProcessTable()
    proc = {"kind": "process", "id": 1, "process_index": 0, "state": "connected"}
    stat = {"kind": "remote", "source": 1, "process_index": 0, "record": {
        "kind": "compile_stats", "fun_key": "k", "fun_name": "step", "compiles": 1, "internal": False}}
    table.add(proc)
    first = table.summary_due(proc, now=0.0)
    assert first is not None and first["kind"] == "processes" and first["seq"] == 1
    assert table.summary_due(proc, now=0.01) is None  # nothing changed since
    table.add(stat)
    assert table.summary_due(stat, now=0.01) is None  # too soon after the last
    table.add(proc)
    due = table.summary_due(proc, now=0.02)  # a process record always publishes the last state
    assert due is not None and due["functions"][0]["name"] == "step"
    table.add(stat)
    assert table.summary_due(stat, now=0.02 + SUMMARY_EVERY) is not None


def test_the_collector_publishes_the_processes_record_to_the_hub(ip):
    import jaxinspect
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    hub = extension.current().hub
    collector = jaxinspect.collect_processes()
    try:
        for rec in (
            {"kind": "process", "id": 1, "process_index": 0, "state": "connected"},
            {"kind": "process", "id": 2, "process_index": 1, "state": "connected"},
            {"kind": "remote", "source": 2, "process_index": 1, "record": {
                "kind": "compile_stats", "fun_key": "k", "fun_name": "step", "compiles": 2,
                "internal": False}},
            {"kind": "process", "id": 2, "process_index": 1, "state": "connected"},
        ):
            collector._publish(rec)  # as the connection threads do
        latest = hub.recent("processes")[-1]
        assert latest["functions"][0]["name"] == "step" and latest["functions"][0]["differs"]
        assert latest["differing"] == 1
        assert len(hub.recent("processes")) <= 2  # the newest replaces the rest
    finally:
        collector.close()


def test_the_monitor_shows_kernel_text():
    state, delta = MonitorState(), {}
    recs = []
    for pid in (1, 2):
        recs.append({"kind": "process", "id": pid, "process_index": pid - 1, "host": "h",
                     "pid": 100 + pid, "state": "connected"})
        recs.append({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "compile_stats", "fun_key": "k", "fun_name": "step", "compiles": pid,
            "total_s": 0.1, "last_reasons": [], "internal": False}})
        recs.append({"kind": "remote", "source": pid, "process_index": pid - 1, "record": {
            "kind": "buffers", "seq": 1, "arrays": 3, "bytes": int(1.5 * GiB), "devices": []}})
    recs.append(_buffers(int(1.5 * GiB)).to_json())
    recs.append({"kind": "status", "busy": True, "execution_count": 3, "cell_elapsed_s": 2.0})
    recs.append({"kind": "keys", "tracking": True, "created": 1234, "derived": 2, "consumed": 3,
                 "reuses": 0})
    state.apply(recs, delta)
    state.add_scalars([(1, "loss", 0.025), (2, "loss", math.nan)], delta)
    procs = delta["processes"]
    assert [r["bytes_text"] for r in procs["rows"]] == ["1.5 GiB", "1.5 GiB"]
    assert procs["differs"][0]["message"] == (
        "step compiled a different number of times per process (p0: 1 · p1: 2): "
        "they may be running different programs"
    )
    assert delta["memory"]["bytes_text"] == "1.5 GiB"
    assert delta["memory"]["owners"][0]["text"] == "1.5 GiB (2 arrays)"
    assert delta["memory"]["devices"][0]["text"] == "1.5 GiB"
    assert delta["status"]["elapsed_text"] == "2.00 s"
    assert delta["keys"]["text"] == "tracking on · 1,234 created · 2 derived · 3 uses · 0 reuses"
    assert delta["scalar_text"] == {"loss": "NaN"}
    assert state.snapshot()["scalar_text"] == {"loss": "NaN"}


def test_every_reason_kind_the_kernel_documents_or_makes_has_a_short_name():
    """(Moved from the sidebar's test: the names now live in the kernel.)"""
    import re
    from pathlib import Path

    from jaxinspect import records

    root = Path(records.__file__).parent
    doc = records.Reason.__doc__ or ""
    listed = re.search(r"``kind`` is one of:([\s\S]*?)\.\s*$", doc.strip() + "\n")
    assert listed is not None
    flat = listed.group(1)
    while re.search(r"\([^()]*\)", flat):  # drop the explanations in parentheses
        flat = re.sub(r"\([^()]*\)", "", flat)
    documented = [k.strip() for k in flat.split(",") if k.strip()]
    made = []
    for file in ("collect/compilelib.py", "collect/signaturelib.py"):
        made += re.findall(r'\bReason\(\s*"([a-z_]+)"', (root / file).read_text())
    kinds = set(documented) | set(made) | set(units.REASON_LABELS)
    for k in ("static_part", "class", "metadata", "partial", "body", "first_call"):
        assert k in documented
    assert "static_part" in made
    for k in kinds:
        assert k in units.REASON_LABELS, k
        name = units.reason_label(k)
        assert "_" not in name and len(name) <= 18, name
    assert units.reason_label("class") == "model class"
    assert units.reason_label("partial") == "new partial" and units.reason_label("body") == "loop body"
    assert units.reason_label("constructor") == "constructor"  # not an inherited attribute
    assert units.reasons_summary({"first_call": 1, "static_part": 1}) == "first call ×1, static field ×1"


def test_parameter_norms_ratios_and_counts_are_written_once():
    """(Moved from the sidebar's formatter tests; the cell views use the same functions.)"""
    from jaxinspect.records import ParamLayer, ParamWatchRecord

    assert [units.human_count(n) for n in (0, 999, 1000, 7_000_000_000, -1500)] == [
        "0", "999", "1.0k", "7.0B", "-1.5k"
    ]
    assert [units.human_ratio(x) for x in (0.0012, 0.5, 3, 0, None, math.nan, math.inf)] == [
        "1.2e-3", "5.0e-1", "3.0e0", "0", "–", "NaN", "inf"
    ]
    assert [units.human_norm(x) for x in (33.25, 0.123456, 1234.4, 123456, 0.0000456, 0, None, -math.inf)] == [
        "33.25", "0.1235", "1234", "1.23e5", "4.56e-5", "0", "–", "-inf"
    ]
    # a norm the kernel could not compute because values were NaN / Inf reads as such
    assert units.human_norm(None, nan=1, inf=1) == "NaN" and units.human_norm(None, inf=2) == "inf"
    layers = (
        ParamLayer("nan", 1, 4, None, None, 2, 0),
        ParamLayer("ok", 1, 1_049_600, 32.5, 0.0012, 0, 0, 0.01, 0.05, -0.2, 0.21, 0.0),
        ParamLayer("empty", 1, 4, None, None, 0, 4, None, None, None, None, 0.0),
    )
    j = [layer.to_json() for layer in layers]
    assert [x["norm_text"] for x in j] == ["NaN", "32.5", "inf"]
    assert (j[1]["values_text"], j[1]["update_text"]) == ("1.0M", "1.2e-3")
    assert j[1]["stats_text"] == "mean 0.01 · std 0.05 · min -0.2 · max 0.21 · zeros 0%"
    assert j[2]["stats_text"] == ""  # no finite value: no statistics
    w = ParamWatchRecord(
        name="params", seq=1, step=3, time=0.0, leaves=3, values=1_059_850, norm=None, update=None,
        nonfinite=1, layers=layers, more_layers=0, took_s=0.0021, interval_s=None, note=None,
    ).to_json()
    assert (w["norm_text"], w["update_text"], w["values_text"], w["took_text"]) == (
        "NaN", "–", "1.1M", "2.1 ms"
    )


def test_the_kernel_status_carries_the_cell_time_as_text():
    status = StatusRecord(seq=1, time=0.0, busy=True, execution_count=4, cell_elapsed_s=12.3456,
                          events_total=0, events_by_kind={}, subscribers=0, internal_errors=0)
    assert status.to_json()["cell_elapsed_text"] == "12.35 s"
    idle = dataclasses.replace(status, busy=False, cell_elapsed_s=None)
    assert idle.cell_elapsed_text == "–"


def test_a_nan_alert_carries_its_headline_and_leaf_count():
    """(Moved from the sidebar: it used to strip the cause off the message and count leaves.)"""
    from jaxinspect.records import ParamAlert

    first = ParamAlert(id=1, time=0.0, name="params", step=9, path="['c']", nan=1, inf=0,
                       message="params: first NaN at step 9", hint="h", bad_leaves=1, total_leaves=3)
    assert (first.headline, first.leaves_text) == ("params: first NaN at step 9", "1 of 3 leaves non-finite")
    cause = "the first NaN came from `log` at cell [4] line 6"
    replayed = dataclasses.replace(first, cause=cause, message=f"{first.message}. Cause: {cause}")
    assert replayed.headline == "params: first NaN at step 9"  # the cause is shown on its own
    assert dataclasses.replace(first, bad_leaves=40, total_leaves=40).leaves_text == "all 40 leaves non-finite"
    assert dataclasses.replace(first, total_leaves=1).leaves_text == "1 of 1 leaves non-finite"
    assert dataclasses.replace(first, bad_leaves=0, total_leaves=0).leaves_text is None


def test_norms_compile_times_and_snapshot_times_read_the_same_in_cells_and_the_sidebar():
    """Each cell view writes these quantities with the function whose text the sidebar shows."""
    from jaxinspect.glue.paramdisplay import WatchHistoryView
    from jaxinspect.records import ParamLayer, ParamWatchRecord
    from jaxinspect.render import bufferview, processview

    layer = ParamLayer("dense", 2, 1000, 123456.7, 0.00123, 0, 0)
    sample = ParamWatchRecord(
        name="params", seq=1, step=5, time=0.0, leaves=2, values=1000, norm=0.123456,
        update=0.00123, nonfinite=0, layers=(layer,), more_layers=0, took_s=0.01,
        interval_s=None, note=None,
    )
    cell = WatchHistoryView([sample]).text()
    for shown in (sample.norm_text, sample.update_text, layer.norm_text, layer.update_text):
        assert shown in cell, (shown, cell)
    assert (layer.norm_text, layer.update_text) == ("1.23e5", "1.2e-3")

    table = _table([(1, "step", 2), (2, "step", 3)])
    facts = table.record().processes
    cell = processview.text(table.snapshot(), "127.0.0.1:1")
    assert all(f.compile_text in cell for f in facts)  # "2 (40.6 ms)" as in the sidebar's row

    rec = _buffers(4096)
    assert f"took {rec.took_text}" in bufferview.headline(rec)  # the sidebar: "took 4.0 ms"


def test_a_key_reuse_names_both_uses_as_the_cell_view_does():
    """(Moved from the sidebar's keyUseText test.)"""
    from jaxinspect.records import KeyReuse
    from jaxinspect.render import keyview

    reuse = KeyReuse(id=1, time=0.0, where="eager", reuse="consumed twice", key="k", function=None,
                     first_op="normal", first_site=None, second_op="uniform",
                     second_site="cell [3] line 6", path=("k",), count=1, message="m", hint="h")
    assert (reuse.first_use, reuse.second_use) == ("normal", "uniform @ cell [3] line 6")
    assert keyview._use("uniform", "cell [3] line 6") == reuse.second_use


def test_the_monitor_gets_its_compile_totals_and_order_from_the_kernel():
    """The widget and the monitor's text twin both show ``compiles`` (they used to sum and sort
    the function rows each on their own)."""
    from jaxinspect.render import monitorview

    state, delta = MonitorState(), {}
    stats = [("a", "alpha", 1), ("b", "beta", 3), ("c", "gamma", 3)]
    state.apply([{"kind": "compile_stats", "fun_key": k, "fun_name": n, "compiles": c, "total_s": 0.1,
                  "last_reasons": [], "internal": False} for k, n, c in stats], delta)
    assert delta["compiles"] == {"total": 7, "functions": 3, "text": "7 compiles in 3 functions",
                                 "top": ["b", "c", "a"]}
    text = monitorview.summary_text(state.snapshot())
    assert "7 compiles in 3 functions" in text
    assert text.index("beta: 3×") < text.index("gamma: 3×") < text.index("alpha: 1×")


def test_the_processes_summary_line_and_duplicate_claims_come_from_the_kernel():
    """(Moved from the sidebar; the cell's headline now reads the same line.)"""
    from jaxinspect.render import processview

    def table(*procs: dict) -> ProcessTable:
        t = ProcessTable()
        for p in procs:
            t.add({"kind": "process", "host": "h", "pid": 1, **p})
        return t

    three = table({"id": 1, "process_index": 0, "process_count": 3, "state": "connected"},
                  {"id": 2, "process_index": 1, "process_count": 3, "state": "connected"},
                  {"id": 3, "process_index": 2, "process_count": 3, "state": "lost"})
    assert three.record().summary == "3 processes · 2 connected · 1 lost"
    assert "Processes: 3 processes · 2 connected · 1 lost" in processview.text(three.snapshot(), None)
    one = table({"id": 1, "process_index": 0, "process_count": 1, "state": "connected"})
    assert one.summary() == "1 process · 1 connected"
    partial = table({"id": 1, "process_index": 0, "process_count": 4, "state": "connected"},
                    {"id": 2, "process_index": 1, "process_count": 4, "state": "done"})
    assert partial.summary() == "2 processes · 1 connected · 1 done · job of 4"
    # a process known only from its records does not say how big the job is
    partial.add({"kind": "remote", "source": 9, "process_index": 5, "record": {"kind": "status"}})
    assert partial.summary() == "3 processes · 2 connected · 1 done · job of 4"
    ended = table({"id": 1, "process_index": 0, "process_count": 2, "state": "closed"},
                  {"id": 2, "process_index": 1, "process_count": 2, "state": "closed"})
    assert ended.summary() == "2 processes · 2 closed"  # what the notebooks' cells read
    claims = table({"id": 1, "process_index": 0, "state": "connected"},
                   {"id": 2, "process_index": 0, "state": "connected"},
                   {"id": 3, "process_index": 1, "state": "lost"},
                   {"id": 4, "process_index": 1, "state": "connected"})
    assert claims.record().to_json()["duplicates"] == {"0": 2}
