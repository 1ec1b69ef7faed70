"""jaxinspect.watch / %jaxinspect watch: norms, update ratios, NaN alerts, donated buffers."""

from __future__ import annotations

import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinspect
from jaxinspect import api
from jaxinspect.collect import paramlib
from jaxinspect.glue.display import Message
from jaxinspect.records import ParamAlert, ParamWatchRecord


@pytest.fixture
def watcher():
    w = paramlib.Watcher()
    yield w
    w.close()


@pytest.fixture
def every_call(monkeypatch):
    """Check every call: the cost cap off (tiny test steps on a busy machine would otherwise be
    thinned by it; it has tests of its own in test_nan_exact.py)."""
    monkeypatch.setattr(paramlib.Watcher, "_affordable", staticmethod(lambda track: True))


def records(out):
    recs, alerts = out
    return recs, alerts


def test_watch_returns_the_value_and_keeps_no_old_buffers(watcher):
    old = {"w": jnp.ones((64, 64)) + 1}
    ref = weakref.ref(old["w"])
    assert jaxinspect.watch("p", old, step=0) is old
    watcher.watch("p", old, 0)
    new = {"w": old["w"] * 2}
    watcher.watch("p", new, 1)
    api.unwatch("p")
    del old
    gc.collect()
    assert ref() is None  # replaced by the newer value: the old buffer is gone
    recs, _ = watcher.sample()
    assert recs[0].step == 1 and recs[0].values == 64 * 64


def test_norms_layers_and_update_ratio(watcher):
    key = jax.random.key(0)
    params = {"dense": {"kernel": jax.random.normal(key, (256, 256)), "bias": jnp.zeros(256)}}
    watcher.watch("params", params, 0)
    (first,), _ = watcher.sample()
    assert isinstance(first, ParamWatchRecord) and first.update is None
    assert first.norm == pytest.approx(float(jnp.linalg.norm(params["dense"]["kernel"])), rel=1e-4)
    assert [layer.path for layer in first.layers] == ["['dense']"]
    step = jax.random.normal(jax.random.key(1), (256, 256)) * 0.01
    params = {"dense": {"kernel": params["dense"]["kernel"] + step, "bias": jnp.zeros(256)}}
    watcher.watch("params", params, 1)
    (second,), _ = watcher.sample()
    true = float(jnp.linalg.norm(step) / jnp.linalg.norm(params["dense"]["kernel"]))
    assert second.update == pytest.approx(true, rel=0.25)  # a 64-bucket sketch: an estimate
    assert second.layers[0].update == pytest.approx(true, rel=0.25)
    assert second.seq == 2


def test_a_sample_that_saw_no_change_keeps_the_last_steps_update_ratio(watcher):
    """Training ended (or paused) and the sampler reads the same step again: the update ratio
    is still the last step's, not 0; a real zero update at a new step (frozen weights) is 0."""
    params = {"dense": {"kernel": jax.random.normal(jax.random.key(0), (128, 128))}}
    watcher.watch("params", params, 0)
    watcher.sample()
    params = {"dense": {"kernel": params["dense"]["kernel"] * 1.01}}
    watcher.watch("params", params, 1)
    (moved,), _ = watcher.sample()
    assert moved.update and moved.update > 0
    watcher.watch("params", params, 1)  # the same step, the same values, sampled again
    (again,), _ = watcher.sample()
    assert again.update == moved.update and again.layers[0].update == moved.layers[0].update
    watcher.watch("params", params, 2)  # a new step that changed nothing: a true zero
    (frozen,), _ = watcher.sample()
    assert frozen.update == 0.0 and frozen.layers[0].update == 0.0


def test_nan_injected_in_a_training_loop_is_named_with_its_step(watcher, every_call):
    @jax.jit
    def train_step(params, x, lr):
        def loss(p):
            h = jnp.tanh(x @ p["l1"]["w"])
            return jnp.mean((h @ p["l2"]["w"]) ** 2)

        grads = jax.grad(loss)(params)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    params = {"l1": {"w": jnp.ones((4, 8)) * 0.1}, "l2": {"w": jnp.ones((8, 2)) * 0.1}}
    x = jnp.ones((16, 4))
    for i in range(12):
        params = train_step(params, x, 0.01)
        if i == 7:  # a bad update lands in one layer
            params["l2"]["w"] = params["l2"]["w"].at[3, 1].set(jnp.nan)
        jaxinspect.watch("ignored-outside-a-kernel", params, step=i)
        watcher.watch("params", params, step=i)
        if i % 2 == 1:
            recs, _ = watcher.sample()
            if i < 7:
                assert recs[0].nonfinite == 0
    assert watcher.checker.drain()
    alerts = list(watcher.alerts)
    assert len(alerts) == 1, alerts  # once, not at every later step
    alert = alerts[0]
    assert isinstance(alert, ParamAlert)
    # every call was checked: the exact step, not a window between two samples
    assert alert.path == "['l2']['w']" and alert.step == 7 and alert.last_finite_step == 6
    assert alert.nan == 1 and alert.bad_leaves == 1 and alert.total_leaves == 2
    assert "first NaN at step 7, last finite step 6 (every watched step checked)" in alert.message
    assert "1 of 2 leaves: ['l2']['w'] (1 NaN)" in alert.message


