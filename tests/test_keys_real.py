"""PRNG key reuse as people make it, on real Flax / JAX code (issue 15 §2): keys drawn by
initialisers, roots made again from the same seed, the same key passed to a compiled step on
every call, and errors that point at the user's line only."""

import traceback
import warnings

import jax
import jax.numpy as jnp
import pytest
from IPython.utils.capture import capture_output
from jax import random

import jaxinspect
from jaxinspect.collect import keyslib

nnx = pytest.importorskip("flax.nnx")
optax = pytest.importorskip("optax")


@pytest.fixture
def tracker():
    t = keyslib.tracker()
    t.stop()
    t.clear()
    t.run_of = None
    yield t
    t.stop()
    t.clear()
    t.on_reuse = "warn"


def _reuses(t):
    return sorted(t.reuses.values(), key=lambda r: r.id)


def _own_frames(tb):
    return [f for f in traceback.extract_tb(tb) if "/jaxinspect/" in f.filename.replace("\\", "/")]


# -- initialisers ---------------------------------------------------------------------------------
def test_initializer_called_twice_with_one_key_is_a_reuse(tracker):
    init = jax.nn.initializers.glorot_normal()
    with warnings.catch_warnings(record=True) as caught, jaxinspect.track_keys():
        warnings.simplefilter("always")
        k = random.key(0)
        a = init(k, (3, 4))
        b = init(k, (3, 4))  # identical weights
        tracker.flush()
    assert bool(jnp.all(a == b))  # what the user got: the same matrix twice
    (reuse,) = _reuses(tracker)
    assert reuse.reuse == "consumed twice" and reuse.key.endswith("key(0)")
    assert "(initializer)" in reuse.first_op and "(initializer)" in reuse.second_op
    assert "test_keys_real.py" in reuse.first_site and reuse.first_site != reuse.second_site
    found = [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
    assert len(found) == 1 and found[0].filename == __file__  # points at the user's line
    # and nothing is left wrapped afterwards
    import jax._src.nn.initializers as private_init

    assert private_init.random is jax._src.random
    assert not hasattr(jax._src.random.normal, "__jaxinspect_original__")


def test_two_nnx_layers_from_the_same_stream_state_are_caught_and_init_keys_show_consumed(tracker):
    with warnings.catch_warnings(), jaxinspect.track_keys(on_reuse="ignore"):
        l1 = nnx.Linear(3, 4, rngs=nnx.Rngs(0))
        assert not tracker.reuses and (tracker.flush() or True)
        # the lineage shows the init key consumed by the initialiser, not "[fresh]"
        rows = {n.label: n for n in tracker.snapshot().nodes}
        init_key = rows["rngs.default[0]"]
        assert init_key.state == "consumed"
        assert init_key.used_by and "(initializer)" in init_key.used_by[0]
        assert "test_keys_real.py" in init_key.used_by[0]
        l2 = nnx.Linear(3, 4, rngs=nnx.Rngs(0))  # same stream state: identical kernels
        tracker.flush()
    assert bool(jnp.all(l1.kernel[...] == l2.kernel[...]))
    (reuse,) = _reuses(tracker)
    assert reuse.reuse == "consumed twice" and "rngs.default[0]" in reuse.key
    assert reuse.path[0].startswith("#1 key(0)") and "made 2×" in reuse.path[0]
    assert "made again from the same seed" in reuse.message


def test_a_correct_nnx_training_loop_with_dropout_has_no_reuse(tracker):
    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(4, 16, rngs=rngs)
            self.drop = nnx.Dropout(0.2, rngs=rngs)
            self.l2 = nnx.Linear(16, 1, rngs=rngs)

        def __call__(self, x):
            return self.l2(self.drop(nnx.relu(self.l1(x))))

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(m):
            return jnp.mean((m(x) - y) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    with warnings.catch_warnings(), jaxinspect.track_keys(jit_calls=True):
        warnings.simplefilter("error")  # any reuse warning fails the test
        model = MLP(nnx.Rngs(params=0, dropout=1))
        opt = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
        data = random.key(42)
        for _step in range(4):
            data, kx = random.split(data)
            x = random.normal(kx, (8, 4))
            train_step(model, opt, x, x.sum(1, keepdims=True))
        view = jaxinspect.keys()
    assert not view.reuses
    labels = {n.label for n in view.nodes}
    assert any(label.startswith("rngs.params[") for label in labels)


# -- the same bits made again -------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 42])
def test_rngs_made_anew_each_iteration_draw_the_same_mask(tracker, seed):
    masks = []
    with warnings.catch_warnings(record=True) as caught, jaxinspect.track_keys():
        warnings.simplefilter("always")
        for _ in range(4):
            r = nnx.Rngs(dropout=seed)
            masks.append(random.bernoulli(r.dropout(), 0.5, (64,)))
        view = jaxinspect.keys()
    assert all(bool(jnp.all(m == masks[0])) for m in masks)  # the bug: one mask, four times
    (reuse,) = view.reuses
    assert reuse.reuse == "consumed twice" and reuse.count == 3
    assert reuse.first_op == reuse.second_op == "bernoulli"
    assert "rngs.dropout[0]" in reuse.key
    assert f"key({seed}) was made again from the same seed" in reuse.message
    assert len([w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]) == 1
    # the lineage joins them: one root made 4×, one key used 4×
    (root,) = [n for n in view.nodes if n.parent is None]
    assert root.label == f"key({seed}) (made 4×)"
    (child,) = [n for n in view.nodes if n.parent == root.id]
    assert child.uses == 4 and child.state == "reused"
    text = view.text()
    assert "made 4×" in text and "made again from the same seed" in text


def test_rerunning_a_cell_is_not_a_reuse_but_a_loop_in_one_cell_is(ip, tracker):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_line_magic("jaxinspect", "keys on")
        cell = "import jax\nk = jax.random.key(0)\nx = jax.random.normal(k)\n"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ip.run_cell(cell)
            ip.run_cell(cell)  # the same cell again (store_history=False: only our hook counts)
            ip.run_cell(cell, store_history=True)
            ip.run_cell(cell, store_history=True)
        assert not [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
        assert not tracker.reuses
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ip.run_cell(
                "from flax import nnx\n"
                "for i in range(3):\n"
                "    r = nnx.Rngs(dropout=0)\n"
                "    m = jax.random.bernoulli(r.dropout(), 0.5, (8,))\n"
            )
        found = [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
        assert len(found) == 1 and found[0].lineno == 4  # the cell's own line
        (reuse,) = _reuses(tracker)
        assert reuse.first_site.startswith("cell [") and reuse.first_site.endswith(" line 4")
        view = ip.run_line_magic("jaxinspect", "keys")
        assert "one notebook cell execution" in view.text()  # the rule, stated in the view
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


# -- a compiled step given the same key on every call ------------------------------------------
def test_the_same_key_passed_to_a_compiled_step_is_caught_only_with_jit_calls(tracker):
    @jax.jit
    def train_step(w, x, key):
        mask = random.bernoulli(key, 0.5, x.shape)
        return w - 0.1 * jnp.mean(x * mask)

    @jax.jit
    def folded_step(w, x, key, step):  # Flax examples: fold_in(rng, step) inside the step
        mask = random.bernoulli(random.fold_in(key, step), 0.5, x.shape)
        return w - 0.1 * jnp.mean(x * mask)

    from jax._src import pjit

    x = jnp.ones(16)
    key = random.key(0)
    w = train_step(1.0, x, key)  # compiled before tracking: the C++ cache holds it
    with warnings.catch_warnings(), jaxinspect.track_keys():
        warnings.simplefilter("error")
        for _ in range(3):
            w = train_step(w, x, key)  # default mode: cache hits run no Python
        view = jaxinspect.keys()
        assert not view.reuses and "not checked" in view.record.note
        assert "jit_calls=True" in view.record.note
    tracker.clear()
    with warnings.catch_warnings(record=True) as caught, jaxinspect.track_keys(jit_calls=True):
        warnings.simplefilter("always")
        assert getattr(pjit._run_python_pjit, "__jaxinspect_keys__", False)
        for _ in range(3):
            w = train_step(w, x, key)
        for step in range(3):
            w = folded_step(w, x, key, step)  # only folded: not consumed, no reuse
        k = random.key(1)
        for _ in range(3):
            k, sub = random.split(k)
            w = train_step(w, x, sub)  # a fresh key each call: no reuse
        view = jaxinspect.keys()
    (reuse,) = view.reuses
    assert reuse.reuse == "consumed twice" and reuse.count == 2
    assert reuse.first_op == reuse.second_op == "jit train_step"
    assert "test_keys_real.py" in reuse.second_site
    assert reuse.key.endswith("key of unknown origin")  # made before tracking was on
    found = [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
    assert len(found) == 1 and found[0].filename == __file__
    assert "every call of a jitted function" in view.record.note
    # off again: the original dispatch path is back
    assert not getattr(pjit._run_python_pjit, "__jaxinspect_keys__", False)
    assert not tracker.jit_calls and tracker._pjit_wrapper is None


def test_jit_calls_error_mode_refuses_the_call_before_it_runs(tracker):
    calls = []

    @jax.jit
    def step(key):
        return random.normal(key)

    key = random.key(3)
    with jaxinspect.track_keys(on_reuse="error", jit_calls=True):
        step(key)
        with pytest.raises(jaxinspect.KeyReuseError, match="jit step") as info:
            calls.append(step(key))
    assert not calls
    assert not _own_frames(info.value.__traceback__)


# -- errors point at the user's line -------------------------------------------------------------
def test_error_mode_raises_from_the_users_line_only(ip, tracker):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_line_magic("jaxinspect", "keys on --error")
        with capture_output() as out:
            ip.run_cell("import jax\nk = jax.random.key(0)\na = jax.random.normal(k)\nb = jax.random.uniform(k)\n")
        shown = out.stdout + out.stderr
        assert "KeyReuseError" in shown and "consumed twice" in shown
        assert "keyslib" not in shown and "jaxinspect/" not in shown  # no frame of ours
        with capture_output() as out:
            ip.run_cell("c = jax.random.fold_in(k, 2**40)\n")  # JAX's own error
        shown = out.stdout + out.stderr
        assert "OverflowError" in shown and "keyslib" not in shown
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")
    with jaxinspect.track_keys(on_reuse="error"):
        k = random.key(5)
        random.split(k)
        try:
            random.split(k)
        except jaxinspect.KeyReuseError as exc:
            frames = traceback.extract_tb(exc.__traceback__)
        assert [f.name for f in frames] == ["test_error_mode_raises_from_the_users_line_only"]
        try:
            random.fold_in(k, 2**40)
        except OverflowError as exc:
            assert not _own_frames(exc.__traceback__)


def test_bad_arguments_are_one_line_not_a_traceback(tracker):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = jaxinspect.track_keys(on_reuse="bogus")
        with jaxinspect.track_keys(jit_calls="yes") as t2:
            pass
    assert not tracker.tracking
    lines = [str(w.message) for w in caught]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert "on_reuse must be one of 'warn', 'error', 'ignore', got 'bogus'" in lines[0]
    assert "jit_calls must be True or False, got 'yes'" in lines[1]
    assert caught[0].filename == __file__
    assert repr(t) == lines[0] and repr(t2) == lines[1]


def test_keys_made_by_a_jaxpr_argument_name_the_cell(ip, tracker):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_line_magic("jaxinspect", "keys on")
        ip.run_cell("import jax", store_history=True)
        ip.run_cell("%jaxpr jax.random.normal(jax.random.key(11))", store_history=True)
        tracker.flush()
        (node,) = [n for n in tracker.nodes.values() if n.label == "key(11)"]
        assert node.site.startswith("cell [") and "<%" not in node.site
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_jit_calls_from_the_magic_and_a_with_block_restores_the_mode(ip, tracker):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        msg = ip.run_line_magic("jaxinspect", "keys on --jit-calls")
        assert tracker.jit_calls and "key tracking is on" in msg.text
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            ip.run_cell(
                "import jax\n"
                "@jax.jit\n"
                "def sample(k):\n"
                "    return jax.random.normal(k)\n"
                "k = jax.random.key(0)\n"
                "a = sample(k)\n"
                "b = sample(k)\n"
            )
        tracker.flush()
        (reuse,) = _reuses(tracker)
        assert reuse.first_op == "jit sample" and reuse.first_site.startswith("cell [")
        assert reuse.first_site.endswith(" line 6") and reuse.second_site.endswith(" line 7")
        ip.run_line_magic("jaxinspect", "keys on --no-jit-calls")
        assert tracker.tracking and not tracker.jit_calls
        with jaxinspect.track_keys(jit_calls=True):
            assert tracker.jit_calls
        assert tracker.tracking and not tracker.jit_calls  # the block's mode does not outlive it
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")
    assert not tracker.tracking and not tracker.jit_calls


def test_linen_trainstate_loop_init_twice_and_a_dropout_key_passed_every_step(tracker):
    linen = pytest.importorskip("flax.linen")
    from flax.training import train_state

    class Net(linen.Module):
        @linen.compact
        def __call__(self, x, train=False):
            x = linen.relu(linen.Dense(16)(x))
            x = linen.Dropout(0.3, deterministic=not train)(x)
            return linen.Dense(1)(x)

    net = Net()
    x = jnp.ones((8, 4))
    y = jnp.zeros((8, 1))

    @jax.jit
    def train_step(state, x, y, dropout_key):  # as in Flax's examples: fold the step in
        key = jax.random.fold_in(dropout_key, state.step)

        def loss_fn(params):
            out = state.apply_fn({"params": params}, x, train=True, rngs={"dropout": key})
            return jnp.mean((out - y) ** 2)

        grads = jax.grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads)

    @jax.jit
    def bad_step(state, x, y, dropout_key):  # the same key every step: the same mask
        def loss_fn(params):
            out = state.apply_fn({"params": params}, x, train=True, rngs={"dropout": dropout_key})
            return jnp.mean((out - y) ** 2)

        return state.apply_gradients(grads=jax.grad(loss_fn)(state.params))

    with warnings.catch_warnings(), jaxinspect.track_keys(on_reuse="ignore", jit_calls=True):
        warnings.simplefilter("error")
        root = random.key(0)
        init_key, dropout_key = random.split(root)
        params = net.init(init_key, x)["params"]
        state = train_state.TrainState.create(apply_fn=net.apply, params=params, tx=optax.sgd(0.1))
        for _ in range(4):
            state = train_step(state, x, y, dropout_key)  # folded: correct, no reuse
        assert not tracker.reuses and (tracker.flush() or not tracker.reuses)
        for _ in range(3):
            state = bad_step(state, x, y, dropout_key)
        net.init(init_key, x)  # a second model from the same key: identical weights
        tracker.flush()
    reuses = _reuses(tracker)
    jit = [r for r in reuses if r.first_op == "jit bad_step"]
    assert len(jit) == 1 and jit[0].count == 2 and "split[1]" in jit[0].key
    init = [r for r in reuses if "(initializer)" in r.second_op]
    assert init and all(r.reuse == "consumed twice" for r in init)
    assert all("fold_in(" in r.key for r in init)  # Linen folds the module path into the key


def test_jit_calls_on_a_jax_without_the_known_dispatch_hook_says_it_checks_nothing(tracker, monkeypatch):
    from jax._src import pjit

    # a JAX whose dispatch function has another signature: nothing is wrapped, and it is said
    monkeypatch.setattr(keyslib, "_has_params", lambda fn, names: False)
    before = pjit._run_python_pjit
    with jaxinspect.track_keys(jit_calls=True):
        assert tracker._pjit_wrapper is None
        assert not hasattr(pjit._run_python_pjit, "__jaxinspect_keys__")
        note = jaxinspect.keys().record.note
    assert "jit calls: not checked" in note and "no hook" in note
    assert pjit._run_python_pjit is before


def test_nnx_shortcut_samplers_are_uses_and_are_restored(tracker):
    from flax.nnx import rnglib

    before = rnglib.Rngs.normal.__closure__[0].cell_contents
    assert before is random.normal  # tracking is off: jax.random's own function
    with jaxinspect.track_keys(on_reuse="ignore"):
        rngs = nnx.Rngs(0, noise=1)
        rngs.normal((2,))  # the default stream's key, drawn by the shortcut
        rngs.noise.uniform((2,))
        rngs.noise.count[...] = 0  # rewound
        rngs.noise.uniform((2,))
        tracker.flush()
        rows = {n.label: n for n in tracker.snapshot().nodes}
    assert rows["rngs.default[0]"].state == "consumed"
    assert rows["rngs.default[0]"].used_by[0].startswith("normal @ ")
    (reuse,) = _reuses(tracker)
    assert reuse.reuse == "consumed twice" and "rngs.noise[0]" in reuse.key
    assert rnglib.Rngs.normal.__closure__[0].cell_contents is before  # put back


def test_in_a_real_kernel_reruns_are_silent_loops_are_caught_and_errors_show_only_the_cell():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    same = "k = jax.random.key(0)\nx = jax.random.normal(k, (2,))"
    sources = [
        "%load_ext jaxinspect\nimport jax, warnings\nwarnings.simplefilter('always')\n%jaxinspect keys on",
        same,
        same,  # the same cell run again (same source, same kernel file): not a reuse
        "from flax import nnx\nfor i in range(3):\n    r = nnx.Rngs(dropout=0)\n"
        "    m = jax.random.bernoulli(r.dropout(), 0.5, (8,))",
        "%jaxinspect keys on --error\nk2 = jax.random.key(5)\na = jax.random.normal(k2)\nb = jax.random.uniform(k2)",
        "print(jaxinspect_view := __import__('jaxinspect').keys().text())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True).execute()
    out = ["\n".join(o.get("text", "") + "\n".join(o.get("traceback", [])) for o in c.outputs) for c in nb.cells]
    assert "KeyReuseWarning" not in out[1] + out[2]
    assert out[3].count("KeyReuseWarning") == 1 and "made again from the same seed" in out[3]
    assert "KeyReuseError" in out[4] and "consumed twice" in out[4]
    assert "keyslib" not in out[4] and "jaxinspect/" not in out[4]  # only the cell's line
    view = out[5]
    assert "×2" in view and "rngs.dropout[0]" in view and "one notebook cell execution" in view
    assert view.count("⚠") == 2  # the loop's reuse and the --error one; none for the re-run cell


def test_default_mode_runs_no_jaxinspect_python_on_a_cache_hit_jitted_call(tracker):
    import sys

    @jax.jit
    def step(w, key):
        return w + random.normal(key, w.shape)

    keys = list(random.split(random.key(0), 6))
    w = step(jnp.zeros(4), keys[0])  # compiled
    seen = []

    def profiler(frame, event, arg):
        if event == "call" and "/jaxinspect/" in frame.f_code.co_filename.replace("\\", "/"):
            seen.append(frame.f_code.co_name)

    with jaxinspect.track_keys():
        step(w, keys[1])  # may trace-check once more under tracking; not timed here
        sys.setprofile(profiler)
        try:
            for k in keys[2:]:
                w = step(w, k)
        finally:
            sys.setprofile(None)
    assert seen == []
    with jaxinspect.track_keys(jit_calls=True):  # the opt-in mode does run ours, per call
        sys.setprofile(profiler)
        try:
            step(w, keys[2])
        finally:
            sys.setprofile(None)
    assert "_run_python_pjit" in seen
