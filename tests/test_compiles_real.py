"""Compiles of real code, told in the user's words (issue 15 §3): un-jitted loops are user
compiles, NNX graph differences read as model paths, many differences read as one line, the
right cause (class, partial, re-created body) and fix, no jaxinspect frame in a user's error,
and the right cell number in a real kernel."""

import functools
import traceback

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import jaxinspect
from jaxinspect.analyze.compilestats import HINTS

nnx = pytest.importorskip("flax.nnx", reason="flax is not installed (the jax 0.10 compat env)")


def user_events(p, name=None):
    return [e for e in p.events if not e.internal and (name is None or e.fun_name == name)]


def text_of(p):
    return repr(p)


# -- un-jitted lax.scan / while_loop / cond / fori_loop -------------------------------------------


def body(c, x):
    return c + x, c * x


def cond_fn(s):
    return s[0] < 10


def wbody(s):
    return (s[0] + 1, s[1] * 2.0)


def add_i(i, v):
    return v + i


def test_unjitted_loops_are_user_compiles_named_after_their_body_with_shape_reasons():
    with jaxinspect.profile() as p:
        for n in (3, 4, 5):
            lax.scan(body, 0.0, jnp.arange(float(n)))
            lax.while_loop(cond_fn, wbody, (0, jnp.ones(n)))
            lax.fori_loop(0, 3, add_i, jnp.zeros(n))
    names = {f.fun_name: f for f in p.functions}
    assert {"lax.scan(body)", "lax.while_loop(cond_fn, wbody)", "lax.fori_loop(add_i)"} <= set(
        names
    ), names
    for name in ("lax.scan(body)", "lax.while_loop(cond_fn, wbody)", "lax.fori_loop(add_i)"):
        assert names[name].compiles == 3 and names[name].reasons == {"first_call": 1, "shape": 2}
    scans = user_events(p, "lax.scan(body)")
    assert scans[0].defined_at.endswith(f"test_compiles_real.py:{body.__code__.co_firstlineno}")
    assert "un-jitted lax.scan compiles its own program" in scans[0].reasons[0].message
    (r,) = scans[1].reasons
    assert (r.kind, r.path, r.before, r.after) == ("shape", "xs[0]", "(3,)", "(4,)"), r
    assert scans[1].call_site.endswith(".py:" + str(_line_of("lax.scan(body, 0.0")))
    (w,) = user_events(p, "lax.while_loop(cond_fn, wbody)")[2].reasons
    assert (w.path, w.before, w.after) == ("init[1]", "(4,)", "(5,)"), w
    text = text_of(p)
    assert "hit the cache" not in text and "lax.scan(body)" in text
    # jnp.ones' tiny eager programs stay hidden as JAX-internal
    assert not any(f.fun_name in ("broadcast_in_dim", "convert_element_type") for f in p.functions)


def _line_of(snippet):
    import inspect

    lines, start = inspect.getsourcelines(test_unjitted_loops_are_user_compiles_named_after_their_body_with_shape_reasons)
    return next(start + i for i, line in enumerate(lines) if snippet in line)


def test_a_new_body_function_each_call_recompiles_and_says_so():
    with jaxinspect.profile() as p:
        for _ in range(6):
            lax.cond(True, lambda v: v + 1, lambda v: v - 1, jnp.zeros(3))
        for n in range(3):
            lax.cond(True, lambda v, n=n: v + n, lambda v: v - 1, jnp.zeros(3))
    same, differ = (
        [e for e in user_events(p) if e.fun_name == "lax.cond(<lambda>)" and e.defined_at == d]
        for d in dict.fromkeys(e.defined_at for e in user_events(p))
    )
    assert len(same) == 6 and len(differ) == 3
    (r,) = same[2].reasons
    assert r.kind == "redefined" and "new function object on each call" in r.message, r
    (r,) = differ[1].reasons
    assert r.kind == "body" and "traced to a different program" in r.message, r
    (alert,) = p.alerts  # five recompiles of one un-jitted cond: a storm, with the body's fix
    assert alert.fun_name == "lax.cond(<lambda>)" and alert.reason_kind == "redefined_body"
    assert "define the body function once" in alert.hint and "traced" not in alert.hint


