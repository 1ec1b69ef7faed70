"""Buffers on real training code (issue 15 §4): holders through NNX state copies and optimizers,
growth alerts that are true and raised once, jaxinspect's own arrays hidden, deleted arrays."""

from __future__ import annotations

import gc

import jax
import jax.numpy as jnp
import pytest

from jaxinspect.collect import bufferlib

nnx = pytest.importorskip("flax.nnx")
optax = pytest.importorskip("optax")


class Stack(nnx.Module):
    def __init__(self, n: int, rngs: nnx.Rngs) -> None:
        self.layers = nnx.List([nnx.Linear(4, 4, rngs=rngs) for _ in range(n)])

    def __call__(self, x):
        for layer in self.layers:
            x = nnx.relu(layer(x))
        return x


def test_copies_of_nnx_state_are_all_held_by_their_variable():
    """`jax.tree.map(jnp.copy, nnx.State)` makes State sub-trees on the fly while the walk
    reads them: a freed temporary's id was reused and the walk skipped the next one as seen
    (78 of 120 arrays attributed in the issue; a plain dict of lists had 120 of 120)."""
    m = Stack(20, nnx.Rngs(0))
    snapshots = {s: jax.tree.map(jnp.copy, nnx.state(m, nnx.Param)) for s in range(6)}
    ids = {id(a) for a in jax.tree.leaves(snapshots)}
    assert len(ids) == 6 * 40
    snap = bufferlib.take_snapshot({"m": m, "snapshots": snapshots})
    mine = [i for i in snap.arrays if i.id in ids]
    assert len(mine) == len(ids)
    holders = {i.holder for i in mine}
    assert holders == {"snapshots"}, [i.owner for i in mine if i.holder != "snapshots"][:5]
    assert all(i.owner.startswith("snapshots[") and i.owner.endswith(".value") for i in mine)


def test_nnx_model_and_optimizer_every_array_found_within_budget():
    """A model and its optax optimizer: every parameter and moment has its path, and the walk
    visits about one node per module / state, not the NNX bookkeeping of every Variable."""
    model = Stack(30, nnx.Rngs(1))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    x = jnp.ones((2, 4))

    @nnx.jit
    def step(model, optimizer, x):
        loss, grads = nnx.value_and_grad(lambda m: (m(x) ** 2).mean())(model)
        optimizer.update(model, grads)
        return loss

    step(model, optimizer, x)
    arrays = jax.tree.leaves(nnx.state(optimizer)) + jax.tree.leaves(nnx.state(model))
    snap = bufferlib.take_snapshot({"model": model, "optimizer": optimizer})
    by_id = {i.id: i for i in snap.arrays}
    assert all(by_id[id(a)].owner for a in arrays)
    kernel = model.layers[7].kernel.get_value()
    assert by_id[id(kernel)].owner == "model.layers[7].kernel.value"
    assert by_id[id(kernel)].holder == "model.layers"
    assert not snap.partial
    assert snap.owner_nodes < 3 * len(arrays)  # was ~4× before (trace states, metadata dicts)


# -- growth alerts through a real shell: snapshots at cell ends, mid-cell and explicit --------------


@pytest.fixture
def watched(ip):
    """jaxinspect loaded with the buffers interest on (as with the Buffers tab open: a snapshot
    at every cell's end) and ``tick()`` in the namespace: one sampler snapshot, as the sampler
    thread takes while a cell runs. Yields (shell, inspector, published records)."""
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    inspector = extension.current()
    got: list = []
    token = inspector.hub.subscribe(lambda batch: got.extend(batch["records"]))
    inspector.buffer_interval = 1.0

    def tick():
        inspector._buffer_due = 0.0
        inspector.sample_buffers("sampler")

    ip.user_ns["tick"] = tick
    ip.run_cell("import gc, jax, jax.numpy as jnp")
    try:
        yield ip, inspector, got
    finally:
        inspector.hub.unsubscribe(token)
        for name in ("tick", "losses", "all_logits", "cache", "preds", "evaluate", "leaky"):
            ip.user_ns.pop(name, None)
        ip.run_line_magic("unload_ext", "jaxinspect")
        gc.collect()


