"""%jaxpr and jaxinspect.jaxpr: structure, text twin, HTML, diff, budgets, bad input."""

from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinspect
from jaxinspect import api
from jaxinspect.collect import jaxprlib
from jaxinspect.glue.display import Message
from jaxinspect.glue.jaxprdisplay import JaxprDiffView, JaxprView
from jaxinspect.render import jaxprview


def html_of(view) -> str:
    return view._repr_mimebundle_()["text/html"]


def all_eqns(doc):
    for body in doc.bodies:
        yield from body.eqns


# -- structure -------------------------------------------------------------------------------------


def test_primitive_counts_inputs_outputs():
    def f(x, y):
        return jnp.sin(x) * y + jnp.cos(y), x.sum()

    v = jaxinspect.jaxpr(f, jnp.ones((4, 3)), jnp.ones(3))
    assert isinstance(v, JaxprView)
    s = v.stats
    assert s.count("sin") == 1 and s.count("cos") == 1 and s.count("reduce_sum") == 1
    assert s.equations == sum(n for _p, n in s.by_primitive)
    assert s.inputs == (("x", "f32[4,3]"), ("y", "f32[3]"))
    assert [t for _l, t in s.outputs] == ["f32[4,3]", "f32[]"]
    assert v.jaxpr is not None and len(v.jaxpr.eqns) == s.top_level


def nested_program(x):
    h = jax.jit(lambda z: z * 2.0)

    @jax.custom_jvp
    def soft(z):
        return jnp.log1p(jnp.exp(z))

    soft.defjvp(lambda primals, tangents: (soft(primals[0]), tangents[0]))

    @jax.custom_vjp
    def clip(z):
        return z

    clip.defvjp(lambda z: (z, None), lambda _, g: (jnp.clip(g, -1, 1),))

    carry = jax.lax.scan(lambda c, a: (c + a, c * 2), 0.0, x)[1]
    loop = jax.lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2), (0, x))[1]
    branch = jax.lax.cond(x[0] > 0, lambda: carry + 1, lambda: carry - 1)
    remat = jax.checkpoint(jnp.sin)(x)
    return h(x) + h(x + 1) + soft(x) + clip(x) + loop + branch + remat


def test_nesting_every_kind_of_sub_jaxpr():
    v = jaxinspect.jaxpr(nested_program, jnp.ones(3))
    doc = v.doc
    top_prims = [e.prim for e in doc.bodies[0].eqns]
    for prim in ("scan", "while", "cond", "custom_jvp_call", "custom_vjp_call"):
        assert any(p.startswith(prim) for p in top_prims), (prim, top_prims)
    assert any(p in ("checkpoint", "remat2", "remat") for p in top_prims), top_prims
    subs = {k for e in doc.bodies[0].eqns for k, _i in e.subs}
    assert {"branches[0]", "branches[1]", "cond_jaxpr", "body_jaxpr"} <= subs
    # the same jitted lambda called twice is one shared body, shown once as a `let`
    shared = [b for b in doc.bodies[1:] if b.uses == 2]
    assert len(shared) == 1 and doc.stats.shared == 1
    text = v.text()
    assert text.count(f"let {shared[0].name} =") == 1
    assert text.count(f"jaxpr={shared[0].name}") == 2
    # every nested equation is in the total exactly once
    assert doc.stats.equations == sum(len(b.eqns) for b in doc.bodies)
    html = html_of(v)
    assert html.count('class="jx-sub"') == len(doc.bodies) - 1 - 1  # all but the shared one
    assert html.count('class="jx-let"') == 1


def test_names_are_unique_and_bound_once():
    v = jaxinspect.jaxpr(nested_program, jnp.ones(3))
    bound = []
    for body in v.doc.bodies:
        bound += [n for n, _t in body.consts + body.invars]
        for e in body.eqns:
            bound += [n for n, _t in e.outs if n != "_"]
    assert len(bound) == len(set(bound))
    for e in all_eqns(v.doc):
        for name, _t, lit in e.ins:
            assert lit or name in bound