class Block(nnx.Module):
    def __init__(self, input_dim, features, *, rngs):
        self.linear = nnx.Linear(input_dim, features, rngs=rngs)
        self.dropout = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, x):
        return jax.nn.relu(self.dropout(self.linear(x)))


class ScanModel(nnx.Module):
    """Flax's scan-over-layers example (nnx.scan docstring)."""

    def __init__(self, num_layers, features, *, rngs):
        @nnx.split_rngs(splits=num_layers)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create_block(rngs: nnx.Rngs):
            return Block(features, features, rngs=rngs)

        self.blocks = create_block(rngs)
        self.num_layers = num_layers

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def forward(x, model):
            return model(x)

        return forward(x, self.blocks)


def test_flax_scan_over_layers_shows_its_compiles():
    with jaxinspect.profile() as p:
        model = ScanModel(2, 4, rngs=nnx.Rngs(0))
        model(jnp.ones((3, 4)))
        model(jnp.ones((3, 4)))
        model(jnp.ones((5, 4)))
    scans = user_events(p, "lax.scan(forward)")
    assert len(scans) == 3, [(e.fun_name, e.reasons) for e in user_events(p)]
    assert scans[0].reasons[0].kind == "first_call"
    (r,) = scans[1].reasons  # `forward` is defined inside __call__: a new function each call
    assert r.kind == "redefined" and r.path == "forward", r
    assert "define it once" in r.message or "define the body" in HINTS["redefined_body"]
    (r,) = scans[2].reasons
    assert (r.kind, r.path, r.before, r.after) == ("shape", "init[0]", "(3, 4)", "(5, 4)"), r
    text = text_of(p)
    assert "0 compiles" not in text and "hit the cache" not in text


def test_an_empty_report_says_hit_the_cache_only_when_nothing_compiled():
    f = jax.jit(lambda x: x * 3)
    f(jnp.ones(2))
    with jaxinspect.profile() as p:
        f(jnp.ones(2))
    assert "every jitted call hit the cache" in text_of(p)
    with jaxinspect.profile() as p:
        # shapes no other test uses: JAX compiles its own broadcast, not a user compile, no hit
        jnp.full((17, 3, 29), 3, jnp.int16)
        jnp.zeros((13, 5, 31), jnp.uint16)
    assert p.hidden_internal > 0 and not p.events
    text = text_of(p)
    assert "hit the cache" not in text and "none of your functions compiled" in text, text


# -- NNX: classes, graph paths, summaries --------------------------------------------------------


class MLP(nnx.Module):
    def __init__(self, d, rngs, dtype=jnp.float32):
        self.fc1 = nnx.Linear(d, d, rngs=rngs, dtype=dtype)
        self.fc2 = nnx.Linear(d, d, rngs=rngs, dtype=dtype)

    def __call__(self, x):
        return self.fc2(nnx.relu(self.fc1(x)))


class LM(nnx.Module):
    def __init__(self, rngs, dtype=jnp.float32):
        self.blocks = nnx.List([MLP(4, rngs, dtype) for _ in range(2)])

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class RematLM(LM):
    def __call__(self, x):
        for b in self.blocks:
            x = nnx.remat(lambda m, x: m(x))(b, x)
        return x


def test_a_different_model_class_is_named_as_such():
    @nnx.jit
    def step(model, x):
        return model(x).sum()

    x = jnp.ones((2, 4))
    with jaxinspect.profile() as p:
        step(LM(nnx.Rngs(0)), x)
        step(RematLM(nnx.Rngs(0)), x)
    first, second = user_events(p, "step")
    (r,) = second.reasons
    assert (r.kind, r.message) == ("class", "model class changed LM → RematLM"), r
    assert not r.recreated and "create it once" not in r.message
    assert first.out_shardings == () and "outputs:" not in text_of(p)


