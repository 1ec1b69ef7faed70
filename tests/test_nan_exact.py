"""Every watched step checked for NaN/Inf: the exact step, the leaves at that step, what was not
checked — on real Flax NNX and Linen training loops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinspect
from jaxinspect import api
from jaxinspect.collect import paramlib
from jaxinspect.config import config

nnx = pytest.importorskip("flax.nnx", reason="flax is not installed (the jax 0.10 compat env)")
optax = pytest.importorskip("optax")


@pytest.fixture
def watcher():
    w = paramlib.Watcher()
    yield w
    w.close()


@pytest.fixture
def budget(monkeypatch):
    """``budget(1.0)``: every call is checked — the cost cap is switched off, so tests of the
    exact answer do not depend on how busy the machine is (the cap has a test of its own);
    ``budget(x)`` for another x sets config.watch_budget and keeps the cap."""
    old = config.watch_budget

    def set_(value):
        if value == 1.0:
            monkeypatch.setattr(paramlib.Watcher, "_affordable", staticmethod(lambda track: True))
        else:
            config.watch_budget = value

    yield set_
    config.watch_budget = old


class MLP(nnx.Module):
    def __init__(self, rngs):
        self.fc1 = nnx.Linear(8, 16, rngs=rngs)
        self.fc2 = nnx.Linear(16, 16, rngs=rngs)
        self.head = nnx.Linear(16, 4, rngs=rngs)

    def __call__(self, x):
        return self.head(nnx.relu(self.fc2(nnx.relu(self.fc1(x)))))


def nnx_setup():
    model = MLP(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((32, 8)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, 32))
    return model, opt, train_step, x, y


def alerts_of(watcher):
    assert watcher.checker.drain(30)
    return list(watcher.alerts)


def test_nnx_loop_going_nan_at_step_40_is_named_exactly(watcher, budget):
    budget(1.0)
    model, opt, train_step, x, y = nnx_setup()
    bad_x = x * jnp.nan  # every activation is NaN at step 40
    truth = None
    for step in range(60):
        train_step(model, opt, bad_x if step == 40 else x, y)
        state = nnx.state(model, nnx.Param)
        watcher.watch("params", state, step=step)
        if truth is None and step >= 40:  # the ground truth, read by hand
            flat = jax.tree_util.tree_flatten_with_path(state)[0]
            truth = [paramlib._path_text(p) for p, v in flat if not np.isfinite(np.asarray(v)).all()]
    (alert,) = alerts_of(watcher)
    assert alert.step == 40 and alert.last_finite_step == 39
    assert "first NaN at step 40, last finite step 39 (every watched step checked)" in alert.message
    # relu's gradient is 0 at NaN, so fc1/fc2's biases stay finite: 4 of 6, exactly those
    assert list(alert.leaves) == truth and alert.bad_leaves == len(truth) == 4
    assert alert.total_leaves == 6 and "4 of 6 leaves: ['fc1']['kernel'] (" in alert.message


def test_a_twelve_step_loop_going_nan_at_step_10_alerts(watcher, budget):
    """The sampler used to miss a short loop entirely; every call is checked now."""
    budget(1.0)
    model, opt, train_step, x, y = nnx_setup()
    for step in range(12):
        train_step(model, opt, x * (jnp.nan if step == 10 else 1.0), y)
        watcher.watch("model", model, step=step)  # the Module itself, not nnx.state
    (alert,) = alerts_of(watcher)
    assert alert.step == 10 and alert.last_finite_step == 9
    assert alert.name == "model"


def test_a_leaf_set_to_nan_outside_the_step_is_the_one_named(watcher, budget):
    """Notebook 05's bug: a NaN put into head.kernel. Watched before the next step runs, the
    alert names that leaf alone; after the step, every leaf (and says so)."""
    budget(1.0)
    model, opt, train_step, x, y = nnx_setup()
    for step in range(5):
        train_step(model, opt, x, y)
        watcher.watch("params", nnx.state(model, nnx.Param), step=step)
    model.head.kernel[...] = model.head.kernel[...].at[0, 0].set(jnp.nan)
    watcher.watch("params", nnx.state(model, nnx.Param), step=5)
    (alert,) = alerts_of(watcher)
    assert alert.step == 5 and alert.last_finite_step == 4
    assert alert.bad_leaves == 1 and alert.total_leaves == 6
    assert alert.path == "['head']['kernel']" and alert.leaves == ("['head']['kernel']",)
    assert "1 of 6 leaves: ['head']['kernel'] (1 NaN)" in alert.message


def test_linen_trainstate_loop(watcher, budget):
    import flax.linen as nn
    from flax.training import train_state

    budget(1.0)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3)(nn.tanh(nn.Dense(8)(x)))

    net = Net()
    x = jnp.ones((4, 5))
    state = train_state.TrainState.create(
        apply_fn=net.apply, params=net.init(jax.random.key(0), x)["params"], tx=optax.sgd(0.1)
    )

    @jax.jit
    def step_fn(state, x, scale):
        loss, grads = jax.value_and_grad(lambda p: (state.apply_fn({"params": p}, x) ** 2).mean() * scale)(state.params)
        return state.apply_gradients(grads=grads), loss

    for i in range(20):
        state, _ = step_fn(state, x, jnp.float32(jnp.inf if i == 13 else 1.0))
        jaxinspect.watch("ignored: not loaded", state.params, step=i)
        watcher.watch("state.params", state.params, step=state.step)  # a device step: read off-thread
    (alert,) = alerts_of(watcher)
    assert alert.step == 14 and alert.last_finite_step == 13  # state.step counts updates made
    assert "['Dense_0']['kernel']" in alert.leaves or alert.bad_leaves == alert.total_leaves


def test_thinned_checks_say_which_steps_were_not_checked(watcher, budget):
    budget(1e-6)  # far below what any check costs: only the cost cap's own choices are checked
    params = {"w": jnp.ones(16), "b": jnp.zeros(4)}
    for step in range(30):
        params = jax.tree.map(lambda v: v + 1.0, params)
        if step == 17:
            params["b"] = params["b"].at[1].set(jnp.nan)
        watcher.watch("params", params, step=step)
    watcher.check_latest()  # what the end of a cell does
    (alert,) = alerts_of(watcher)
    # the first calls are checked (the bucket starts full), then the cap thins them; the NaN
    # put in at step 17 is found at the end-of-cell check of step 29, and the gap is said exactly
    last = alert.last_finite_step
    assert alert.step == 29 and 0 <= last < 17
    assert f"steps {last + 1}–28 not checked" in alert.checked and "config.watch_budget" in alert.checked
    assert "within 0.0001% of the step time" in alert.checked
    assert alert.checked in alert.message
    assert f"first NaN at step 29, last finite step {last} (" in alert.message


def test_watch_inside_a_jitted_step_checks_every_step(watcher, budget):
    """Called inside nnx.jit, the counts are computed in the step itself; only they come back."""
    budget(1.0)
    model, opt, _, x, y = nnx_setup()

    @nnx.jit
    def train_step(model, opt, x, y, step):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        watcher.watch("inside", nnx.state(model, nnx.Param), step=step)
        return loss

    for step in range(15):
        train_step(model, opt, x * (jnp.nan if step == 11 else 1.0), y, step)
    jax.effects_barrier()
    (alert,) = alerts_of(watcher)
    assert alert.step == 11 and alert.last_finite_step == 10
    assert alert.bad_leaves == 4 and alert.total_leaves == 6  # as outside jit: relu's biases stay


def test_api_watch_inside_jit_and_odd_steps_never_raise():
    @jax.jit
    def f(p):
        return jaxinspect.watch("in-jit", p, step=None)

    out = f({"w": jnp.ones(3)})
    assert float(out["w"][0]) == 1.0
    assert jaxinspect.watch("odd", {"w": jnp.ones(2)}, step="seven")["w"].shape == (2,)
    assert jaxinspect.watch("sds", jax.ShapeDtypeStruct((3,), jnp.float32)) is not None
    api.unwatch()


def test_all_nan_leaf_statistics_say_nan_not_float32_extremes(watcher):
    tree = {"bad": jnp.full((3, 3), jnp.nan), "ok": jnp.arange(4.0)}
    text = api.params(tree, stats=True).text() if hasattr(api.params(tree, stats=True), "text") else str(api.params(tree, stats=True))
    assert "3.4e+38" not in text and "3.4e38" not in text
    bad_line = next(line for line in text.splitlines() if "bad" in line)
    assert "min – max –" in bad_line and "‖·‖ NaN" in bad_line
    watcher.watch("t", tree, 0)
    (rec,), _ = watcher.sample()
    assert rec.norm is None and rec.nonfinite == 1  # NaN values: the norm is not a number, not 0
    layer = rec.layers[0]
    assert layer.min is None and layer.max is None and layer.norm is None


def test_a_big_second_tree_does_not_hold_back_the_first(watcher, budget):
    """Each tree is checked on its own: a 2,000-leaf tree (compiled off-thread) watched beside
    a small one leaves the small one's alert exact."""
    budget(1.0)
    big = [jnp.ones(4) for _ in range(2000)]
    small = {"w": jnp.ones(8)}
    for step in range(10):
        watcher.watch("big", big, step=step)
        small = {"w": small["w"] * (jnp.nan if step == 6 else 1.0)}
        watcher.watch("small", small, step=step)
    alerts = alerts_of(watcher)
    assert [(a.name, a.step, a.last_finite_step) for a in alerts] == [("small", 6, 5)]