def _alerts(inspector, got):
    inspector.hub.flush()
    return [r for r in got if r["kind"] == "buffer_alert"]


def test_leak_across_cells_checked_with_the_magic_after_each_run(watched):
    """50 device scalars appended per run, `%jaxinspect buffers` after each run: the cell-end
    snapshot and the explicit one see the same count; equal snapshots must not reset growth."""
    ip, inspector, got = watched
    ip.run_cell("losses = []")
    views = []
    for _ in range(6):
        ip.run_cell("for i in range(50):\n    losses.append(jnp.float32(i) + 1)\n")
        views.append(ip.run_line_magic("jaxinspect", "buffers"))
    published = [a for a in _alerts(inspector, got) if a["name"] == "losses"]
    assert published, "no growth alert for `losses`"
    assert len({a["id"] for a in published}) == 1  # one alert, later growth updates it
    last = views[-1]
    (alert,) = [a for a in last.alerts if a.name == "losses"]
    held = next(g for g in last.by_owner if g.name == "losses")
    assert held.arrays == 300 and "now 300 arrays" in alert.message  # agrees with the table
    assert "float(loss)" in alert.hint


def test_arrays_freed_when_the_cell_ends_raise_no_alert(watched):
    """An evaluation loop keeps its batches' outputs in a local list while the cell runs (the
    sampler sees them grow, no notebook variable holds them) and frees them when it returns:
    a suspect, confirmed against the end-of-cell state, so no alert. A real module-level
    cache growing from cell to cell is alerted, once its arrays survive a collection."""
    ip, inspector, got = watched
    ip.run_cell(
        "def evaluate(xs):\n"
        "    outs = []\n"
        "    outs.append(outs)  # a reference cycle: freed only by a collection\n"
        "    for i in range(0, xs.shape[0], 10):\n"
        "        outs.append(jnp.tanh(xs[i:i + 10]) * 2)\n"
        "        outs.append(jnp.sum(xs[i:i + 10]))\n"
        "        tick()\n"
        "    return len(outs)\n"
    )
    for _ in range(2):
        ip.run_cell("gc.disable()\npreds = evaluate(jnp.ones((80, 4)))\ngc.enable()")
    assert [a["message"] for a in _alerts(inspector, got) if a["group"] == "site"] == []
    view = ip.run_line_magic("jaxinspect", "buffers")
    assert all(a.group != "site" for a in view.alerts)

    import sys
    import types

    sys.modules["leaky_cache_mod"] = types.ModuleType("leaky_cache_mod")
    sys.modules["leaky_cache_mod"].kept = []
    try:
        for _ in range(5):
            ip.run_cell(
                "import leaky_cache_mod\n"
                "for i in range(10):\n"
                "    leaky_cache_mod.kept.append(jnp.ones(3) * i)\n"
            )
        site = [a for a in _alerts(inspector, got) if a["group"] == "site"]
        assert len({a["id"] for a in site}) == 1, [a["message"] for a in site]  # updates: same id
        assert "still alive after a garbage collection" in site[0]["message"]
        assert "line 3" in site[0]["name"]
    finally:
        del sys.modules["leaky_cache_mod"]