def test_bf16_compute_reads_as_model_paths_in_one_line_with_details():
    @nnx.jit
    def step(model, x):
        return model(x).sum()

    x = jnp.ones((2, 4))
    with jaxinspect.profile() as p:
        step(LM(nnx.Rngs(0)), x)
        step(LM(nnx.Rngs(0), dtype=jnp.bfloat16), x)
    (r,) = user_events(p, "step")[1].reasons
    assert r.kind == "static_part" and (r.before, r.after) == ("float32", "bfloat16"), r
    assert r.path == "model.blocks[0].fc1.dtype", r
    assert r.message.startswith("4 static fields changed float32 → bfloat16: `model.blocks[0].fc1.dtype`")
    assert "attributes[" not in r.message and len(r.message) < 160
    assert len(r.details) == 4 and "model.blocks[1].fc2.dtype" in r.details[-1]
    (f,) = [f for f in p.functions if f.fun_name == "step"]
    assert f.reasons == {"first_call": 1, "static_part": 1}  # compiles, not clauses
    html = p._repr_mimebundle_()["text/html"]
    assert "<details" in html and "model.blocks[1].fc2.dtype" in html


def test_nnx_leaves_read_as_model_paths():
    @nnx.jit
    def step(model, x):
        return model(x).sum()

    m = LM(nnx.Rngs(0))
    x = jnp.ones((2, 4))
    with jaxinspect.profile() as p:
        step(m, x)
        m.blocks[1].fc1.kernel.set_value(m.blocks[1].fc1.kernel[...].astype(jnp.bfloat16))
        step(m, x)
    (r,) = user_events(p, "step")[1].reasons
    assert (r.kind, r.path) == ("dtype", "model.blocks[1].fc1.kernel"), r
    assert "states[" not in r.message


def test_many_leaf_changes_are_one_line_and_ragged_batch_counts_one_compile():
    @jax.jit
    def step(params, x, y):
        return sum(jnp.sum(w) for w in params) + jnp.sum(x) + jnp.sum(y)

    params = [jnp.ones(3) for _ in range(6)]
    with jaxinspect.profile() as p:
        step(params, jnp.ones((8, 2)), jnp.ones(8))
        step(params, jnp.ones((5, 2)), jnp.ones(5))  # the ragged last batch: x and y change
        step([w.astype(jnp.bfloat16) for w in params], jnp.ones((8, 2)), jnp.ones(8))
    (f,) = [f for f in p.functions if f.fun_name == "step"]
    assert f.reasons == {"first_call": 1, "shape": 1, "dtype": 1}, f.reasons
    (r,) = user_events(p, "step")[2].reasons
    assert r.message.startswith("6 leaves changed type float32[3] → bfloat16[3]: `params[0]`, `params[1]`")
    assert len(r.details) == 6


# -- the right cause and the right fix -----------------------------------------------------------


def test_a_new_partial_each_call_is_named_with_its_keyword():
    def sample(x, temperature):
        return x * temperature

    x = jnp.ones(3)
    with jaxinspect.profile() as p:
        for t in (0.5, 1.0, 0.5):
            jax.jit(functools.partial(sample, temperature=t))(x)
    events = user_events(p, "sample")
    assert len(events) == 3
    (r,) = [r for r in events[1].reasons if r.kind == "partial"]
    assert "functools.partial(sample, temperature=1.0)" in r.message
    assert "`temperature` 0.5 → 1.0" in r.message and r.path == "temperature"
    (r,) = [r for r in events[2].reasons if r.kind == "partial"]
    assert "temperature=0.5 was compiled before, but for another partial object" in r.message
    assert not any("re-defined" in r.message for e in events for r in e.reasons)