def test_source_lines_point_at_the_user_code():
    def f(x):
        y = jnp.sin(x)  # line A
        return y * 2  # line B

    v = jaxinspect.jaxpr(f, jnp.ones(3)).with_sections("jaxpr", source=True)
    sources = [e.source for e in v.doc.bodies[0].eqns]
    assert all(s and "test_jaxpr.py:" in s and "(f)" in s for s in sources), sources
    line_sin = int(sources[0].split(":")[1].split()[0])
    with open(__file__) as fh:
        assert "line A" in fh.read().splitlines()[line_sin - 1]
    assert "# tests/test_jaxpr.py:" in v.text()
    assert "test_jaxpr.py:" in html_of(v)


def test_cell_sources_say_cell(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell("import jax.numpy as jnp\ndef cellf(x):\n    return jnp.sin(x) * 3\n")
        view = ip.run_line_magic("jaxpr", "-o --source cellf(jnp.ones(2))")
        assert isinstance(view, JaxprView)
        assert view.doc.bodies[0].eqns[0].source.startswith("cell [")
        assert " line 3 (cellf)" in view.doc.bodies[0].eqns[0].source
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_flax_linen_name_stack_groups():
    linen = pytest.importorskip("flax.linen")

    class MLP(linen.Module):
        @linen.compact
        def __call__(self, x):
            return linen.Dense(2, name="head")(linen.relu(linen.Dense(4)(x)))

    model = MLP()
    params = model.init(jax.random.key(0), jnp.ones((1, 3)))
    v = jaxinspect.jaxpr(model.apply, params, jnp.ones((1, 3)))
    scopes = {e.scope for e in v.doc.bodies[0].eqns}
    assert ("MLP", "Dense_0") in scopes and ("MLP", "head") in scopes
    labels = [label for label, _t in v.stats.inputs]
    assert any("Dense_0" in label and "kernel" in label for label in labels), labels
    html = html_of(v)
    assert re.search(r'class="jx-scope"><summary>head · \d equations?', html)
    assert "# MLP/head" in v.text()


def test_nnx_module_parameters_are_inputs_not_constants():
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(3, 4, rngs=rngs)
            self.l2 = nnx.Linear(4, 2, rngs=rngs)

        def __call__(self, x):
            return self.l2(nnx.relu(self.l1(x)))

        def features(self, x):
            return self.l1(x)

    net = Net(nnx.Rngs(0))
    before = jax.tree_util.tree_leaves(net)
    v = api.trace_view(net, (jnp.ones((1, 3)),), {}, label="net")
    labels = [label for label, _t in v.stats.inputs]
    assert any(label.startswith("net") and "l1" in label and "kernel" in label for label in labels)
    assert labels[-1] == "x"
    assert v.stats.consts == ()
    bound = api.trace_view(net.features, (jnp.ones((1, 3)),), {}, label="net.features")
    assert any(label.startswith("net.l1") or "l1" in label for label, _t in bound.stats.inputs)
    after = jax.tree_util.tree_leaves(net)
    assert all(a is b for a, b in zip(before, after, strict=True))  # the module is untouched


def test_jitted_static_args_shape_dtype_structs_and_static_strings():
    jf = jax.jit(lambda x, n: x * n, static_argnums=1)
    v = jaxinspect.jaxpr(jf, jnp.ones(2), 3)
    assert v.stats.inputs == (("x", "f32[2]"),)
    assert v.doc.bodies[0].eqns[0].ins[1][:1] == ("3.0",)

    v = jaxinspect.jaxpr(lambda x: x @ x.T, jax.ShapeDtypeStruct((128, 64), jnp.bfloat16))
    assert v.stats.count("dot_general") == 1 and v.stats.inputs[0][1] == "bf16[128,64]"

    def by_mode(x, mode, table):
        return x * table["scale"] if mode == "scale" else -x

    v = jaxinspect.jaxpr(by_mode, jnp.ones(2), "scale", {"scale": 2.0})
    assert v.stats.count("mul") == 1
    v = jaxinspect.jaxpr(lambda x, cfg: x + cfg["k"], jnp.ones(2), {"k": [1, 2][0], "name": "n"})
    assert isinstance(v, Message)  # a dict mixing arrays and strings: jit's own rule, said clearly
    assert "str" in v.text or "valid JAX type" in v.text


def test_grad_and_vmap_calls():
    def loss(w, x):
        return jnp.sum((x @ w) ** 2)

    g = jaxinspect.jaxpr(jax.grad(loss), jnp.ones((3, 2)), jnp.ones((5, 3)))
    assert g.stats.count("dot_general") >= 2 and g.stats.inputs[0] == ("w", "f32[3,2]")
    vm = jaxinspect.jaxpr(jax.vmap(jnp.dot), jnp.ones((4, 3)), jnp.ones((4, 3)))
    assert vm.stats.count("dot_general") == 1


def test_highlights_random_callbacks_and_conversions():
    def f(key, x):
        noise = jax.random.normal(key, x.shape)
        jax.debug.callback(lambda v: None, x)
        host = jax.pure_callback(lambda v: np.asarray(v), jax.ShapeDtypeStruct(x.shape, x.dtype), x)
        return (x + noise + host).astype(jnp.bfloat16)

    v = jaxinspect.jaxpr(f, jax.random.key(0), jnp.ones(3))
    flagged = dict(v.stats.flagged)
    assert flagged["random"] >= 1 and flagged["callback"] == 2 and flagged["convert"] >= 1
    html = html_of(v)
    assert 'class="jx-e jx-random"' in html and 'class="jx-e jx-callback"' in html
    assert 'class="jx-e jx-convert"' in html
    assert "2 host callback" in v.text()


def test_big_closed_over_constant_is_flagged():
    table = np.ones((512, 1024), np.float32)  # 2 MiB baked into the program

    v = jaxinspect.jaxpr(lambda x: x @ table, jnp.ones((2, 512)))
    assert v.stats.consts and v.stats.consts[0][2] == table.nbytes
    assert "large closed-over constants" in v.text()


# -- the text twin: golden files for a few small programs (both jax versions) -----------------------


def test_golden_text_simple():
    def f(x, y):
        return jnp.sin(x) * y

    v = jaxinspect.jaxpr(f, jnp.ones(3), jnp.ones(3))
    assert v.text() == (
        "jaxpr of f: 2 equations (2 top-level, 0 nested jaxprs, depth 0)\n"
        "  by primitive: 1 mul, 1 sin\n"
        "  inputs (2): x: f32[3], y: f32[3]\n"
        "  outputs (1): result: f32[3]\n"
        "{ lambda ; a:f32[3] b:f32[3]. let\n"
        "  c:f32[3] = sin a\n"
        "  d:f32[3] = mul c b\n"
        "  in (d,) }"
    )


def test_golden_text_cond_and_literals():
    def g(p, x):
        return jax.lax.cond(p, lambda v: v + 1.0, lambda v: v * 2.0, x)

    v = jaxinspect.jaxpr(g, True, jnp.ones(2, jnp.float32))
    body = v.text()[v.text().index("{ lambda") :]
    assert body == (
        "{ lambda ; a:bool[] b:f32[2]. let\n"
        "  c:i32[] = convert_element_type[new_dtype=int32 weak_type=False] a\n"
        "  h:f32[2] = cond c b\n"
        "    branches[0]={ lambda ; d:f32[2]. let\n"
        "      e:f32[2] = mul d 2.0:f32[]\n"
        "      in (e,) }\n"
        "    branches[1]={ lambda ; f:f32[2]. let\n"
        "      g:f32[2] = add f 1.0:f32[]\n"
        "      in (g,) }\n"
        "  in (h,) }"
    )


# -- escaping ----------------------------------------------------------------------------------------


def test_html_escapes_user_strings():
    evil = '<img src=x onerror="alert(1)">'

    def f(params):
        return params[evil] * 2

    f.__name__ = f.__qualname__ = evil
    inner = jax.jit(lambda x: x + 1)
    inner.__wrapped__.__name__ = evil  # a jit name is user-derived too

    v = api.trace_view(lambda p: inner(f(p)), ({evil: jnp.ones(2)},), {}, title=evil)
    html = html_of(v)
    assert "<img" not in html and "&lt;img" in html
    d = v.diff(v)
    assert "<img" not in JaxprDiffView(d.diff)._repr_mimebundle_()["text/html"]
    assert "<img" not in v.graph()._repr_mimebundle_()["text/html"]


# -- diff ---------------------------------------------------------------------------------------------


def layer(x, w):
    return jnp.tanh(x @ w).sum(axis=0)


def test_diff_shape_change():
    a = jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))
    b = jaxinspect.jaxpr(layer, jnp.ones((16, 3)), jnp.ones((3, 4)))
    d = a.diff(b).diff
    assert [(i.label, i.a, i.b) for i in d.inputs if i.status == "changed"] == [
        ("x", "f32[8,3]", "f32[16,3]")
    ]
    assert d.inputs[1].status == "same"
    changed = [r for r in d.rows if r.status == "changed"]
    assert changed and all("types" in r.what for r in changed)
    assert d.count("added") == d.count("removed") == 0
    prims = {d.a.bodies[0].eqns[r.a].prim for r in changed}
    assert "dot_general" in prims and "tanh" in prims
    text = a.diff(b).text()
    assert "~ in x: f32[8,3] → f32[16,3]" in text
    html = a.diff(b)._repr_mimebundle_()["text/html"]
    assert html.count('data-status="changed"') == len(changed)