def test_one_alert_per_holder_per_cell_updated_then_resolved(watched):
    """A loop that keeps every step's logits: one alert in the cell (not "now 30" then
    "now 60"), whose count follows the table; after `del all_logits` it is gone from the view
    and a resolution with the same id is published."""
    ip, inspector, got = watched
    ip.run_cell(
        "all_logits = []\n"
        "for step in range(80):\n"
        "    all_logits.append(jnp.ones((4, 10)) * step)\n"
        "    if step % 10 == 9:\n"
        "        tick()\n"
    )
    published = [a for a in _alerts(inspector, got) if a["name"] == "all_logits"]
    assert len(published) == 1, [a["message"] for a in published]
    view = ip.run_line_magic("jaxinspect", "buffers")
    (alert,) = [a for a in view.alerts if a.name == "all_logits"]
    assert alert.id == published[0]["id"]
    assert "now 80 arrays" in alert.message
    assert next(g for g in view.by_owner if g.name == "all_logits").arrays == 80
    ip.run_cell("del all_logits")
    view = ip.run_line_magic("jaxinspect", "buffers")
    assert all(a.name != "all_logits" for a in view.alerts)
    resolved = [a for a in _alerts(inspector, got) if a["name"] == "all_logits"][-1]
    assert resolved["id"] == published[0]["id"] and resolved["message"].startswith("resolved:")


def test_a_single_array_growing_in_bytes_is_a_leak_signal(watched):
    """A KV cache re-made by jnp.concatenate at every step: one array, more bytes each time."""
    ip, inspector, got = watched
    ip.run_cell(
        "cache = jnp.zeros((1, 0, 256))\n"
        "for step in range(6):\n"
        "    cache = jnp.concatenate([cache, jnp.ones((1, 128, 256))], axis=1)\n"
        "    tick()\n"
    )
    (alert,) = [a for a in _alerts(inspector, got) if a["name"] == "cache"]
    assert "keeps growing in bytes" in alert["message"] and "f32[1," in alert["message"]
    assert "jnp.concatenate" in alert["hint"]
    assert alert["arrays_delta"] == 0 and alert["bytes_delta"] >= 3 * 128 * 256 * 4


# -- every view: deleted arrays, jaxinspect's own arrays, order, bad input ----------------------------


def test_a_donated_array_is_deleted_in_the_sharding_view(ip):
    from jaxinspect.glue.bufferdisplay import ShardingView

    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell(
            "import jax, jax.numpy as jnp\n"
            "step = jax.jit(lambda w: w * 2, donate_argnums=0)\n"
            "old = jnp.ones((4, 4)) + 1\n"
            "new = step(old)\n"
        )
        assert ip.user_ns["old"].is_deleted()
        view = ip.run_line_magic("jaxinspect", "sharding old")
        assert isinstance(view, ShardingView) and view.deleted
        text = repr(view)
        assert text.startswith("old: deleted or donated") and "shards on" not in text
        assert "deleted or donated" in view._repr_mimebundle_()["text/html"]
        live = ip.run_line_magic("jaxinspect", "sharding new")
        assert not live.deleted and "1 shards on 1 devices" in repr(live)
        ids = {a.id for a in ip.run_line_magic("jaxinspect", "buffers --all").arrays}
        assert id(ip.user_ns["old"]) not in ids  # not listed as a live array either
    finally:
        for name in ("step", "old", "new"):
            ip.user_ns.pop(name, None)
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_jaxinspect_arrays_stay_out_of_the_users_views(ip):
    """The watch statistics table (f32[n, 72], made by paramlib) is jaxinspect's: never "no
    variable holds these". An array from the user's own jnp call that passed through
    jaxinspect's cache-miss hook stays the user's."""
    from jaxinspect.collect import paramlib

    model = Stack(3, nnx.Rngs(2))
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    rows = [paramlib._leaf_watch()(x) for x in leaves]
    table = paramlib._stack_rows(rows, paramlib.HEAD + paramlib.SKETCH)  # as the sampler holds it
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell("import jax.numpy as jnp\nmine = jnp.arange(7.0) * 3\n")
        view = jaxinspect_buffers()
        ids = {a.id for a in view.arrays}
        assert id(table) not in ids and view.own[0] >= 1
        # a jitted call from the user's code (here: the test) makes the user's array, even if
        # jaxinspect defined the function: only paramlib's own frames make its arrays its own
        assert all(id(r) in ids for r in rows)
        assert "of jaxinspect's own" in repr(view)
        assert id(ip.user_ns["mine"]) in ids
        row = next(a for a in view.arrays if a.id == id(ip.user_ns["mine"]))
        assert row.owner == "mine" and row.site.startswith("cell [")
        assert bufferlib.is_own(table) and not bufferlib.is_own(ip.user_ns["mine"])
        extra = jnp.ones(5) + 2  # made by the user, then registered as jaxinspect's
        bufferlib.register_own(extra)
        assert id(extra) not in {a.id for a in jaxinspect_buffers().arrays}
    finally:
        ip.user_ns.pop("mine", None)
        ip.run_line_magic("unload_ext", "jaxinspect")


