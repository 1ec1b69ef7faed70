"""PRNG key tracking: lineage, reuse (eager, under jit, NNX), bounds, and the sidebar records."""

import gc
import warnings
import weakref

import jax
import jax.numpy as jnp
import pytest
from jax import random

import jaxinspect
from jaxinspect import errors
from jaxinspect.collect import keyflow, keyslib
from jaxinspect.glue.display import Message
from jaxinspect.glue.keydisplay import KeysView
from tests.test_protocol import _check


@pytest.fixture
def tracker():
    t = keyslib.tracker()
    t.stop()
    t.clear()
    t.on_reuse = "warn"
    yield t
    t.stop()
    t.clear()
    t.max_nodes = keyslib.MAX_NODES


def _reuses(t):
    return sorted(t.reuses.values(), key=lambda r: r.id)


def _by_label(t, label):
    return [n for n in t.nodes.values() if n.label == label]


def test_off_by_default_and_nothing_stays_wrapped(tracker):
    original = random.normal
    assert not hasattr(original, "__jaxinspect_original__")
    with jaxinspect.track_keys():
        assert random.normal is not original and random.normal.__jaxinspect_original__ is original
        assert random.split.__name__ == "split" and random.normal.__doc__ == original.__doc__
    assert random.normal is original
    assert not hasattr(random.split, "__jaxinspect_original__")
    k = random.key(0)
    random.normal(k)
    random.normal(k)  # off: not recorded
    assert tracker.consumed == 0 and not tracker.reuses


def test_typed_split_tree_fold_in_and_counts(tracker):
    with jaxinspect.track_keys():
        root = random.key(42)
        a, b, c = random.split(root, 3)
        random.normal(a, (2,))
        d = random.fold_in(b, 7)
        random.uniform(d)
        random.bernoulli(c, 0.5)
    assert not tracker.reuses
    assert tracker.created == 1 and tracker.derived == 4 and tracker.consumed == 3
    (r,) = _by_label(tracker, "key(42)")
    assert r.state() == "split" and r.typed and r.site and "test_keys.py" in r.site
    kids = [n for n in tracker.nodes.values() if n.parent == r.id]
    assert [n.label for n in kids] == [f"split[{i}] of #{r.id}" for i in range(3)]
    (fold,) = [n for n in tracker.nodes.values() if n.op == "fold_in"]
    assert fold.parent == kids[1].id and fold.label == f"fold_in(#{kids[1].id}, 7)"
    assert fold.used_by and fold.used_by[0].startswith("uniform @ ")
    view = jaxinspect.keys()
    assert isinstance(view, KeysView)
    text = view.text()
    assert "1 key created, 4 derived, 3 uses, 0 reuses" in text
    assert f"#{r.id} key(42) [split]" in text and "[consumed]" in text


def test_raw_keys_are_tracked_by_their_bits(tracker):
    with jaxinspect.track_keys(on_reuse="ignore"):
        k = random.PRNGKey(3)
        keys = random.split(k, 4)
        random.normal(keys[1])
        random.normal(keys[2])
        assert not tracker.reuses
        random.normal(keys[1])  # a new array object each time: the same bits
    (reuse,) = _reuses(tracker)
    assert reuse.reuse == "consumed twice" and reuse.where == "eager"
    assert reuse.key.endswith("split[1] of #1") and not tracker.nodes[1].typed
    assert reuse.path[0] == "#1 PRNGKey(3)"
    assert reuse.first_site != reuse.second_site  # two different lines, both named


def test_a_with_blocks_mode_ends_with_it(tracker):
    """`with track_keys(on_reuse='ignore')` is scoped: tracking started afterwards the way the
    Keys tab, the settings and `%load_ext` start it (the tracker's mode) warns again."""
    with jaxinspect.track_keys(on_reuse="ignore"):
        pass
    assert tracker.on_reuse == "warn"
    tracker.start(on_reuse=tracker.on_reuse)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            k = random.key(5)
            random.normal(k)
            random.normal(k)
            tracker.flush()
    finally:
        tracker.stop()
    assert any(issubclass(w.category, jaxinspect.KeyReuseWarning) for w in caught), caught
    with jaxinspect.track_keys(on_reuse="error"), jaxinspect.track_keys(on_reuse="ignore"):
        assert tracker.on_reuse == "ignore"
    assert tracker.on_reuse == "warn"