# -- nan_guard: from the alert to the cause ---------------------------------------------------------


def test_nan_guard_names_the_primitive_and_the_line_that_made_the_first_nan(budget):
    budget(1.0)
    model, opt, _, x, y = nnx_setup()

    @jaxinspect.nan_guard
    @nnx.jit
    def train_step(model, opt, x, y, scale):
        def loss_fn(model):
            logits = model(x)
            logits = logits * jnp.log(scale)  # scale < 0 makes the first NaN here
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    for step in range(12):
        train_step(model, opt, x, y, jnp.float32(-1.0 if step == 7 else 1.0))
    cause = train_step.wait(120)
    alert = train_step.alert
    assert alert.name.startswith("train_step inputs") and alert.step == 8
    assert "first NaN at call 8, last finite call 7 (every call checked)" in alert.message
    assert "replaying call 7 of train_step with jax_debug_nans" in cause
    assert "`log`" in cause and "test_nan_exact.py:" in cause
    assert "jnp.log(scale)" in cause and "equation `" in cause
    assert alert.cause == cause and cause in alert.message
    assert "model.fc1.kernel" in alert.leaves


def test_nan_guard_says_when_the_nan_came_from_outside_the_step(budget):
    """Notebook 05's bug: a NaN written into a weight between two calls. The replay of the last
    call stays finite, so the step is not to blame, and the leaf is named."""
    budget(1.0)
    model, opt, train_step, x, y = nnx_setup()
    guarded = jaxinspect.nan_guard(train_step)
    for step in range(6):
        if step == 4:
            model.head.kernel[...] = model.head.kernel[...].at[0, 0].set(jnp.nan)
        guarded(model, opt, x, y)
    cause = guarded.wait(120)
    assert guarded.alert.leaves == ("model.head.kernel",)
    assert "1 of 7 leaves" in guarded.alert.message or "1 of " in guarded.alert.message
    assert "gave no NaN/Inf: the NaN entered between call 3 and call 4, outside train_step" in cause


