"""The in-cell monitor: state folding into deltas, the message rate under a fast loop, the final
state, degraded front ends, and its lifecycle."""

import json
import time

import jax.numpy as jnp
import pytest

import jaxinspect
from jaxinspect.glue import extension
from jaxinspect.glue import monitor as monitorlib
from jaxinspect.glue.display import Message
from jaxinspect.live.monitorstate import HISTORY, MonitorState
from jaxinspect.render import monitorview


@pytest.fixture
def loaded(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    yield extension.current()
    ip.run_line_magic("unload_ext", "jaxinspect")


def _stats(key, name, n, reason=None):
    return {
        "kind": "compile_stats", "fun_key": key, "fun_name": name, "internal": False, "compiles": n,
        "total_s": 0.1 * n, "last_reasons": [{"message": reason}] if reason else [],
    }  # fmt: skip


def test_deltas_carry_only_what_changed():
    state = MonitorState()
    d1: dict = {}
    state.apply([_stats("a", "step", 1), _stats("b", "eval", 1)], d1)
    state.add_scalars([(0, "loss", 2.0), (1, "loss", 1.5)], d1)
    assert set(d1["functions"]) == {"a", "b"} and d1["scalars"] == {"loss": [[0, 2.0], [1, 1.5]]}
    d2: dict = {}
    state.apply([_stats("a", "step", 2, "x: shape f32[32] → f32[17]")], d2)
    state.add_scalars([(2, "loss", 1.2)], d2)
    assert set(d2["functions"]) == {"a"} and d2["functions"]["a"]["last_reason"].startswith("x: shape")
    assert d2["scalars"] == {"loss": [[2, 1.2]]}  # one new point, not the history
    d3: dict = {}
    state.add_scalars([(3, "loss", float("nan"))], d3)
    assert d3["scalars"]["loss"] == [[3, "NaN"]] and "loss became NaN at step 3" in d3["alerts"][0]["message"]
    json.dumps(d3, allow_nan=False)  # valid JSON for the front end
    for i in range(4, 1000):
        state.add_scalars([(i, "loss", 1.0 / i)], {})
    snap = state.snapshot()
    assert len(snap["scalars"]["loss"]) == HISTORY and snap["scalars"]["loss"][-1][0] == 999


def test_a_fast_loop_sends_at_most_about_ten_updates_a_second_and_keeps_the_final_state(loaded):
    pytest.importorskip("anywidget")  # not in the jax 0.10 compatibility env
    mon = monitorlib.Monitor(loaded, mode="widget", plot=False)
    sent = []
    mon.widget.send = lambda msg: sent.append(json.dumps(msg))
    start = time.monotonic()
    step = 0
    while time.monotonic() - start < 2.0:  # well above 10 000 steps/s of logging
        mon.log(step, loss=1.0 / (step + 1), lr=0.1)
        step += 1
    elapsed = time.monotonic() - start
    mon.flush(final=True)
    assert step / elapsed > 10_000
    assert 5 <= len(sent) <= 10 * elapsed + 3
    last = mon.widget.snapshot["scalars"]["loss"][-1]
    assert last[0] == step - 1  # the final state is never lost
    assert max(len(m) for m in sent) < 60_000  # deltas, not histories
    received = [json.loads(m)["delta"] for m in sent]
    assert all(len(d.get("scalars", {}).get("loss", [])) <= HISTORY for d in received)
    mon.close()
    assert mon not in loaded.monitors


def test_device_scalars_are_read_off_the_loop_and_bad_input_never_raises(loaded):
    mon = monitorlib.Monitor(loaded, mode="text")
    mon.log(0, loss=jnp.float32(0.5))
    mon.log("not a step", loss=1.0)  # said once on stderr; the point is kept at the next step
    mon.log(1, loss="n/a", acc=jnp.ones(3))  # non-scalars are skipped (said once, by name)
    mon.log(2, **{"<b>odd name</b>": 3.0})
    text = mon.text()
    assert "loss: 1 at step 1 (2 points)" in text and "<b>odd name</b>: 3 at step 2" in text
    assert "acc" not in mon.snapshot()["scalars"]  # (a user variable named acc may hold memory)
    mon.close()


def test_monitor_shows_compiles_watched_params_memory_and_keys(ip, loaded):
    from jaxinspect.collect import keyslib

    keyslib.tracker().clear()  # counts from earlier tests
    mon = jaxinspect.monitor(mode="text")
    assert mon.mode == "text" and loaded.buffer_interval > 0 and loaded.sampler.running
    ip.run_cell(
        "import jax, jax.numpy as jnp, jaxinspect\n"
        "f = jax.jit(lambda x: x * 2)\n"
        "f(jnp.ones(3)); f(jnp.ones(4))\n"
        "params = {'w': jnp.ones((4, 4))}\n"
        "jaxinspect.watch('params', params, step=3)\n"
    )
    loaded.sample_params()
    loaded.sample_buffers("cell")
    ip.run_cell("jaxinspect.track_keys(); k = jax.random.key(0); jax.random.normal(k); jaxinspect.keys()")
    loaded.publish_keys(force=True)
    loaded.cell_finished_monitors()
    text = mon.text()
    assert "2 compiles in 1 function" in text and "<lambda>: 2×" in text
    assert "params: step 3, norm 4" in text
    assert "memory: " in text and " arrays" in text
    assert "keys: tracking on, 1 uses, 0 reuses" in text
    ip.run_line_magic("jaxinspect", "keys off")


def test_modes_and_the_magic(ip, loaded, monkeypatch):
    assert monitorlib.pick_mode("auto", None) == "text"
    assert monitorlib.pick_mode("auto", ip) == "text"  # in-process shell: no kernel

    class FakeKernelShell:
        kernel = object()

    try:
        import anywidget  # noqa: F401

        assert monitorlib.pick_mode("auto", FakeKernelShell()) == "widget"
    except ImportError:
        assert monitorlib.pick_mode("auto", FakeKernelShell()) == "display"
    import builtins

    real_import = builtins.__import__

    def no_anywidget(name, *a, **k):
        if name == "anywidget":
            raise ImportError("no anywidget")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_anywidget)
    assert monitorlib.pick_mode("auto", FakeKernelShell()) == "display"
    monkeypatch.setattr(builtins, "__import__", real_import)

    mon = ip.run_line_magic("jaxinspect", "monitor --text")
    assert isinstance(mon, monitorlib.Monitor) and mon.mode == "text"
    again = ip.run_line_magic("jaxinspect", "monitor --display --no-plot")
    assert mon.closed and again.mode == "display"  # one monitor per kernel
    bad = ip.run_line_magic("jaxinspect", "monitor --sideways")
    assert isinstance(bad, Message) and "usage: %jaxinspect monitor" in bad.text
    assert isinstance(jaxinspect.monitor(mode="nope"), Message)
    off = ip.run_line_magic("jaxinspect", "monitor --off")
    assert off.text == "closed 1 monitor" and again.closed and not loaded.monitors
    assert not loaded.sampler.running and loaded.buffer_interval == 0