def test_storm_fix_matches_its_cause():
    optax = pytest.importorskip("optax")

    def g(x, n):
        return x * n

    gj = jax.jit(g, static_argnums=1)

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

    @nnx.jit
    def forward(model, x):
        return model(x)

    x = jnp.ones((3, 4))
    with jaxinspect.profile() as p:
        for n in range(7):
            gj(x, n)
        for _ in range(7):
            opt = nnx.Optimizer(model, optax.sgd(1e-3), wrt=nnx.Param)
            train_step(model, opt, x)
        for _ in range(7):  # a cell defining the model class, run again and again

            class Net(nnx.Module):
                def __init__(self, rngs):
                    self.linear = nnx.Linear(4, 2, rngs=rngs)

                def __call__(self, x):
                    return self.linear(x)

            forward(Net(nnx.Rngs(0)), x)
    by_fun = {a.fun_name: a for a in p.alerts}
    assert "traced" in by_fun["g"].hint, by_fun["g"]
    net = by_fun["forward"]
    assert net.reason_kind == "class" and "re-defined class Net" in net.message, net
    assert "traced" not in net.hint and "class" in net.hint
    assert by_fun["train_step"].reason_kind == "static_recreated", by_fun["train_step"]
    assert "traced" not in by_fun["train_step"].hint and "out of the loop" in by_fun["train_step"].hint


# -- tracebacks ----------------------------------------------------------------------------------


def _jaxinspect_frames(exc):
    return [
        f"{fs.filename}:{fs.lineno}"
        for fs in traceback.extract_tb(exc.__traceback__)
        if "/jaxinspect/" in fs.filename.replace("\\", "/")
    ]


@pytest.mark.parametrize("mode", ["remove_frames", "tracebackhide"])
def test_a_users_error_in_a_jitted_call_shows_no_jaxinspect_frame(mode):
    f_jit = jax.jit(lambda x: x + 1)
    donate = jax.jit(lambda x: x * 2, donate_argnums=0)
    previous = jax.config.jax_traceback_filtering
    jax.config.update("jax_traceback_filtering", mode)
    try:
        with jaxinspect.profile():
            errors = []
            for call in (lambda: f_jit("abc"), None):
                if call is None:
                    a = jnp.ones(3)
                    donate(a)
                    call = functools.partial(donate, a)  # noqa: PLW2901 - a donated array
                with pytest.raises(Exception) as info:
                    call()
                errors.append(info.value)
    finally:
        jax.config.update("jax_traceback_filtering", previous)
    for exc in errors:
        if mode == "remove_frames":
            assert not _jaxinspect_frames(exc), "".join(traceback.format_exception(exc))
        else:  # IPython's mode: frames stay, marked hidden as JAX marks its own
            tb, hidden_ok = exc.__traceback__, True
            while tb is not None:
                if "/jaxinspect/" in tb.tb_frame.f_code.co_filename:
                    hidden_ok &= bool(tb.tb_frame.f_locals.get("__tracebackhide__"))
                tb = tb.tb_next
            assert hidden_ok, _jaxinspect_frames(exc)


# -- cell numbers in a real kernel ---------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    from test_kernel import start_kernel

    km, kc = start_kernel(tmp_path_factory.mktemp("kernel"))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run_in_kernel(kc, code, timeout=120):
    """Execute ``code``; (execution count, the text/plain of every output it produced)."""
    msg_id = kc.execute(code)
    texts = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        if msg["msg_type"] in ("display_data", "execute_result"):
            texts.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "stream":
            texts.append(content["text"])
        elif msg["msg_type"] == "error":
            texts.append("\n".join(content["traceback"]))
        elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"]["execution_count"], "\n".join(texts)


def test_jit_profile_events_carry_their_own_cell_number_in_a_kernel(kernel):
    _km, kc = kernel
    run_in_kernel(kc, "%load_ext jaxinspect")
    run_in_kernel(kc, "import jax, jax.numpy as jnp\nf = jax.jit(lambda x: x * 2)")
    count, text = run_in_kernel(kc, "%%jit_profile\nf(jnp.ones(3))\nf(jnp.ones(4))\n")
    assert f"at cell [{count}] line 2" in text and f"at cell [{count}] line 3" in text, text
    assert f"cell [{count + 1}]" not in text, text
    count, text = run_in_kernel(kc, "x = jnp.ones(5)\n%jit_profile f(x)")
    assert f"at cell [{count}] line 2" in text and f"cell [{count + 1}]" not in text, text
    # the session log agrees with the profiles
    _, text = run_in_kernel(kc, "print(repr(jaxinspect_log := __import__('jaxinspect').compile_log()))")
    assert f"cell [{count}] line 2" in text and f"cell [{count + 1}]" not in text, text