def jaxinspect_buffers(**kw):
    import jaxinspect

    return jaxinspect.buffers(limit=None, **kw)


def test_no_jaxinspect_array_outlives_the_monitor_and_unload(ip):
    """A monitored, watched NNX training loop; after monitor.close() and %unload_ext no live
    array was made by jaxinspect."""
    ip.run_line_magic("load_ext", "jaxinspect")
    ip.user_ns.update(Stack=Stack, nnx=nnx, optax=optax)
    ip.run_cell(
        "import jax, jax.numpy as jnp, jaxinspect\n"
        "model = Stack(3, nnx.Rngs(0))\n"
        "opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)\n"
        "@nnx.jit\n"
        "def train_step(model, opt, x):\n"
        "    loss, g = nnx.value_and_grad(lambda m: (m(x) ** 2).mean())(model)\n"
        "    opt.update(model, g)\n"
        "    return loss\n"
        "monitor = jaxinspect.monitor()\n"
        "for step in range(30):\n"
        "    loss = train_step(model, opt, jnp.ones((2, 4)))\n"
        "    monitor.log(step, loss=loss)\n"
        "    jaxinspect.watch('params', nnx.state(model, nnx.Param), step=step)\n"
        "view = jaxinspect.params(model, stats=True)\n"
        "monitor.close()\n"
    )
    ip.run_line_magic("unload_ext", "jaxinspect")
    model = ip.user_ns["model"]  # the user's arrays stay: the check below is not vacuous
    for name in ("Stack", "nnx", "optax", "model", "opt", "train_step", "monitor", "loss", "view"):
        ip.user_ns.pop(name, None)
    gc.collect()
    live = jax.live_arrays()
    mine = {id(a) for a in jax.tree.leaves(nnx.state(model))}
    assert mine <= {id(a) for a in live}
    assert not any(bufferlib.is_own(a) for a in live if id(a) in mine)
    ours = [a for a in live if bufferlib.is_own(a)]
    assert ours == [], [(a.shape, a.dtype) for a in ours][:5]


def test_list_items_sort_naturally():
    losses = [jnp.float32(i) + 0 for i in range(12)]
    snap = bufferlib.take_snapshot({"losses": losses})
    from jaxinspect.analyze import bufferstats

    owners = [r.owner for r in bufferstats.rows(snap.arrays, None) if r.owner]
    assert owners == [f"losses[{i}]" for i in range(12)]


def test_bad_input_is_one_clear_line():
    from jaxinspect.glue.display import Message

    class Weird:
        def __getattr__(self, name):
            raise RuntimeError("no attributes here")

    msg = __import__("jaxinspect").sharding(Weird())
    assert isinstance(msg, Message) and "expected a jax.Array, got Weird" in msg.text
    for bad in ("x", -1, 2.5, True):
        msg = __import__("jaxinspect").buffers(limit=bad)
        assert isinstance(msg, Message) and "limit must be a whole number" in msg.text
        assert repr(bad) in msg.text
        msg._repr_mimebundle_()  # displaying it raises nothing