def activation(x, w):
    return (jnp.sin(x) * w).sum()


def test_diff_dtype_change_adds_a_conversion():
    a = jaxinspect.jaxpr(activation, jnp.ones((8, 3)), jnp.ones(3))
    b = jaxinspect.jaxpr(activation, jnp.ones((8, 3), jnp.int32), jnp.ones(3))
    d = a.diff(b).diff
    assert [(i.label, i.b) for i in d.inputs if i.status == "changed"] == [("x", "i32[8,3]")]
    added = [d.b.bodies[0].eqns[r.b].prim for r in d.rows if r.status == "added"]
    assert added == ["convert_element_type"]
    assert d.count("removed") == 0 and d.count("changed") == 0
    assert "+ c:f32[8,3] = convert_element_type[new_dtype=float32" in a.diff(b).text()
    a = jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))
    assert a.diff(a).identical and a.diff(a).diff.count("same") == len(a.doc.bodies[0].eqns)
    assert a.diff(jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))).identical


# -- lowered, compiled, cost -------------------------------------------------------------------------


def test_stablehlo_hlo_and_cost():
    v = jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))
    assert "stablehlo.dot_general" in v.stablehlo() or "stablehlo.dot" in v.stablehlo()
    assert "HloModule" in v.hlo()
    cost = v.cost()
    assert cost.flops and cost.flops > 0 and cost.argument_bytes == (8 * 3 + 3 * 4) * 4
    text = v.with_sections("cost").text()
    assert "flops" in text and "arguments" in text
    bundle = v.with_sections("stablehlo", "hlo", "cost")._repr_mimebundle_()
    assert "StableHLO" in bundle["text/html"] and "HloModule" in bundle["text/html"]
    json.dumps(v.with_sections("cost").to_json())


