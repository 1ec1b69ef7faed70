"""Compile events and their reasons, provoked for real (structured reasons, never log text)."""

import subprocess
import sys
import textwrap
import threading
from functools import partial

import jax
import jax.numpy as jnp
import pytest

import jaxinspect
from jaxinspect import errors
from jaxinspect.analyze.compilestats import CompileLog
from jaxinspect.collect import compilelib


def user_events(p, name=None):
    return [e for e in p.events if not e.internal and (name is None or e.fun_name == name)]


def kinds(event):
    return [r.kind for r in event.reasons]


def only_reason(event):
    (reason,) = event.reasons
    return reason


def test_first_call_then_shape_dtype_and_weak_type():
    @jax.jit
    def f(x, y):
        return x * y

    with jaxinspect.profile() as p:
        f(jnp.ones(3), 2.0)
        f(jnp.ones(3), 5.0)  # a Python float's value is not part of the signature: cache hit
        f(jnp.ones(4), 2.0)
        f(jnp.ones(4, jnp.int32), 2.0)
        f(jnp.ones(4, jnp.int32), jnp.float32(2.0))
        f(jnp.ones(4, jnp.int32), jnp.asarray(2.0))  # weak float32[] == a Python float: hit
        f(jnp.ones(5, jnp.int32), jnp.float32(2.0))
        f(jnp.ones(5, jnp.int32), jnp.asarray(2.0))  # now only the weak type differs
    e = user_events(p, "f")
    assert len(e) == 6  # the two marked "hit" compiled nothing
    assert kinds(e[0]) == ["first_call"]
    r = only_reason(e[1])
    assert (r.kind, r.path, r.before, r.after) == ("shape", "x", "(3,)", "(4,)")
    r = only_reason(e[2])
    assert (r.kind, r.path) == ("dtype", "x") and "float32" in r.before and "int32" in r.after
    r = only_reason(e[3])
    assert (r.kind, r.path, r.before, r.after) == (
        "dtype",
        "y",
        "Python float (weak-typed)",
        "float32[]",
    )
    r = only_reason(e[5])
    assert (r.kind, r.path, r.before, r.after) == ("weak_type", "y", "float32[]", "float32[], weak")
    assert all(ev.trace_s and ev.lower_s and ev.compile_s for ev in e)
    assert e[0].call_site and e[0].call_site.startswith(__file__)
    assert e[0].defined_at.startswith(__file__)


def test_pytree_structure_and_nested_paths():
    @jax.jit
    def loss(params, batch):
        return sum(jnp.sum(v) for v in jax.tree.leaves(params)) + jnp.sum(batch["x"])

    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    with jaxinspect.profile() as p:
        loss(params, {"x": jnp.ones(3)})
        loss({"dense": {**params["dense"], "scale": jnp.ones(2)}}, {"x": jnp.ones(3)})
        loss(params, {"x": jnp.ones(5)})
    e = user_events(p, "loss")
    r = only_reason(e[1])
    assert r.kind == "structure" and r.path == "params"
    assert "added params['dense']['scale']" in r.message
    r = only_reason(e[2])
    assert (r.kind, r.path, r.before, r.after) == ("shape", "batch['x']", "(3,)", "(5,)")


def test_static_argument_value_and_recreated_object():
    @partial(jax.jit, static_argnums=1, static_argnames="opt")
    def g(x, n, opt=None):
        return x * n

    class Optimizer:  # compares by identity, like a re-created optimizer
        def __init__(self, lr):
            self.lr = lr

        def __hash__(self):
            return 0

    o = Optimizer(0.1)
    with jaxinspect.profile() as p:
        g(jnp.ones(2), 2, opt=o)
        g(jnp.ones(2), 3, opt=o)
        g(jnp.ones(2), 3, opt=Optimizer(0.1))
    e = user_events(p, "g")
    r = only_reason(e[1])
    assert (r.kind, r.path, r.before, r.after) == ("static", "n", "2", "3")
    r = only_reason(e[2])
    assert r.kind == "static" and r.path == "opt" and r.recreated
    assert "compares by identity" in r.message


