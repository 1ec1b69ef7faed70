"""%jaxpr / jaxinspect.jaxpr on Flax NNX train steps: nnx.jit, nnx.value_and_grad, nnx.scan,
nnx.remat, with --cost and --stablehlo; equations grouped by NNX module path; the API's own
messages (issue 15 §0, §5 last item, §6 jaxpr items)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import pytest
from IPython.utils.capture import capture_output

import jaxinspect
from jaxinspect.glue.display import Message
from jaxinspect.glue.jaxprdisplay import JaxprView

nnx = pytest.importorskip("flax.nnx", reason="flax is not installed (the jax 0.10 compat env)")
optax = pytest.importorskip("optax")


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(4, 8, rngs=rngs)
        self.fc2 = nnx.Linear(8, 4, rngs=rngs)

    def __call__(self, x):
        return self.fc2(jax.nn.relu(self.fc1(x)))


class Model(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.blocks = nnx.List([Block(rngs) for _ in range(2)])
        self.head = nnx.Linear(4, 1, rngs=rngs)

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class ScanModel(nnx.Module):
    """Flax's scan-over-layers example: blocks created under vmap, applied under scan."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        @nnx.split_rngs(splits=3)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make(rngs):
            return Block(rngs)

        self.blocks = make(rngs)
        self.head = nnx.Linear(4, 1, rngs=rngs)

    def __call__(self, x):
        @nnx.scan(in_axes=(0, nnx.Carry), out_axes=nnx.Carry)
        def forward(block, x):
            return block(x)

        return self.head(forward(self.blocks, x))


class RematModel(Model):
    def __call__(self, x):
        for block in self.blocks:
            x = nnx.remat(lambda b, x: b(x))(block, x)
        return self.head(x)


def _train_step():
    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return ((model(x) - y) ** 2).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return train_step


def _data():
    return jnp.ones((2, 4)), jnp.zeros((2, 1))


def _scopes(view: JaxprView) -> set[tuple[str, ...]]:
    return {e.scope for b in view.doc.bodies for e in b.eqns}


def test_nnx_jit_forward_is_traced_and_grouped_by_module():
    lin = nnx.Linear(3, 4, rngs=nnx.Rngs(0))

    @nnx.jit
    def fwd(m, x):
        return m(x).sum()

    x = jnp.ones((2, 3))
    fwd(lin, x)  # compiled and cached first: the view must still name the module
    v = jaxinspect.jaxpr(fwd, lin, x)
    assert isinstance(v, JaxprView), v
    prims = [e.prim for e in v.doc.bodies[0].eqns]
    assert prims == ["dot_general", "reshape", "add", "reduce_sum"]
    assert [e.scope for e in v.doc.bodies[0].eqns] == [("m",), ("m",), ("m",), ()]
    # inputs under their module paths, not nnx.jit's graph indices
    assert [n for n, _t in v.stats.inputs] == ["m.bias", "m.kernel", "x"]
    outs = [n for n, _t in v.stats.outputs]
    assert outs == ["m.bias (written back)", "m.kernel (written back)", "result"]
    text = v.text()
    assert "# m\n" in text and "# (top level)" in text
    # the module is untouched and the step still runs
    assert float(fwd(lin, x)) == pytest.approx(float(lin(x).sum()))