def test_donated_buffers_skip_the_sample_and_say_so_once(watcher):
    params = {"w": jnp.ones(8) + 1}
    watcher.watch("params", params, 3)
    params["w"].delete()  # what donation does to the buffer the watcher holds
    (rec,), alerts = watcher.sample()
    assert rec.leaves == 0 and "donated or deleted" in rec.note and not alerts
    (rec2,), _ = watcher.sample()
    assert rec2.note is None  # said once
    watcher.watch("params", {"w": jnp.ones(8)}, 4)
    (rec3,), _ = watcher.sample()
    assert rec3.leaves == 1 and rec3.note is None


def test_watch_never_raises_into_the_loop():
    class Weird:
        pass

    assert isinstance(jaxinspect.watch("weird", Weird(), step="not an int"), Weird)
    out = paramlib.Watcher()
    out.watch("weird", Weird(), None)
    (rec,), _ = out.sample()
    assert rec.leaves == 0 and "no array leaves" in rec.note


def test_watch_magic_interest_and_sampler(ip):
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        inspector = extension.current()
        got = []
        token = inspector.hub.subscribe(lambda batch: got.extend(batch["records"]))
        ip.run_cell("import jax.numpy as jnp\nstate = {'params': {'w': jnp.ones((3, 3))}}\n")
        msg = ip.run_line_magic("jaxinspect", "watch state['params']")
        assert isinstance(msg, Message) and "watching state['params'] (1 leaves)" in msg.text
        assert inspector.transport._methods["interest"]({"params": 1}) == {"params": 1.0}
        assert inspector.buffer_interval == 0.0  # a key left out is unchanged
        inspector.sample_params()
        ip.run_cell("state = {'params': {'w': jnp.ones((3, 3)) * jnp.nan}}\n")  # re-bound: re-read
        inspector._params_due = 0.0
        inspector.sample_params()
        inspector.watcher.check_latest()  # as at a cell's end (a loaded machine may thin a call)
        inspector.watcher.checker.drain(30)  # the exact NaN check is read on its own thread
        inspector.hub.flush()
        watches = [r for r in got if r["kind"] == "params_watch"]
        assert [w["nonfinite"] for w in watches] == [0, 1]
        assert watches[0]["name"] == "state['params']" and watches[1]["interval_s"] >= 1.0
        alerts = [r for r in got if r["kind"] == "params_alert"]
        assert len(alerts) == 1 and alerts[0]["path"] == "['w']"
        off = ip.run_line_magic("jaxinspect", "watch --off")
        assert "stopped watching everything" in off.text and inspector.watcher.names == []
        bad = ip.run_line_magic("jaxinspect", "watch nope")
        assert isinstance(bad, Message) and "NameError" in bad.text
        inspector.hub.unsubscribe(token)
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_sketch_is_exact_for_identical_values():
    a = jnp.asarray(np.random.default_rng(0).normal(size=(100,)), jnp.float32)
    t1 = paramlib.watch_sample([a])
    t2 = paramlib.watch_sample([a + 0])
    assert np.allclose(t1, t2)


def test_live_layer_statistics(watcher):
    params = {"enc": {"w": jnp.array([[1.0, -2.0], [0.0, 3.0]]), "b": jnp.array([0.0, jnp.nan])}}
    watcher.watch("params", params, 0)
    (rec,), _ = watcher.sample()
    (layer,) = rec.layers
    finite = np.array([1.0, -2.0, 0.0, 3.0, 0.0])
    assert layer.mean == pytest.approx(finite.mean()) and layer.std == pytest.approx(finite.std())
    assert layer.min == -2.0 and layer.max == 3.0
    assert layer.zeros == pytest.approx(2 / 6) and layer.nan == 1
    assert rec.to_json()["layers"][0]["max"] == 3.0


def test_watch_history_text_and_figure():
    api.unwatch()
    w = api.SESSION.watcher
    for i in range(3):
        jaxinspect.watch("hist", {"a": {"w": jnp.ones(4) * (i + 1)}}, step=i * 10)
        w.sample()
    view = jaxinspect.watch_history("hist")
    text = view.text()
    assert "hist: 3 samples, steps 0–20" in text and "['a']" in text
    # the display: text and HTML with the curves as inline SVG (no plotly: a saved notebook stays small)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and bundle["text/plain"] == text
    html = bundle["text/html"]
    assert "hist: norm ‖θ‖" in html and 'data-name="[&#x27;a&#x27;]" data-points="3"' in html
    assert "plotly" not in html.lower() and len(html) < 20_000
    api.unwatch()
    pytest.importorskip("plotly")
    fig = view.figure()  # the interactive figure, on request
    assert len(fig.data) == 2 and list(fig.data[0].x) == [0, 10, 20]
