"""Device buffers: owners, creation sites, deletion, leak alerts, shards, the sampler, the magic."""

from __future__ import annotations

import functools
import gc
import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import jaxinspect
from jaxinspect.analyze import bufferstats
from jaxinspect.collect import bufferlib
from jaxinspect.glue.bufferdisplay import BuffersView, ShardingView
from jaxinspect.glue.display import Message


def snap(ns, **kw):
    return bufferlib.take_snapshot(ns, **kw)


def owner_of(snapshot, arr):
    return next(i.owner for i in snapshot.arrays if i.id == id(arr))


def info_of(snapshot, arr):
    return next(i for i in snapshot.arrays if i.id == id(arr))


# -- owners ------------------------------------------------------------------------------------------


def test_owner_attribution_containers_closures_and_objects():
    w = jnp.ones((8, 8))
    params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)}}
    history = [jnp.float32(i) + 0 for i in range(3)]
    scale = jnp.full(3, 2.0)
    hidden = jnp.arange(5.0) + 1

    def make():
        captured = hidden
        return lambda x: x * captured

    fn = make()
    partial = functools.partial(lambda a, b: a + b, jnp.ones(2) * 7)

    class Trainer:
        def __init__(self):
            self.state = {"step": jnp.zeros(()) + 1}
            self.opt = (jnp.ones(5) + 2,)

        def run(self):
            return self.state

    trainer = Trainer()
    bound = Trainer().run
    ns = {
        "w": w,
        "params": params,
        "history": history,
        "fn": fn,
        "partial": partial,
        "trainer": trainer,
        "bound": bound,
        "scale": scale,
        "jitted": jax.jit(lambda x: x * scale),
    }
    s = snap(ns)
    assert owner_of(s, w) == "w"
    assert owner_of(s, params["Dense_0"]["kernel"]) == "params['Dense_0']['kernel']"
    assert owner_of(s, history[2]) == "history[2]"
    assert owner_of(s, hidden) == "fn.<closure captured>"
    assert owner_of(s, partial.args[0]) == "partial.args[0]"
    assert owner_of(s, trainer.state["step"]) == "trainer.state['step']"
    assert owner_of(s, trainer.opt[0]) == "trainer.opt[0]"
    assert owner_of(s, bound.__self__.state["step"]).startswith("bound.__self__.state")
    assert owner_of(s, scale) == "scale"  # the variable wins over the closure of `jitted`
    holders = {i.holder for i in s.arrays if i.owner}
    assert {"w", "params['Dense_0']", "history", "trainer.state"} <= holders
    assert not s.partial and s.attributed


def test_owner_attribution_flax_linen_and_nnx():
    nn = pytest.importorskip("flax.linen")
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2)(x)

    variables = MLP().init(jax.random.key(0), jnp.ones((1, 3)))

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(3, 3, rngs=rngs) for _ in range(4)])

    model = Net(nnx.Rngs(0))
    s = snap({"variables": variables, "model": model})
    kernel = variables["params"]["Dense_0"]["kernel"]
    assert owner_of(s, kernel) == "variables['params']['Dense_0']['kernel']"
    leaf = jax.tree_util.tree_leaves(model.layers[3])
    owners = {owner_of(s, a) for a in leaf}
    assert "model.layers[3].kernel.value" in owners and "model.layers[3].bias.value" in owners


def test_output_history_and_unowned_arrays():
    kept = jnp.ones(4) + 3
    out_only = jnp.ones(6) + 4
    s = snap({"kept": kept, "Out": {7: out_only}, "_": out_only, "_7": out_only})
    assert owner_of(s, kept) == "kept"
    assert owner_of(s, out_only) == "Out[7]"
    assert info_of(s, out_only).holder == "Out"
    orphan = jnp.ones(9) + 5
    s = snap({})
    assert info_of(s, orphan).owner is None


def test_creation_site_is_the_user_line():
    def create():
        return jnp.zeros((2, 3)) + 1  # the creation line

    x = create()
    s = snap({"x": x}, sites=True)
    site = info_of(s, x).site
    assert site.startswith("tests/test_buffers.py:") and site.endswith("(create)")
    line = int(site.split(":")[1].split()[0])
    with open(__file__) as fh:
        assert "the creation line" in fh.read().splitlines()[line - 1]


# -- never keeps arrays alive; deleted and donated arrays ----------------------------------------------


def test_deleted_variable_disappears_and_snapshots_hold_nothing():
    x = jnp.ones((128, 128)) + 1
    xid = id(x)
    view = jaxinspect.buffers()
    assert any(a.id == xid for a in view.arrays)
    del x
    gc.collect()
    assert all(id(a) != xid for a in jax.live_arrays())  # neither the view nor the tracker holds it
    again = jaxinspect.buffers()
    assert all(a.id != xid or a.type != "f32[128,128]" for a in again.arrays)