def test_optimizer_state_leaves_read_as_paths():
    optax = pytest.importorskip("optax")

    class M(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(4, 4, rngs=rngs)

        def __call__(self, x):
            return self.fc1(x)

    m = M(nnx.Rngs(0))

    @nnx.jit
    def train(model, opt, x):
        loss, grads = nnx.value_and_grad(lambda mm: (mm(x) ** 2).mean())(model)
        opt.update(model, grads)
        return loss

    opt = nnx.Optimizer(m, optax.MultiSteps(optax.adam(1e-3), 2), wrt=nnx.Param)
    x = jnp.ones((2, 4))
    with jaxinspect.profile() as p:
        train(m, opt, x)
        opt.opt_state.mini_step.set_value(opt.opt_state.mini_step[...].astype(jnp.int16))
        train(m, opt, x)
    first, second = user_events(p, "train")
    assert "opt.opt_state.acc_grads.fc1.kernel: float32[4, 4]" in first.signature, first.signature
    (r,) = second.reasons
    assert r.message == "`opt.opt_state.mini_step` changed type int32[] → int16[]", r


FSDP = r"""
import jax, jax.numpy as jnp
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P
import jaxinspect

class MLP(nnx.Module):
    def __init__(self, d, rngs):
        self.fc1 = nnx.Linear(d, d, rngs=rngs)
        self.fc2 = nnx.Linear(d, d, rngs=rngs)
    def __call__(self, x):
        return self.fc2(nnx.relu(self.fc1(x)))

class LM(nnx.Module):
    def __init__(self, rngs):
        self.blocks = nnx.List([MLP(8, rngs) for _ in range(2)])
    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return x

@nnx.jit
def step(model, x):
    return model(x).sum()

mesh = jax.make_mesh((8,), ("data",))
model, x = LM(nnx.Rngs(0)), jnp.ones((8, 8))
with jaxinspect.profile() as p:
    step(model, x)
    fsdp = lambda a: jax.device_put(a, NamedSharding(mesh, P(*([None] * (a.ndim - 1)), "data")))
    nnx.update(model, jax.tree.map(fsdp, nnx.state(model)))
    step(model, x)
(e,) = [e for e in p.events if e.fun_name == "step" and e.reasons[0].kind != "first_call"]
for r in e.reasons:
    print("REASON", r.kind, r.path, len(r.details), r.message)
"""


def test_fsdp_sharding_change_reads_as_model_paths(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, "-c", FSDP], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("REASON")]
    assert len(lines) == 2, out.stdout
    kernel = next(line for line in lines if "kernel" in line)
    assert kernel.startswith("REASON sharding model.blocks[0].fc1.kernel 4 4 leaves changed sharding "), kernel
    assert "spec=P(None, 'data')" in kernel and "states[" not in out.stdout


def test_plain_jax_jit_of_an_nnx_module_names_class_and_fields():
    @jax.jit
    def step(model, x):
        return model(x).sum()

    x = jnp.ones((2, 4))
    with jaxinspect.profile() as p:
        step(LM(nnx.Rngs(0)), x)
        step(RematLM(nnx.Rngs(0)), x)
        step(LM(nnx.Rngs(0), dtype=jnp.bfloat16), x)
    _, second, third = user_events(p, "step")
    (r,) = second.reasons
    assert (r.kind, r.message) == ("class", "model class changed LM → RematLM"), r
    (r,) = third.reasons  # compared with the LM in float32, not with the other class
    assert r.kind == "static_part" and r.path == "model.blocks[0].fc1.dtype", r
    assert len(r.details) == 4 and "PyTreeDef" not in r.message