def test_unload_closes_monitors(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    mon = jaxinspect.monitor(mode="widget", plot=False)  # "display" where anywidget is missing
    assert mon._thread.is_alive()
    ip.run_line_magic("unload_ext", "jaxinspect")
    assert mon.closed
    mon._thread.join(timeout=2)
    assert not mon._thread.is_alive()


def test_the_first_names_logged_are_kept_even_when_a_drain_cuts_a_step_and_trims(loaded):
    """A drain that ends in the middle of a step and holds more points than fit: trimming to the
    newest points per curve must not change which names count as first logged (the kept curves
    were metric_18..33 when the hub's flush landed mid-step)."""
    mon = monitorlib.Monitor(loaded, mode="text")
    mon.close()  # no hub flushes: this test drains by hand
    mon.closed = False
    for step in range(1000):
        for i in range(40):
            mon._points.append((step, f"metric_{i}", float(step)))
    for i in range(18):  # step 1000 half logged when the drain comes
        mon._points.append((1000, f"metric_{i}", 1000.0))
    delta = mon._drain()
    kept = list(mon.state.scalars)
    assert kept == [f"metric_{i}" for i in range(16)], kept
    assert delta["more_scalars"] == 24 and mon.state.scalars["metric_0"][-1] == [1000, 1000.0]
    text = monitorview.summary_text(mon.state.snapshot())
    assert "metric_15: " in text and "metric_16: " not in text and "metric_18: " not in text


def test_the_widget_is_shown_beside_a_snapshot_that_reads_anywhere_and_no_plotly_by_default(loaded):
    """The monitor's outputs: the widget view (its text/plain a sentence, never
    "VBox(children=(<…MonitorWidget object at 0x…>, Figure…"), then a text/plain + text/html
    snapshot (curves as inline SVG, alerts) updated in place when a cell ends; plotly only on
    request (plot=True)."""
    pytest.importorskip("anywidget")
    from IPython.utils.capture import capture_output

    mon = monitorlib.Monitor(loaded, mode="widget")
    assert mon.figure is None and mon.widget.curves and mon.widget.snapshot_key == mon.key
    with capture_output() as shown:
        mon._ipython_display_()
    widget, snap = shown.outputs
    view = widget.data["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == mon.widget.model_id and widget.data["text/plain"] == monitorlib.WIDGET_TEXT
    assert set(snap.data) == {"text/plain", "text/html"} and snap.transient["display_id"]
    assert "nothing recorded yet" in snap.data["text/plain"]
    assert f'class="jaxinspect-monitor-snapshot {mon.key}"' in snap.data["text/html"]
    for step in range(50):
        mon.log(step, loss=1.0 / (step + 1) if step < 30 else float("nan"), **{"<b>lr</b>": 0.1})
    with capture_output() as updated:
        mon.flush(final=True)  # what a cell's end does
    (update,) = updated.outputs
    assert update.update and update.transient["display_id"] == snap.transient["display_id"]
    text, html = update.data["text/plain"], update.data["text/html"]
    assert "loss: NaN at step 49 (50 points)" in text and "⚠ loss became NaN at step 30" in text
    assert "loss became NaN at step 30" in html and "<b>lr</b>" not in html and "&lt;b&gt;lr&lt;/b&gt;" in html
    assert 'data-name="loss" data-points="50"' in html  # the curve, as SVG
    assert "loss: NaN from step 30 to 49 (20 points)" in html  # the NaN run, marked
    assert "plotly" not in html.lower() and len(html) < 100_000
    with capture_output() as again:
        mon.flush(final=True)  # nothing changed: no update sent
    assert not again.outputs
    mon.close()
    plotly = pytest.importorskip("plotly")
    opted = monitorlib.Monitor(loaded, mode="widget", plot=True)
    with capture_output() as shown:
        opted._ipython_display_()
    assert isinstance(opted.figure, plotly.graph_objects.FigureWidget)
    assert [sorted(o.data) for o in shown.outputs][1] == ["application/vnd.jupyter.widget-view+json", "text/plain"]
    opted.close(widgets=True)


def test_display_mode_refreshes_one_snapshot_with_text_and_html(loaded):
    from IPython.utils.capture import capture_output

    mon = monitorlib.Monitor(loaded, mode="display")
    mon._stop.set()  # no refresh from the monitor's thread: this test refreshes by hand
    mon._thread.join(timeout=2)
    with capture_output() as shown:
        mon._ipython_display_()
    (snap,) = shown.outputs
    assert set(snap.data) == {"text/plain", "text/html"}  # not "<IPython.core.display.HTML object>"
    mon.log(0, loss=2.0)
    mon.log(1, loss=1.0)
    with capture_output() as updated:
        mon.flush(final=True)
    assert "loss: 1 at step 1 (2 points)" in updated.outputs[0].data["text/plain"]
    assert "<svg" in updated.outputs[0].data["text/html"]
    mon.close()