def test_donated_and_deleted_arrays_do_not_crash_a_snapshot(monkeypatch):
    x = jnp.ones(16) + 1
    y = jnp.ones(16) + 2
    step = jax.jit(lambda a: a * 2, donate_argnums=0)
    out = step(x)  # x is donated (on CPU donation may be a no-op; deleting below is not)
    y.delete()
    s = snap({"x": x, "y": y, "out": out})
    assert all(i.id != id(y) or i.deleted for i in s.arrays)
    assert owner_of(s, out) == "out"

    # an array deleted *while* the snapshot reads it
    victim = jnp.ones(8) + 9
    original = bufferlib._info

    def racing(arr, devices, sites):
        if arr is victim:
            arr.delete()
        return original(arr, devices, sites)

    monkeypatch.setattr(bufferlib, "_info", racing)
    s = snap({"victim": victim})
    gone = [i for i in s.arrays if i.id == id(victim)]
    assert not gone or gone[0].deleted
    assert s.deleted >= (1 if gone else 0)


# -- leak detection ------------------------------------------------------------------------------------


def test_leak_alert_on_an_accumulating_loop():
    @jax.jit
    def train_step(w, x):
        loss = jnp.mean((x @ w) ** 2)
        return w - 0.01 * jax.grad(lambda w: jnp.mean((x @ w) ** 2))(w), loss

    tracker = bufferstats.BufferTracker()
    w, x = jnp.ones((4, 2)), jnp.ones((3, 4))
    losses = []
    ns = {"w": w, "losses": losses}
    alerts = []
    for _ in range(5):
        for _ in range(10):
            w, loss = train_step(w, x)
            losses.append(loss)  # the classic leak: a device scalar per step
        ns["w"] = w
        alerts += tracker.add(snap(ns), "sampler", 1.0)[1]
    assert len(alerts) == 1, [a.message for a in alerts]
    alert = alerts[0]
    assert alert.group == "owner" and alert.name == "losses"
    assert "f32[]" in alert.message and alert.arrays_delta == 30
    assert "float(loss)" in alert.hint


def test_no_false_positive_on_a_correct_loop():
    @jax.jit
    def train_step(w, x):
        return w - 0.01 * x.sum(), jnp.mean(w)

    tracker = bufferstats.BufferTracker()
    w, x = jnp.ones((4, 2)), jnp.ones((3, 4))
    history = []
    for _ in range(6):
        for _ in range(10):
            w, loss = train_step(w, x)
            history.append(float(loss))
        assert tracker.add(snap({"w": w, "history": history}), "sampler", 1.0)[1] == []


def test_unowned_growth_is_reported_by_site():
    tracker = bufferstats.BufferTracker()
    sink = []  # not in the namespace: like a module-level cache
    alerts = []
    for _ in range(5):
        for _ in range(4):
            sink.append(jnp.ones(3) + len(sink))
        # "api": a quiescent snapshot (sampler snapshots mid-cell only make suspects, which are
        # confirmed at the end of the cell: tests/test_buffers_real.py)
        alerts += tracker.add(snap({}), "api", 1.0)[1]
    assert len(alerts) == 1 and alerts[0].group == "site"
    assert "test_buffers.py" in alerts[0].name and "no notebook variable holds them" in alerts[0].message


# -- views -------------------------------------------------------------------------------------------


def test_buffers_view_text_html_json_and_escaping(ip):
    evil = '<img src=x onerror="alert(1)">'
    ip.user_ns["holder"] = {evil: jnp.ones((64, 64)) + 1}  # buffers() searches the shell's namespace
    view = jaxinspect.buffers(limit=5)
    assert isinstance(view, BuffersView)
    html = view._repr_mimebundle_()["text/html"]
    assert "<img" not in html and "&lt;img" in html
    text = repr(view)
    assert "per device:" in text and "largest arrays:" in text
    assert f"holder[{evil!r}]" in text
    json.dumps(view.to_json())
    assert view.record.arrays >= 1 and view.by_device[0].device.startswith("cpu:")
    if view.record.arrays > 5:
        assert "more arrays" in text
    del ip.user_ns["holder"]


def test_ten_thousand_arrays_stay_bounded():
    many = [jnp.full((2,), float(i)) for i in range(10_000)]  # noqa: F841
    view = jaxinspect.buffers()
    html = view._repr_mimebundle_()["text/html"]
    assert len(html) < 300_000 and "more arrays" in html
    assert len(view.arrays) >= 10_000  # the full listing is still available as data
    assert len(view.record.owners) <= bufferstats.GROUP_ROWS


def test_sharding_view_single_device_and_bad_input():
    x = jnp.ones((4, 4)) + 1
    sv = jaxinspect.sharding(x)
    assert isinstance(sv, ShardingView) and len(sv.shards) == 1
    assert sv.shards[0].bounds == ((0, 4), (0, 4))
    bad = jaxinspect.sharding([1, 2])
    assert isinstance(bad, Message) and "expected a jax.Array" in bad.text


# -- many devices (a fresh process with 8 CPU devices) -----------------------------------------------