def test_cost_unavailable_is_said(monkeypatch):
    v = jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))
    compiled = v._traced.compiled()

    class NoAnalysis:
        def cost_analysis(self):
            return None

        def memory_analysis(self):
            return None

        input_shardings = compiled.input_shardings

    v._traced._compiled = NoAnalysis()
    cost = v.cost()
    assert cost.flops is None and cost.temp_bytes is None
    text = v.with_sections("cost").text()
    assert "flops              unavailable" in text and "no cost analysis" in text


def test_lowering_failure_is_one_message():
    def f(x):
        return jax.pure_callback(lambda v: v, jax.ShapeDtypeStruct((2,), jnp.float32), x)

    v = jaxinspect.jaxpr(f, jnp.ones(2))
    v._traced.stage = None  # lowering now fails inside JAX's stage object
    text = v.with_sections("stablehlo").text()
    assert text.count("jaxinspect.jaxpr: lowering `f` failed") == 1 and "Traceback" not in text


# -- graph --------------------------------------------------------------------------------------------


def test_graph_nodes_and_edges():
    v = jaxinspect.jaxpr(nested_program, jnp.ones(3)).graph()
    top = v.doc.bodies[0]
    g = jaxprview.graph_layout(top)
    assert len(g["nodes"]) == len(top.invars) + len(top.eqns) + len(top.outvars)
    # every operand that is a variable is one edge
    operands = sum(1 for e in top.eqns for _n, _t, lit in e.ins if not lit)
    assert len(g["edges"]) == operands + sum(1 for o in top.outvars if not o[2])
    html = html_of(v)
    assert html.count("<svg") == 1 + min(
        len({i for e in top.eqns for _k, i in e.subs}), jaxprview.GRAPH_MAX_NESTED
    )
    assert "<script" not in html.split("<svg", 1)[1].split("</svg>")[0]
    assert "dataflow of nested_program" in v.text()