def test_context_change_is_a_reason():
    @jax.jit
    def mm(a):
        return a @ a

    with jaxinspect.profile() as p:
        mm(jnp.ones((2, 2)))
        with jax.default_matmul_precision("highest"):
            mm(jnp.ones((2, 2)))
    e = user_events(p)
    r = only_reason(e[1])
    assert (r.kind, r.path) == ("context", "default_matmul_precision")
    assert r.after == "'highest'"


def test_cleared_cache_is_reported_as_unknown_not_invented():
    @jax.jit
    def h(x):
        return x + 1

    with jaxinspect.profile() as p:
        h(jnp.ones(2))
        jax.clear_caches()
        h(jnp.ones(2))
    e = user_events(p)
    assert kinds(e[1]) == ["unknown"] and "cleared" in e[1].reasons[0].message


def test_redefined_function_in_a_rerun_cell(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    cell = "import jax, jax.numpy as jnp\n@jax.jit\ndef step(x):\n    return x * 2\nstep(jnp.ones(3))\n"
    ip.run_cell(cell, store_history=True)
    ip.run_cell(cell, store_history=True)
    events = [e for e in jaxinspect.compile_log().events if e.fun_name == "step"]
    assert kinds(events[0]) == ["first_call"]
    assert kinds(events[1]) == ["redefined"]
    assert events[1].cell == events[0].cell + 1
    assert events[0].cell is not None and events[0].call_site.endswith(":5")


def test_nested_jit_and_internal_eager_compiles():
    @jax.jit
    def inner(x):
        return x + 1

    @jax.jit
    def outer(x):
        return inner(x) * 2

    with jaxinspect.profile() as p:
        outer(jnp.ones(3))
        jnp.ones(17)  # JAX-internal eager compile (broadcast_in_dim / convert_element_type)
    names = {e.fun_name: e for e in user_events(p)}
    assert names["inner"].parent.endswith("outer") and names["inner"].api == "call"
    assert names["outer"].parent is None and names["outer"].compile_s
    internal = [e for e in p._log.event_list(include_internal=True) if e.internal]
    assert internal and all(not e.reasons for e in internal)
    assert "JAX-internal compiles hidden" in repr(p)
    p.include_internal = True
    assert any(e.internal for e in p.events)


def test_trace_and_lower_api_are_recorded():
    @jax.jit
    def k(x):
        return x - 1

    with jaxinspect.profile() as p:
        k.trace(jnp.ones(6)).lower().compile()
    (e,) = user_events(p)
    assert e.api == "trace" and e.trace_s and e.lower_s and e.compile_s


def test_compiles_from_several_threads_are_all_recorded():
    @jax.jit
    def t(x):
        return x * 3

    def work(n):
        t(jnp.ones(n))

    with jaxinspect.profile() as p:
        threads = [
            threading.Thread(target=work, args=(n,), name=f"worker-{n}") for n in range(20, 24)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    e = user_events(p)
    assert sorted(ev.thread for ev in e) == [f"worker-{n}" for n in range(20, 24)]


def test_storm_alert_with_hint_and_configurable_threshold(monkeypatch):
    monkeypatch.setattr(jaxinspect.config, "storm_threshold", 3)

    @jax.jit
    def ragged(x):
        return x.sum()

    with jaxinspect.profile() as p:
        for n in range(1, 7):
            ragged(jnp.ones(n))
    (alert,) = p.alerts
    assert alert.reason_kind == "shape" and alert.compiles == 4
    assert "recompiled 3 times" in alert.message and "bucket" in alert.hint
    assert "⚠" in repr(p) and "fix: pad inputs" in repr(p)


def test_listener_faults_never_reach_user_code(monkeypatch):
    errors.reset()

    def boom(*a, **k):
        raise RuntimeError("injected")

    monkeypatch.setattr(compilelib.signaturelib, "signature", boom)

    @jax.jit
    def ok(x):
        return x + 2

    with jaxinspect.profile() as p:
        assert float(ok(jnp.ones(()))) == 3.0
    assert p.events == []
    assert errors.total() >= 1 and any("injected" in r.message for r in errors.recent())
    errors.reset()


def test_a_failing_sink_never_reaches_user_code():
    c = compilelib.collector()

    def bad(event):
        raise ValueError("sink exploded")

    c.attach(bad)
    try:
        assert float(jax.jit(lambda x: x * 4)(jnp.ones(()))) == 4.0
    finally:
        c.detach(bad)
    assert any("sink exploded" in r.message for r in errors.recent())
    errors.reset()


def test_detaching_the_last_sink_removes_every_listener_and_hook():
    from jax._src import monitoring, pjit

    before = (
        len(monitoring.get_event_duration_listeners()),
        len(monitoring.get_event_listeners()),
        pjit._infer_params,
        pjit._run_python_pjit,
    )
    with jaxinspect.profile():
        with jaxinspect.profile():
            assert pjit._infer_params is not before[2]
        assert compilelib.collector().installed
    after = (
        len(monitoring.get_event_duration_listeners()),
        len(monitoring.get_event_listeners()),
        pjit._infer_params,
        pjit._run_python_pjit,
    )
    assert after == before
    assert not compilelib.collector().installed


def test_function_names_with_html_are_escaped():
    def f(x):
        return x + 1

    f.__qualname__ = f.__name__ = "<img src=x onerror=alert(1)>"
    with jaxinspect.profile() as p:
        jax.jit(f)(jnp.ones(2))
    html = p._repr_mimebundle_()["text/html"]
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x onerror=alert(1)>" in repr(p)  # the text twin shows it verbatim


def test_assert_max_compiles_names_the_reason():
    @jax.jit
    def step(x):
        return x * 2

    with jaxinspect.assert_max_compiles(step, 1):
        step(jnp.ones(3))
        step(jnp.ones(3))
    with pytest.raises(AssertionError) as info:
        with jaxinspect.assert_max_compiles(step, 1):
            step(jnp.ones(8))
            step(jnp.ones(9))
    assert "`step` compiled 2 times (allowed 1)" in str(info.value)
    assert "`x` changed shape (8,) → (9,)" in str(info.value)


def test_compile_log_aggregates_stay_exact_when_the_ring_overflows():
    log = CompileLog(storm_threshold=10**9, capacity=3)

    @jax.jit
    def q(x):
        return x

    with jaxinspect.profile() as p:
        for n in range(1, 8):
            q(jnp.ones(n))
    for e in user_events(p):
        log.add(e)
    (stats,) = log.functions()
    assert len(log.events) == 3 and log.total_events == 7
    assert stats.compiles == 7 and stats.reasons == {"first_call": 1, "shape": 6}


def test_jit_profile_magic(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    ip.run_cell("import jax, jax.numpy as jnp\nmf = jax.jit(lambda x: x + 1)", store_history=True)
    prof = ip.run_line_magic("jit_profile", "-o -q [mf(jnp.ones(n)) for n in (2, 3)]")
    assert [kinds(e) for e in prof.events] == [["first_call"], ["shape"]]
    assert prof.to_json()["functions"][0]["compiles"] == 2
    everything = ip.run_line_magic("jit_profile", "-o -q --all jnp.zeros(31)")
    assert everything.events and all(e.internal for e in everything.events)
    cell = ip.run_cell_magic("jit_profile", "-o -q", "y = mf(jnp.ones(4))\nz = mf(jnp.ones(4))")
    assert len(cell.events) == 1 and ip.user_ns["z"].shape == (4,)
    bad = repr(ip.run_line_magic("jit_profile", "--bogus 1"))
    assert "unknown option '--bogus'" in bad and "usage: %jit_profile" in bad
    assert "nothing to run" in repr(ip.run_line_magic("jit_profile", "-o"))
    session = ip.run_line_magic("jaxinspect", "compiles")
    assert session.compiles("<lambda>") >= 3
    assert "unknown option" in repr(ip.run_line_magic("jaxinspect", "compiles --nope"))


def test_compile_records_reach_the_hub(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    from jaxinspect.glue import extension

    hub = extension.current().hub
    ip.run_cell(
        "import jax, jax.numpy as jnp\nhf = jax.jit(lambda x: x * 5)\nhf(jnp.ones(2))",
        store_history=True,
    )
    kinds_seen = {r["kind"] for r in hub.recent("compile")} | {
        r["kind"] for r in hub.recent("compile_stats")
    }
    assert kinds_seen == {"compile", "compile_stats"}
    event = [r for r in hub.recent("compile") if r["fun_name"] == "<lambda>"][-1]
    assert event["reasons"][0]["kind"] == "first_call" and event["cell"] is not None


def test_sharding_change_on_several_cpu_devices():
    code = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, jaxinspect
        from jax.sharding import NamedSharding, PartitionSpec as P
        mesh = jax.make_mesh((4,), ("d",))
        x = jnp.arange(8.0)
        f = jax.jit(lambda a: a * 2)
        with jaxinspect.profile() as p:
            f(jax.device_put(x, NamedSharding(mesh, P("d"))))
            f(jax.device_put(x, NamedSharding(mesh, P())))
        ev = [e for e in p.events if not e.internal]
        (r,) = ev[1].reasons
        assert r.kind == "sharding" and r.path == "a", ev[1].reasons
        assert "P('d'" in r.before and "P()" in r.after, (r.before, r.after)
        print("OK")
        """
    )
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PATH": "/usr/bin:/bin"}
    import os

    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.stdout.strip().endswith("OK"), out.stderr[-3000:]


def test_nnx_optimizer_recreated_each_epoch_is_narrowed_to_opt_tx():
    """flax#5548: a new nnx.Optimizer per epoch recompiles the step; say exactly that."""
    nnx = pytest.importorskip("flax.nnx", reason="flax is not installed (the jax 0.10 compat env)")
    optax = pytest.importorskip("optax")

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            return self.linear(x)

    model = Model(nnx.Rngs(0))

    @nnx.jit
    def train_step(model, opt, x):
        loss, grads = nnx.value_and_grad(lambda m: (m(x) ** 2).mean())(model)
        opt.update(model, grads)
        return loss

    x = jnp.ones((3, 4))
    with jaxinspect.profile() as p:
        for _epoch in range(3):
            opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
            train_step(model, opt, x)
            train_step(model, opt, x)
    recompiles = [e for e in p.events if any(r.kind == "static" for r in e.reasons)]
    assert len(recompiles) == 2, [(e.fun_name, e.reasons) for e in p.events]
    (r,) = recompiles[0].reasons
    assert r.path == "opt.tx" and r.recreated, r
    assert "re-created between calls" in r.message and len(r.message) < 300


def test_persistent_cache_hit_and_miss_are_recorded(tmp_path):
    code = textwrap.dedent(
        f"""
        import jax, jax.numpy as jnp, jaxinspect
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path)!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        f = jax.jit(lambda x: jnp.sin(x) * 2)
        with jaxinspect.profile() as p:
            f(jnp.ones(3))
            jax.clear_caches()
            f(jnp.ones(3))
        got = [(e.persistent_cache, [r.kind for r in e.reasons]) for e in p.events]
        assert got == [("miss", ["first_call"]), ("hit", ["unknown"])], got
        print("OK")
        """
    )
    import os

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.stdout.strip().endswith("OK"), out.stderr[-3000:]


def test_no_strong_reference_to_user_arrays_after_a_trace():
    import gc
    import weakref

    @jax.jit
    def tr(x):
        return x * 7

    with jaxinspect.profile() as p:
        x = jnp.ones(13)
        ref = weakref.ref(x)
        tr.trace(x)  # traced, not run: the frame waits for a lower()/compile() that never comes
        del x
        gc.collect()
        assert ref() is None, "jaxinspect kept the argument alive"
    assert [e.api for e in user_events(p)] == ["trace"]