EIGHT_DEVICES = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    import jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jaxinspect
    from jaxinspect.collect import bufferlib
    from jaxinspect.render import bufferview

    mesh = jax.make_mesh((2, 4), ("x", "y"))
    sharded = jax.device_put(np.ones((8, 16), np.float32), NamedSharding(mesh, P("x", "y")))
    replicated = jax.device_put(np.ones((4, 4), np.float32), NamedSharding(mesh, P()))
    cube = jax.device_put(np.ones((8, 2, 8), np.float32), NamedSharding(mesh, P("x", None, "y")))
    view = jaxinspect.buffers()
    devices = {d.device: d for d in view.by_device}
    assert len(devices) == 8, devices
    per = {d: devices[d].bytes for d in devices}
    # every device: 1/8 of `sharded` (64 B), all of `replicated` (64 B), 1/8 of `cube` (64 B)
    assert set(per.values()) == {64 + 64 + 64}, per
    row = next(a for a in view.arrays if a.owner == "sharded")
    assert row.n_devices == 8 and row.device_bytes == row.bytes == 512
    rrow = next(a for a in view.arrays if a.owner == "replicated")
    assert rrow.device_bytes == 8 * rrow.bytes
    shards = bufferlib.shards(sharded)
    grid = bufferview.shard_grid(shards)
    assert len(grid["rows"]) == 2 and len(grid["cols"]) == 4
    assert grid["cells"][(1, 3)] == ["cpu:7"]
    rep = bufferlib.shards(replicated)
    assert sorted(s.replica for s in rep) == list(range(8))
    sv = jaxinspect.sharding(cube)
    assert bufferview.shard_grid(sv.shards) is None and len(sv.shards) == 8
    assert "[0:4, 0:2, 0:2]" in repr(sv)
    html = view._repr_mimebundle_()["text/html"]
    assert "shards of <code>sharded</code>" in html
    print("OK", per)
    """
)


def test_eight_devices_sharded_and_replicated():
    proc = subprocess.run(
        [sys.executable, "-c", EIGHT_DEVICES], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK" in proc.stdout


# -- live: interest, sampler, between cells, the magic -------------------------------------------


def test_interest_sampler_and_cells(ip):
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        inspector = extension.current()
        got = []
        token = inspector.hub.subscribe(lambda batch: got.extend(batch["records"]))
        rpc = inspector.transport._methods["interest"]
        assert rpc({"buffers": 1}) == {"buffers": 1.0}
        assert rpc({"buffers": 0.01}) == {"buffers": 0.25}  # clamped
        with pytest.raises(ValueError, match="seconds"):
            rpc({"buffers": "fast"})
        ip.run_cell("import jax.numpy as jnp\nacc = []\nfor i in range(5):\n    acc.append(jnp.ones(2) + i)\n")
        inspector.hub.flush()
        assert [r["trigger"] for r in got if r["kind"] == "buffers"] == ["cell"]  # at the cell's end
        rpc({"buffers": 1})
        inspector.sample_buffers("sampler")  # due right away after (re)stating interest
        inspector.hub.flush()
        triggers = [r["trigger"] for r in got if r["kind"] == "buffers"]
        assert triggers == ["cell", "sampler"]
        rec = [r for r in got if r["kind"] == "buffers"][-1]
        assert any(g["name"] == "acc" and g["arrays"] == 5 for g in rec["owners"])
        assert rec["trigger"] in ("sampler", "cell")
        # the duty cycle: right after a snapshot, the sampler waits
        n = inspector.buffer_tracker.seq
        inspector.sample_buffers("sampler")
        assert inspector.buffer_tracker.seq == n
        rpc({"buffers": 0})
        ip.run_cell("x = 1")
        assert inspector.buffer_tracker.seq == n  # nobody watching: no snapshots
        inspector.hub.unsubscribe(token)
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_buffers_and_sharding_magics(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell("import jax.numpy as jnp\nparams = {'w': jnp.ones((3, 3)) + 1}\n")
        view = ip.run_line_magic("jaxinspect", "buffers --limit 3")
        assert isinstance(view, BuffersView) and view.limit == 3
        assert any(a.owner == "params['w']" for a in view.arrays)
        sv = ip.run_line_magic("jaxinspect", "sharding params['w']")
        assert isinstance(sv, ShardingView) and sv.title == "params['w']"
        bad = ip.run_line_magic("jaxinspect", "sharding nope")
        assert isinstance(bad, Message) and "NameError" in bad.text
        bad = ip.run_line_magic("jaxinspect", "buffers --limit x")
        assert isinstance(bad, Message) and "usage" in bad.text
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_device_memory_profile_is_parsed():
    big = jnp.ones((300, 300)) + 1  # noqa: F841 - 360 000 bytes that the profile must count
    samples = bufferlib.parse_pprof(jax.profiler.device_memory_profile())
    buffers = [s for s in samples if s["labels"].get("kind") == "buffer"]
    assert buffers and sum(s["values"]["space"] for s in buffers) >= 300 * 300 * 4
    assert all(isinstance(f[1], str) for s in buffers for f in s["frames"])
    view = jaxinspect.buffers(profile=True)
    totals = {(t["kind"], t["device"]): t["bytes"] for t in view.profile["totals"]}
    assert totals[("buffer", "cpu:0")] >= 300 * 300 * 4
    assert "device_memory_profile():" in repr(view)
    assert "largest allocation sites" in view._repr_mimebundle_()["text/html"]