def test_train_step_value_and_grad_groups_forward_and_backward_by_module_path():
    model = Model(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    x, y = _data()
    step = _train_step()
    step(model, optimizer, x, y)
    v = jaxinspect.jaxpr(step, model, optimizer, x, y)
    assert isinstance(v, JaxprView), v
    scopes = _scopes(v)
    for i in (0, 1):
        for fc in ("fc1", "fc2"):
            path = f"model.blocks[{i}].{fc}"
            forward = ("jvp", "model", f"model.blocks[{i}]", path)
            backward = ("transpose(jvp)", "model", f"model.blocks[{i}]", path)
            assert forward in scopes and backward in scopes, (path, sorted(scopes))
    # the matmuls of one layer are exactly that layer's: forward x @ kernel, backward two more
    fc1 = [e for e in v.doc.bodies[0].eqns if e.scope[-1:] == ("model.blocks[1].fc1",)]
    assert sum(e.prim == "dot_general" for e in fc1) == 3
    text = v.text(limit=None)
    assert "# jvp/model.blocks[1].fc1" in text and "# transpose(jvp)/model.blocks[0].fc2" in text
    html = v._repr_mimebundle_()["text/html"]
    assert re.search(r'class="jx-scope"><summary>model\.blocks\[1\]\.fc1 · \d+ equations', html)
    inputs = [n for n, _t in v.stats.inputs]
    assert "model.blocks[1].fc1.kernel" in inputs and "optimizer.step" in inputs
    assert not any(".states[" in n for n in inputs)
    # the optimizer's update is a group of its own, named as the step names it
    sqrt = [e.scope for e in v.doc.bodies[0].eqns if e.prim == "sqrt"]
    assert sqrt and set(sqrt) == {("optimizer",)}
    assert "# optimizer\n" in text


def test_scan_over_layers_names_the_scanned_module():
    model = ScanModel(nnx.Rngs(0))
    x, _y = _data()

    @nnx.jit
    def step(model, x):
        return nnx.value_and_grad(lambda m: m(x).sum())(model)

    v = jaxinspect.jaxpr(step, model, x)
    assert isinstance(v, JaxprView), v
    scans = [b for b in v.doc.bodies if b.name == "scan.jaxpr"]
    assert len(scans) == 2  # forward and backward scans
    body_scopes = {e.scope for b in scans for e in b.eqns}
    # the body sees a slice of m.blocks; it is named after m.blocks, never `forward:block`
    assert ("m.blocks", "m.blocks.fc1") in body_scopes
    assert not any("forward" in part for s in body_scopes for part in s)
    assert ("jvp", "m", "m.head") in _scopes(v)


def test_remat_blocks_are_told_apart():
    model = RematModel(nnx.Rngs(0))
    x, _y = _data()

    @nnx.jit
    def step(model, x):
        return nnx.value_and_grad(lambda m: m(x).sum())(model)

    v = jaxinspect.jaxpr(step, model, x)
    assert isinstance(v, JaxprView), v
    remats = [e for b in v.doc.bodies for e in b.eqns if e.prim in ("remat2", "checkpoint", "remat")]
    assert len(remats) == 2
    inner = [{e.scope for e in v.doc.bodies[i].eqns} for r in remats for _k, i in r.subs]
    named = [{p for s in scopes for p in s if p.startswith("m.blocks[")} for scopes in inner]
    # each rematted body is exactly one block, blocks[1] (first in the backward pass) then [0]
    assert named == [
        {"m.blocks[1]", "m.blocks[1].fc1", "m.blocks[1].fc2"},
        {"m.blocks[0]", "m.blocks[0].fc1", "m.blocks[0].fc2"},
    ]


def test_cost_and_stablehlo_of_an_nnx_train_step():
    model = Model(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    x, y = _data()
    step = _train_step()
    v = jaxinspect.jaxpr(step, model, optimizer, x, y)
    cost = v.cost()
    assert not isinstance(cost, Message), cost
    assert cost.flops and cost.flops > 0
    hlo = v.stablehlo()
    assert "func.func public @main" in hlo and hlo.count("stablehlo.dot_general") == dict(v.stats.by_primitive)["dot_general"]
    before = jax.tree.map(lambda a: a.copy(), nnx.state(model, nnx.Param))
    step(model, optimizer, x, y)  # the real step still trains
    after = nnx.state(model, nnx.Param)
    changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool((a != b).any()), before, after))
    assert all(changed)