def test_reuse_kinds_warn_with_both_sites(tracker):
    with warnings.catch_warnings(record=True) as caught, jaxinspect.track_keys():
        warnings.simplefilter("always")
        k = random.key(1)
        random.normal(k)
        random.split(k)  # consumed then split
        k2 = random.key(2)
        random.split(k2)
        random.split(k2)  # split twice
        k3 = random.key(3)
        random.split(k3)
        random.uniform(k3)  # split then consumed
    kinds = [r.reuse for r in _reuses(tracker)]
    assert kinds == ["consumed then split", "split twice", "split then consumed"]
    msgs = [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
    assert len(msgs) == 3
    assert msgs[0].filename == __file__  # the warning points at the user's line, not ours
    text = str(msgs[0].message)
    assert "first normal at" in text and "then split at" in text and "test_keys.py" in text
    assert "jax.random.split" in text  # the fix


def test_error_mode_raises_before_the_reuse_runs(tracker):
    with jaxinspect.track_keys(on_reuse="error"):
        k = random.key(5)
        random.normal(k)
        with pytest.raises(jaxinspect.KeyReuseError, match="consumed twice"):
            random.normal(k)
    assert tracker.nodes[1].uses == 1  # the refused use was not counted


def test_a_correct_training_loop_has_no_reuse_and_stays_shallow(tracker):
    w = jnp.zeros(4)
    with warnings.catch_warnings(), jaxinspect.track_keys():
        warnings.simplefilter("error")  # any reuse warning fails the test
        key = random.key(0)
        data_key = random.key(1)
        for step in range(200):
            key, sub, drop = random.split(key, 3)
            noise = random.normal(sub, (4,))
            mask = random.bernoulli(drop, 0.9, (4,))
            w = w + 0.01 * noise * mask
            random.uniform(random.fold_in(data_key, step))  # fold_in does not consume data_key
        view = jaxinspect.keys()
    assert not view.reuses and view.record.reuses == 0
    assert view.record.consumed == 600
    # chains of `key, sub = split(key)` are flattened: depth stays small for 200 steps
    assert max(n.depth for n in view.nodes) <= 2
    assert len(view.nodes) <= keyslib.MAX_ROWS and view.record.more_nodes > 0


def test_rerunning_a_cell_is_not_a_reuse_and_clone_allows_one_more_use(tracker):
    with warnings.catch_warnings(), jaxinspect.track_keys():
        warnings.simplefilter("error")
        for _run in range(2):  # the same `key(0)` cell run twice
            k = random.key(0)
            random.normal(k)
            tracker.new_run()  # what the extension does after each cell (tests/test_keys_real.py)

        def seeded_loop():  # a function (or cell) run twice from the same seed
            key = random.key(7)
            for _ in range(3):
                key, sub = random.split(key)
                random.normal(sub)

        seeded_loop()
        tracker.new_run()
        seeded_loop()
        c = random.key(9)
        c2 = random.clone(c)
        random.normal(c)
        random.normal(c2)
    assert not tracker.reuses
    assert tracker.created == 5


def test_nnx_rngs_streams_are_named_and_a_rewound_stream_is_caught(tracker):
    nnx = pytest.importorskip("flax.nnx")  # not in the jax 0.10 compatibility env

    with jaxinspect.track_keys(on_reuse="ignore"):
        rngs = nnx.Rngs(0, noise=1)
        nnx.Linear(3, 4, rngs=rngs)
        for _ in range(3):
            random.normal(rngs.noise(), (2,))
        assert not tracker.reuses
        rngs.noise.count[...] = 1  # e.g. stream state restored from an old checkpoint
        random.normal(rngs.noise(), (2,))
    names = {n.label for n in tracker.nodes.values()}
    assert {"rngs.noise[0]", "rngs.noise[1]", "rngs.noise[2]"} <= names
    (reuse,) = _reuses(tracker)
    assert reuse.reuse == "consumed twice" and "rngs.noise[1]" in reuse.key


def test_keys_inside_jit_are_checked_statically_when_traced(tracker):
    @jax.jit
    def bad_step(key, x):
        return x + random.normal(key, x.shape) + random.uniform(key, x.shape)

    @jax.jit
    def good_step(key, x):
        k1, k2 = random.split(key)
        return x + random.normal(k1, x.shape) + random.uniform(k2, x.shape)

    @jax.jit
    def loop_bad(key):
        return jax.lax.scan(lambda c, _: (c, random.normal(c)), key, None, length=4)[1]

    with warnings.catch_warnings(), jaxinspect.track_keys(on_reuse="ignore"):
        warnings.simplefilter("error")
        good_step(random.key(0), jnp.ones(3))
        assert not tracker.reuses
        tracker.on_reuse = "warn"
        with pytest.warns(jaxinspect.KeyReuseWarning, match="in bad_step consumed twice"):
            bad_step(random.key(1), jnp.ones(3))
        bad_step(random.key(2), jnp.ones(3))  # cached: not traced, not reported again
        with pytest.warns(jaxinspect.KeyReuseWarning, match="every scan iteration"):
            loop_bad(random.PRNGKey(0))
    jit = [r for r in _reuses(tracker) if r.where == "jit"]
    assert [r.function for r in jit] == ["bad_step", "loop_bad"]
    assert jit[0].first_op == "normal" and jit[0].second_op == "uniform"
    assert jit[0].first_site and "test_keys.py" in jit[0].first_site and "(bad_step)" in jit[0].first_site


@pytest.mark.parametrize("make", [random.key, random.PRNGKey], ids=["typed", "raw"])
def test_static_flow_rules(make):
    def run(f):
        flow = keyflow.analyze(jax.make_jaxpr(f)(make(0)), lambda eqn: None)
        return [x.reuse for x in flow.findings] if flow else None

    assert run(lambda k: random.normal(k) + random.uniform(k)) == ["consumed twice"]
    assert run(lambda k: (random.normal(k), random.split(k))) == ["consumed then split"]
    ok = lambda k: [random.normal(s) for s in random.split(k, 3)]  # noqa: E731
    assert run(ok) == []
    same = lambda k: random.normal(random.split(k)[0]) + random.normal(random.split(k)[0])  # noqa: E731
    assert run(same) == ["split twice"]
    part = lambda k: (random.normal(random.split(k, 2)[1]), jax.vmap(random.normal)(random.split(k, 2)))  # noqa: E731
    assert run(part)[0] == "split twice"
    folds = lambda k: random.normal(random.fold_in(k, 1)) + random.normal(random.fold_in(k, 2)) + random.normal(k)  # noqa: E731
    assert run(folds) == []

    def cond(k):
        return jax.lax.cond(True, lambda k: random.normal(k), lambda k: random.uniform(k), k)

    assert run(cond) == []  # one branch runs
    assert run(lambda k: cond(k) + random.normal(k)) == ["consumed twice"]

    def carry_ok(k):
        def body(c, _):
            c, s = random.split(c)
            return c, random.normal(s)

        return jax.lax.scan(body, k, None, length=3)

    assert run(carry_ok) == []
    xs_ok = lambda k: jax.lax.scan(lambda c, kk: (c, random.normal(kk)), 0.0, random.split(k, 4))  # noqa: E731
    assert run(xs_ok) == []
    loop = lambda k: jax.lax.fori_loop(0, 3, lambda i, c: c + random.normal(k), 0.0)  # noqa: E731
    assert run(loop) == ["consumed on every scan iteration"]
    assert run(lambda k: jnp.zeros(2)) == []  # a key passed in and never used


def test_jaxpr_view_marks_keys_and_flags_reuse_before_running():
    def step(key, x):
        noise = random.normal(key, x.shape)
        mask = random.bernoulli(key, 0.5, x.shape)
        return x + noise * mask

    view = jaxinspect.jaxpr(step, random.key(0), jnp.ones(3))
    flow = view.doc.keys
    assert flow is not None and flow.inputs == ("key",)
    (finding,) = flow.findings
    assert finding.first_op == "normal" and finding.second_op == "bernoulli"
    text = view.text()
    assert "PRNG keys: 0 splits, 0 fold_ins, 2 uses; key inputs: key" in text
    assert "⚠ key reuse: key consumed twice" in text
    assert "# key: consumes key" in text and "# key: REUSE of key" in text
    html = view._repr_mimebundle_()["text/html"]
    assert "jx-keyreuse" in html and "jx-keyfinding" in html
    clean = jaxinspect.jaxpr(lambda x: x * 2, jnp.ones(2))
    assert clean.doc.keys is None and "PRNG keys" not in clean.text()


def test_memory_is_bounded_and_no_user_array_is_kept(tracker):
    tracker.max_nodes = 50
    with jaxinspect.track_keys():
        key = random.key(0)
        probe = weakref.ref(key)
        for _ in range(100):
            key, sub = random.split(key)
            random.normal(sub)
        del key, sub
    gc.collect()
    assert probe() is None  # nodes keep the bits, never the array
    assert len(tracker.nodes) == 50 and tracker.summarised == 151
    assert len(tracker.by_fp) <= 50
    rec = tracker.snapshot()
    assert rec.summarised == 151 and "151 older keys are summarised" in rec.note
    assert rec.nodes[0].parent is not None  # its parent was summarised: shown as a root


def test_bookkeeping_failures_never_reach_the_user(tracker, monkeypatch):
    errors.reset()
    with jaxinspect.track_keys():
        monkeypatch.setattr(keyslib, "_fingerprints", lambda arr, typed: 1 / 0)
        out = random.normal(random.key(0), (2,))
        keys = random.split(random.key(1))
        tracker.flush()
        monkeypatch.setattr(tracker, "_user_frame", lambda: [][0])
        again = random.uniform(random.key(2))
    assert out.shape == (2,) and keys.shape == (2,) and again.shape == ()
    where = {r.where for r in errors.recent() if "Error" in r.message}
    assert where == {"keyslib"}
    assert any("ZeroDivisionError" in r.message for r in errors.recent())
    assert any("IndexError" in r.message for r in errors.recent())
    errors.reset()


def test_tracers_vmap_and_odd_inputs(tracker):
    with warnings.catch_warnings(), jaxinspect.track_keys():
        warnings.simplefilter("error")
        keys = random.split(random.key(0), 8)
        out = jax.vmap(lambda k: random.normal(k, (2,)))(keys)
        assert out.shape == (8, 2)
        assert random.normal(key=random.key(4)).shape == ()  # key passed by name
        with pytest.raises(TypeError):
            random.normal(jnp.ones(3))  # JAX's own error, untouched
        big = random.split(random.key(1), keyslib.MAX_ELEMENTS + 10)
        assert big.shape == (keyslib.MAX_ELEMENTS + 10,)
    assert len(tracker.nodes) <= 2 + 8 + 1 + keyslib.MAX_ELEMENTS + 1


def test_magic_view_escaping_and_sidebar_records(ip, tracker):
    from jaxinspect.glue import extension
    from jaxinspect.protocol import SCHEMA

    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        inspector = extension.current()
        got = []
        token = inspector.hub.subscribe(lambda batch: got.extend(batch["records"]))
        off = ip.run_line_magic("jaxinspect", "keys")
        assert isinstance(off, KeysView) and "key tracking off" in off.text()
        assert "%jaxinspect keys on" in off.text()
        bad = ip.run_line_magic("jaxinspect", "keys sideways")
        assert isinstance(bad, Message) and bad.level == "error" and "usage: %jaxinspect keys" in bad.text
        msg = ip.run_line_magic("jaxinspect", "keys on --ignore")
        assert "key tracking is on" in msg.text and tracker.tracking and tracker.on_reuse == "ignore"
        ip.run_cell(
            "import jax\n"
            "k = jax.random.key(0)\n"
            "x = jax.random.normal(k)\n"
            "y = jax.random.normal(k)\n"
        )
        view = ip.run_line_magic("jaxinspect", "keys")
        (reuse,) = view.reuses
        assert reuse.first_site.startswith("cell [") and reuse.first_site.endswith(" line 3")
        assert reuse.second_site.endswith(" line 4")
        html = view._repr_mimebundle_()["text/html"]
        assert "consumed twice" in html
        inspector.publish_keys(force=True)
        inspector.hub.flush()
        keys = [r for r in got if r["kind"] == "keys"]
        reuses = [r for r in got if r["kind"] == "key_reuse"]
        assert keys and _check(keys[-1], "keys", SCHEMA["records"])
        assert reuses and _check(reuses[0], "key_reuse", SCHEMA["records"])
        assert keys[-1]["tracking"] and keys[-1]["reuses"] == 1
        # the sidebar's button: the track_keys RPC
        assert inspector.transport._methods["track_keys"]({"on": False}) == {
            "tracking": False,
            "on_reuse": "ignore",
        }
        assert not tracker.tracking and not hasattr(jax.random.normal, "__jaxinspect_original__")
        with pytest.raises(ValueError, match="track_keys needs"):
            inspector.transport._methods["track_keys"]({"on": "yes"})
        inspector.transport._methods["track_keys"]({"on": True})
        assert tracker.tracking
        inspector.hub.unsubscribe(token)
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")
    assert not tracker.tracking  # %unload_ext removes jax.random's wrappers too
    assert not hasattr(jax.random.normal, "__jaxinspect_original__")


def test_hostile_labels_are_escaped(tracker):
    from jaxinspect.render import keyview

    with jaxinspect.track_keys(on_reuse="ignore"):
        k = random.key(0)
        random.normal(k)
        random.normal(k)
    rec = tracker.snapshot()
    evil = "<img src=x onerror=alert(1)>"
    reuse = _reuses(tracker)[0]
    import dataclasses

    rec = dataclasses.replace(rec, nodes=tuple(dataclasses.replace(n, label=evil, site=evil) for n in rec.nodes))
    reuse = dataclasses.replace(reuse, key=evil, first_site=evil)
    html = keyview.keys_html(rec, [reuse])
    assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_reuse_warns_in_the_cell_that_made_it(ip, tracker):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_line_magic("jaxinspect", "keys on")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ip.run_cell("import jax\nk = jax.random.key(0)\na = jax.random.normal(k)\nb = jax.random.uniform(k)\n")
        found = [w for w in caught if issubclass(w.category, jaxinspect.KeyReuseWarning)]
        assert len(found) == 1 and found[0].lineno == 4  # the second use, in the cell's own lines
        assert "first normal at cell [" in str(found[0].message)
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_programs_without_keys_are_skipped_quickly():
    no_keys = jax.make_jaxpr(lambda x: jax.lax.scan(lambda c, a: (c + a, c), 0.0, x))(jnp.ones(3))
    assert not keyflow.has_keys(no_keys)
    nested = jax.make_jaxpr(lambda x: jax.jit(lambda y: random.normal(random.key(0)) + y)(x))(1.0)
    assert keyflow.has_keys(nested)  # random_seed deep inside a nested jit
    assert keyflow.has_keys(jax.make_jaxpr(lambda k: k)(random.PRNGKey(0)))  # a raw key goes in