def test_nan_guard_on_a_donating_jax_jit_step(budget):
    budget(1.0)

    def step(params, x):
        return jax.tree.map(lambda p: p - 0.1 * jnp.sqrt(x) * p, params)

    fast = jax.jit(step, donate_argnums=0)
    plain = jaxinspect.nan_guard(fast)
    copying = jaxinspect.nan_guard(jax.jit(step, donate_argnums=0), copy_donated=True)
    for guard in (plain, copying):
        params = {"w": jnp.ones(4)}
        for i in range(10):
            params = guard(params, jnp.float32(-1.0 if i == 3 else 1.0))
    api.SESSION.check_watched()  # as at the end of a cell (a busy machine may thin a call)
    assert "donated to step" in plain.wait(120) and "copy_donated=True" in plain.cause
    assert "`sqrt`" in copying.wait(120) and "jnp.sqrt(x)" in copying.cause


def test_a_read_check_leaves_no_count_table_alive(watcher, budget):
    """The reader thread waits for the next check with the last one's locals still set; on CPU
    ``np.asarray`` of a count table is a view of the device buffer, so jaxinspect's own array
    stayed alive after %unload_ext (seen when a NaN test ran before test_buffers_real)."""
    import gc

    from jaxinspect.collect import bufferlib

    budget(1.0)
    params = {"w": jnp.ones(8), "b": jnp.full(3, jnp.nan)}
    for step in range(3):
        watcher.watch("params", params, step=step)
    (alert,) = alerts_of(watcher)
    assert alert.leaves == ("['b']",)
    gc.collect()
    tables = [a for a in jax.live_arrays() if bufferlib.is_own(a) and a.dtype == jnp.int32]
    assert tables == [], [a.shape for a in tables]