def test_magic_on_nnx_jit_with_cost_and_stablehlo(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.user_ns.update(
            lin=nnx.Linear(3, 4, rngs=nnx.Rngs(0)), x=jnp.ones((2, 3)), nnx=nnx, jax=jax
        )
        ip.run_cell("@nnx.jit\ndef fwd(m, x):\n    return m(x).sum()\nfwd(lin, x)")
        for line in ("fwd(lin, x)", "--cost fwd(lin, x)", "--stablehlo fwd(lin, x)"):
            with capture_output() as cap:
                out = ip.run_line_magic("jaxpr", line)
            assert out is None, out
            shown = cap.stdout + "".join(o.data.get("text/plain", "") for o in cap.outputs)
            assert "Traceback" not in shown and "AttributeError" not in shown, shown
            assert "jaxpr of fwd(lin, x)" in shown, shown
        view = ip.run_line_magic("jaxpr", "-o fwd(lin, x)")
        assert isinstance(view, JaxprView)
        assert ("m",) in _scopes(view)
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_classes_are_restored_after_tracing():
    calls = Block.__dict__["__call__"], nnx.Linear.__dict__["__call__"]
    model = Model(nnx.Rngs(0))

    def boom(m, x):
        m(x)
        raise ValueError("boom")

    out = jaxinspect.jaxpr(boom, model, jnp.ones((2, 4)))
    assert isinstance(out, Message) and "ValueError: boom" in out.text
    assert (Block.__dict__["__call__"], nnx.Linear.__dict__["__call__"]) == calls
    # no scope leaks into a later plain trace
    jaxpr = jax.make_jaxpr(lambda x: model(x))(jnp.ones((2, 4)))
    assert all(str(e.source_info.name_stack) == "" for e in jaxpr.eqns)


# -- the API speaks as the API; bad input is one line --------------------------------------------


def test_api_errors_name_the_api_and_the_fix():
    out = jaxinspect.jaxpr(123, jnp.ones(2))
    assert isinstance(out, Message) and out.level == "error"
    assert out.text.startswith("jaxinspect.jaxpr: the first argument is an int (123), not a function")
    assert "jaxinspect.jaxpr(f, x, y)" in out.text and "%jaxpr" not in out.text

    def bad(x):
        return x.reshape(7)

    failed = jaxinspect.jaxpr(bad, jnp.ones(2))
    assert isinstance(failed, Message)
    assert failed.text.startswith("jaxinspect.jaxpr: tracing `bad` failed: TypeError")


def test_magic_errors_still_speak_as_the_magic(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.user_ns.update(n=5, x=jnp.ones(2))
        with capture_output():
            out = ip.run_line_magic("jaxpr", "-o n(x)")
        assert isinstance(out, Message) and out.text.startswith("%jaxpr: `n` is an int"), out
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_diff_and_section_bad_arguments_are_one_message():
    v = jaxinspect.jaxpr(lambda x: jnp.sin(x) * 2, jnp.ones(3))
    failed = jaxinspect.jaxpr(lambda x: x.reshape(7), jnp.ones(3))
    assert isinstance(failed, Message)
    for other, needle in ((5, "not a int"), (failed, "got a failed trace"), (None, "not a NoneType")):
        out = v.diff(other)
        assert isinstance(out, Message) and out.level == "error", other
        assert out.text.startswith("jaxinspect.jaxpr: .diff()") and needle in out.text
    for which, needle in (("nope", "no nested jaxpr named 'nope'"), (9, "no nested jaxpr #9"),
                          (1.5, "not a float")):  # fmt: skip
        out = v.section(which)
        assert isinstance(out, Message) and needle in out.text, out
        assert "no nested jaxprs" in out.text
    out = v.with_sections("bogus")
    assert isinstance(out, Message) and "no section 'bogus'" in out.text
    # a real diff still works
    other = jaxinspect.jaxpr(lambda x: jnp.cos(x) * 2, jnp.ones(3))
    d = v.diff(other)
    assert not isinstance(d, Message) and not d.identical


def test_cost_failure_is_a_message_not_an_exception():
    def f(x):
        return jax.pure_callback(lambda v: v, jax.ShapeDtypeStruct((2,), jnp.float32), x)

    v = jaxinspect.jaxpr(f, jnp.ones(2))
    v._traced.stage = None  # lowering now fails inside JAX's stage object
    out = v.cost()
    assert isinstance(out, Message) and out.text.startswith("jaxinspect.jaxpr: lowering `f` failed")


def test_a_stage_without_a_jaxpr_is_one_line():
    class Odd:
        def trace(self, *a):
            return object()

        def lower(self, *a):
            return None

        def __call__(self, *a):
            return None

    out = jaxinspect.jaxpr(Odd(), jnp.ones(2))
    assert isinstance(out, Message) and out.level == "error"
    assert "holds no jaxpr" in out.text and len(out.text.splitlines()) == 1


def test_a_module_called_directly_is_named_after_its_variable():
    model = Model(nnx.Rngs(0))
    x = jnp.ones((2, 4))
    v = jaxinspect.jaxpr(model, x)  # jax.jit copies the module: named from this frame's `model`
    assert ("model", "model.blocks[1]", "model.blocks[1].fc2") in _scopes(v)
    v = jaxinspect.jaxpr(jax.jit(lambda mm, x: mm(x)), model, x)  # the function's own name
    assert ("mm", "mm.head") in _scopes(v)
    v = jaxinspect.jaxpr(Model(nnx.Rngs(1)), x)  # held by no variable: its class, no path
    assert ("<Model>", "<Model>.head") in _scopes(v)


def test_a_numpy_ufunc_gets_the_fix_not_a_weakref_puzzle():
    import numpy as np

    out = jaxinspect.jaxpr(np.sin, jnp.ones(3))
    assert isinstance(out, Message) and out.level == "error"
    assert "hint: jit traces Python functions, and `sin` is not one" in out.text
    assert "jaxinspect.jaxpr(lambda x: sin(x), x)" in out.text


def test_jaxpr_without_a_function_is_one_line():
    out = jaxinspect.jaxpr()
    assert isinstance(out, Message) and out.text.startswith("jaxinspect.jaxpr: give the function")


def test_cell_magic_on_a_scan_train_step_with_cost_and_stablehlo(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.user_ns.update(ScanModel=ScanModel, nnx=nnx, jax=jax, jnp=jnp, optax=optax)
        ip.run_cell(
            "model = ScanModel(nnx.Rngs(0))\n"
            "opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)\n"
            "@nnx.jit\n"
            "def train_step(model, opt, x):\n"
            "    loss, grads = nnx.value_and_grad(lambda m: m(x).sum())(model)\n"
            "    opt.update(model, grads)\n"
            "    return loss\n"
        )
        with capture_output() as cap:
            out = ip.run_cell_magic(
                "jaxpr", "--cost --stablehlo", "x = jnp.ones((2, 4))\ntrain_step(model, opt, x)"
            )
        assert out is None
        html = "".join(o.data.get("text/html", "") for o in cap.outputs)
        assert "Traceback" not in html and "AttributeError" not in html
        assert "stablehlo" in html and "flops" in html.lower()
        view = ip.run_line_magic("jaxpr", "-o train_step(model, opt, x)")
        assert isinstance(view, JaxprView)
        # named as the loss function names it (its parameter `m`)
        assert ("jvp", "m", "m.head") in _scopes(view)
        assert ("m.blocks", "m.blocks.fc1") in _scopes(view)  # inside the scan body
        html = view._repr_mimebundle_()["text/html"]
        assert "<summary>m.head · " in html and "<summary>m.blocks.fc2 · " in html
        inputs = [n for n, _t in view.stats.inputs]
        assert "model.blocks.fc1.kernel" in inputs and "x" in inputs
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


class TinyLM(nnx.Module):
    """Tied embeddings: the output layer is ``embed.attend``, not a ``__call__``."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.embed = nnx.Embed(11, 4, rngs=rngs)
        self.block = Block(rngs)

    def __call__(self, tokens):
        return self.embed.attend(self.block(self.embed(tokens)))


def test_a_module_method_other_than_call_is_grouped_too():
    lm = TinyLM(nnx.Rngs(0))
    tokens = jnp.zeros((2, 5), jnp.int32)

    @nnx.jit
    def logits(lm, tokens):
        return lm(tokens)

    v = jaxinspect.jaxpr(logits, lm, tokens)
    eqns = v.doc.bodies[0].eqns
    assert eqns[-1].prim == "dot_general" and eqns[-1].scope == ("lm", "lm.embed")
    assert ("lm", "lm.block", "lm.block.fc2") in _scopes(v)
    assert nnx.Embed.attend.__qualname__ == "Embed.attend"  # restored
    assert not hasattr(nnx.Embed.attend, "__wrapped__")


def test_html_says_which_groups_are_the_forward_and_backward_pass():
    model = Model(nnx.Rngs(0))
    x, _y = _data()

    @nnx.jit
    def step(model, x):
        return nnx.value_and_grad(lambda m: m(x).sum())(model)

    html = jaxinspect.jaxpr(step, model, x)._repr_mimebundle_()["text/html"]
    assert re.search(r"<summary>jvp \(forward pass, differentiated\) · \d+ equations", html)
    assert re.search(r"<summary>transpose\(jvp\) \(backward pass\) · \d+ equations", html)
    # forward-mode AD has no backward pass: its jvp group is not called one
    fwd = jaxinspect.jaxpr(lambda x: jax.jvp(lambda y: jnp.sin(y) * 2, (x,), (x,)), jnp.ones(3))
    html = fwd._repr_mimebundle_()["text/html"]
    assert "<summary>jvp · " in html and "forward pass" not in html and "backward" not in html


def test_a_cached_partial_gets_flax_specific_advice():
    lin = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    cached = nnx.cached_partial(nnx.jit(lambda m, x: m(x)), lin)
    out = jaxinspect.jaxpr(cached, jnp.ones((2, 3)))
    assert isinstance(out, Message) and "TraceContextError" in out.text
    assert "hint: Flax: a Variable would be changed" in out.text and "Traceback" not in out.text