# -- budgets ------------------------------------------------------------------------------------------


def chain(x, n):
    for _ in range(n):
        x = jnp.sin(x) * 2.0 + x - 1.0
    return x


def chain_of(n):
    return jax.jit(chain, static_argnums=1), n


def test_5000_equations_fit_the_budget():
    fn, n = chain_of(1250)
    v = jaxinspect.jaxpr(fn, jnp.ones(3), n)
    assert v.stats.equations == 5000
    html = html_of(v)
    assert len(html.encode()) <= 2_000_000
    assert "more equations not shown" not in html
    assert html.count('class="jx-e') == 5000


def test_huge_programs_are_cut_with_a_marker():
    fn, n = chain_of(6000)
    v = jaxinspect.jaxpr(fn, jnp.ones(3), n)  # 24 000 equations
    html = html_of(v)
    assert len(html.encode()) <= 2_000_000
    m = re.search(r"… (\d+) more equations not shown", html)
    assert m and int(m.group(1)) + html.count('class="jx-e') == 24_000
    assert len(v.text()) <= 2_000_000
    short = v.text(limit=100_000)
    m = re.search(r"… (\d+) more equations not shown", short)
    assert len(short) <= 100_500 and m
    assert int(m.group(1)) + short.count(" = ") == 24_000
    assert "more equations" not in v.text(limit=None)
    bundle_text = v._repr_mimebundle_()["text/plain"]
    assert len(bundle_text) <= 2_100_000


def test_section_shows_a_nested_body_on_its_own():
    v = jaxinspect.jaxpr(nested_program, jnp.ones(3))
    scan_body = next(b for b in v.doc.bodies if b.name == "scan.jaxpr")
    sec = v.section("scan.jaxpr")
    assert sec.text().startswith("scan.jaxpr (nested jaxpr #")
    assert sec.text().count(" = ") == len(scan_body.eqns)
    missing = v.section("nope")  # one line naming the choices, never a raw KeyError
    assert isinstance(missing, Message) and missing.level == "error"
    assert "no nested jaxpr named 'nope'" in missing.text and "'scan.jaxpr'" in missing.text


# -- bad input: one message, never a traceback wall ----------------------------------------------