def test_arrays_only_jaxinspect_keeps_are_named_by_their_holder():
    """An object of jaxinspect's that keeps users' arrays (as a nan_guard keeps the previous
    call's inputs) is named as their holder; a user variable holding the same array wins; the
    registration is weak."""

    class Kept:  # stands for jaxinspect's guard object
        def __init__(self, inputs):
            self.previous = inputs

    @jax.jit
    def step(w):
        return w * 0.5 + 1

    w = jnp.ones((8, 8))
    old = w
    w = step(w)  # the user's variable moved on; only the guard keeps `old`
    both = jnp.zeros(3) + 1
    guard = Kept({"w": old, "b": both})
    bufferlib.register_holder("nan_guard(step) previous inputs", guard)
    snap = bufferlib.take_snapshot({"w": w, "both": both})
    by_id = {i.id: i for i in snap.arrays}
    assert by_id[id(old)].owner == "<jaxinspect: nan_guard(step) previous inputs>.previous['w']"
    assert by_id[id(both)].owner == "both"  # the user's variable wins
    assert by_id[id(w)].owner == "w"
    del guard
    gc.collect()
    assert not bufferlib._HOLDERS  # weak: nothing kept
    snap = bufferlib.take_snapshot({"w": w, "both": both})
    assert all(i.id != id(old) or i.owner is None for i in snap.arrays)


def test_a_real_nan_guard_registered_as_holder_names_the_previous_inputs(ip):
    """jaxinspect.nan_guard keeps the previous call's inputs; registered with register_holder
    (as replaylib should), those arrays read as held by the guard, not by nobody."""
    import jaxinspect

    ip.run_line_magic("load_ext", "jaxinspect")
    try:

        @jax.jit
        def step(w, x):
            return w - 0.1 * (x @ w).sum(), jnp.mean(w)

        guard = jaxinspect.nan_guard(step)
        w, x = jnp.ones((4, 4)), jnp.ones((2, 4))
        firsts = []
        for _ in range(3):
            firsts.append(w)
            w, _loss = guard(w, x)
        kept = firsts[-1]  # the last call's input `w`: only the guard keeps it now
        kept_id = id(kept)
        del firsts, kept
        bufferlib.register_holder("nan_guard(step)", guard)
        snap = bufferlib.take_snapshot({"w": w, "x": x, "guard_not_a_var": 0})
        owner = next((i.owner for i in snap.arrays if i.id == kept_id), "gone")
        if owner == "gone":
            pytest.skip("this nan_guard version does not keep the previous inputs")
        assert owner is not None and owner.startswith("<jaxinspect: nan_guard(step)>"), owner
        assert next(i.owner for i in snap.arrays if i.id == id(x)) == "x"  # the user's wins
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_a_nan_guard_filling_its_bounded_store_is_not_a_leak():
    """A nan_guard keeps its last calls' inputs (at most replaylib.KEEP calls): over its first
    calls, while its reader lags, that store grows at every snapshot, which is not a leak. It is
    still listed as a holder; no growth alert names it (one did in demo 05, around step 280).
    The store is filled here by hand, one call per snapshot, so the growth is certain."""
    from jaxinspect.analyze import bufferstats
    from jaxinspect.collect import replaylib

    class Guard:  # what bufferlib sees of a nan_guard: a registered object keeping inputs
        def __init__(self):
            self._kept = {}

    guard = Guard()
    bufferlib.register_holder("nan_guard(step)", guard)
    tracker = bufferstats.BufferTracker()
    alerts, holders = [], set()
    w = jnp.ones((64, 64))
    for call in range(replaylib.KEEP):
        guard._kept[call] = [w]  # the call's input, kept; the loop makes a new one
        w = w + 1.0
        rec, new = tracker.add(bufferlib.take_snapshot({"w": w}), trigger="api")
        alerts += new
        holders |= {g.name for g in rec.owners}
    assert any(h.startswith("<jaxinspect: nan_guard(step)>") for h in holders), holders
    assert not alerts, [a.message for a in alerts]
    # the same growth held by a user's variable is a leak, alerted
    mine = {}
    tracker = bufferstats.BufferTracker()
    for call in range(replaylib.KEEP):
        mine[call] = w
        w = w + 1.0
        _rec, new = tracker.add(bufferlib.take_snapshot({"w": w, "mine": mine}), trigger="api")
        alerts += new
    assert [a for a in alerts if "mine" in a.message], [a.message for a in alerts]