def test_trace_failure_message_names_line_and_hint():
    def branchy(x):
        if x.sum() > 0:  # the culprit
            return x
        return -x

    out = jaxinspect.jaxpr(branchy, jnp.ones(3))
    assert isinstance(out, Message) and out.level == "error"
    text = out.text
    assert "tracing `branchy` failed: TracerBoolConversionError" in text
    assert "if x.sum() > 0:" in text and "hint: Python `if`" in text
    assert "Traceback" not in text and len(text.splitlines()) < 12


def test_magic_bad_input(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell("import jax.numpy as jnp\ndef g(x):\n    return x * 2\nx = jnp.ones(2)\n")
        cases = {
            "": "usage: %jaxpr",
            "g": "is not a call",
            "g(x": "is not valid Python",
            "nope(x)": "evaluating `nope` raised NameError",
            "g(missing)": "evaluating `missing` raised NameError",
            "--what g(x)": "unknown option '--what'",
            "--diff g(x)": "usage: %jaxpr",
            "g(x) --diff": "--diff needs a call",
            "int(3)": "failed",
        }
        for line, expected in cases.items():
            out = ip.run_line_magic("jaxpr", line)
            assert isinstance(out, Message), line
            assert expected in out.text, (line, out.text)
        out = ip.run_cell_magic("jaxpr", "", "y = x + 1\n")
        assert "last line of the cell must be the call" in out.text
        out = ip.run_cell_magic("jaxpr", "", "y = undefined_thing\ng(y)")
        assert "setup lines raised NameError" in out.text
        assert ip.user_ns["x"] is not None  # nothing the user had is lost
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_magic_options_and_cell_form(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell(
            "import jax, jax.numpy as jnp\n"
            "def f(x, w):\n    return jnp.tanh(x @ w)\n"
            "x8, x16, w = jnp.ones((8, 3)), jnp.ones((16, 3)), jnp.ones((3, 4))\n"
        )
        v = ip.run_line_magic("jaxpr", "-o f(x8, w)")
        assert isinstance(v, JaxprView) and v.title == "f(x8, w)"
        d = ip.run_line_magic("jaxpr", "-o f(x8, w) --diff f(x16, w)")
        assert isinstance(d, JaxprDiffView) and d.diff.inputs[0].b == "f32[16,3]"
        d2 = ip.run_line_magic("jaxpr", "-o --diff f(x16, w) f(x8, w)")
        assert d2.diff.inputs[0].a == "f32[8,3]" and d2.diff.inputs[0].b == "f32[16,3]"
        t = ip.run_line_magic("jaxpr", "--text --cost f(x8, w)")
        assert isinstance(t, Message) and "flops" in t.text and "<" not in t.text.split("\n")[0]
        v = ip.run_cell_magic("jaxpr", "-o --stablehlo", "xs = [x8, x16]\nf(*xs[:1], w=w)")
        assert v.sections == ("stablehlo",) and "stablehlo" in v.text()
        g = ip.run_line_magic("jaxpr", "-o --graph jax.grad(lambda w: f(x8, w).sum())(w)")
        assert g.sections == ("graph",) and g.stats.inputs[0][1] == "f32[3,4]"
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_jaxpr_traces_stay_out_of_the_compile_log():
    def f(x):
        return x * 3

    with jaxinspect.profile() as p:
        v = jaxinspect.jaxpr(f, jnp.ones(5))
        v.cost()
        v.stablehlo()
        jax.jit(f)(jnp.ones(4))  # a real compile is still recorded
    assert [e.fun_name for e in p.events] == ["f"]
    assert p.events[0].reasons[0].kind == "first_call"


def test_to_json_round_trips():
    v = jaxinspect.jaxpr(nested_program, jnp.ones(3))
    data = json.loads(json.dumps(v.to_json()))
    assert data["doc"]["stats"]["equations"] == v.stats.equations
    assert len(data["doc"]["bodies"]) == len(v.doc.bodies)
    d = json.loads(json.dumps(v.diff(v).to_json()))
    assert d["kind"] == "jaxpr_diff"


def test_builder_handles_literals_and_dropvars_directly():
    cj = jax.make_jaxpr(lambda x: jax.lax.scan(lambda c, a: (c + a, None), 0.0, x)[0])(jnp.ones(4))
    doc = jaxprlib.build_doc(cj, "scan")
    assert doc.bodies[0].eqns[0].ins[0][2] is True  # the 0.0 init is a literal
    assert jaxprlib.alpha_name(0) == "a" and jaxprlib.alpha_name(26) == "ba"


# -- the jaxpr diff behind a recompile ----------------------------------------------------------


def test_compile_diff_retraces_both_calls():
    @jax.jit
    def step(params, batch):
        return jnp.tanh(batch @ params["w"]).sum()

    from functools import partial

    @partial(jax.jit, static_argnames="mode")
    def run(x, mode="train"):
        return x.sum() if mode == "train" else x.mean()

    p = {"w": jnp.ones((3, 4))}
    with jaxinspect.profile() as prof:
        step(p, jnp.ones((8, 3)))
        step(p, jnp.ones((5, 3)))
        run(jnp.ones(4))
        run(jnp.ones(4), mode="eval")
    first, shape, _run1, static = prof.events
    out = prof.diff(first)
    assert isinstance(out, Message) and "only recompiles" in out.text
    d = prof.diff(shape)
    assert isinstance(d, JaxprDiffView)
    assert [(i.label, i.a, i.b) for i in d.diff.inputs if i.status == "changed"] == [
        ("batch", "f32[8,3]", "f32[5,3]")
    ]
    assert "step (before) → step (after)" in d.text()
    s = jaxinspect.compile_diff(static.id)
    assert [d_.status for d_ in s.diff.inputs] == ["same"]
    added = [s.diff.b.bodies[0].eqns[r.b].prim for r in s.diff.rows if r.status == "added"]
    assert "div" in added  # mean = sum / n: the static mode changed the program


def test_compile_diff_magic_and_rpc(ip):
    from jaxinspect.glue import extension

    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell(
            "import jax, jax.numpy as jnp\n"
            "@jax.jit\ndef ragged(x):\n    return (x * 2).sum()\n"
            "ragged(jnp.ones(3)); ragged(jnp.ones(4))\n"
        )
        log = jaxinspect.compile_log()
        recompile = [e for e in log.events if e.fun_name == "ragged"][-1]
        assert f"%jaxinspect compiles --diff {recompile.id}" in repr(log)
        out = ip.run_line_magic("jaxinspect", f"compiles --diff {recompile.id}")
        assert isinstance(out, JaxprDiffView) and "~ in x: f32[3] → f32[4]" in out.text()
        bad = ip.run_line_magic("jaxinspect", "compiles --diff")
        assert isinstance(bad, Message) and "needs one event id" in bad.text
        inspector = extension.current()
        result = inspector.transport._methods["compile_diff"]({"event_id": recompile.id})
        assert result["ok"] and "~ in x: f32[3] → f32[4]" in result["text"]
        json.dumps(result)
        missing = inspector.transport._methods["compile_diff"]({"event_id": 10**6})
        assert not missing["ok"] and "no jaxpr diff" in missing["text"]
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_thousands_of_inputs_stay_bounded():
    params = {f"layer{i}": {"w": jnp.ones((2,)), "b": jnp.ones(())} for i in range(3000)}

    def total(p):
        return sum(jnp.sum(v["w"]) + v["b"] for v in p.values())

    v = jaxinspect.jaxpr(total, params)
    assert len(v.stats.inputs) == 6000
    html = html_of(v)
    assert f"… {6000 - jaxprview.VARS_SHOWN} more" in html
    assert len(html.encode()) <= 2_000_000
    assert "… 5960 more" in v.text()  # the summary lists 40 inputs
