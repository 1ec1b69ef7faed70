"""jaxinspect.params: linen, NNX module/state/optimizer, raw pytrees, statistics, escaping."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinspect
from jaxinspect.glue.display import Message
from jaxinspect.glue.paramdisplay import ParamsView
from jaxinspect.render import paramview


def test_linen_variables_kinds_and_totals():
    nn = pytest.importorskip("flax.linen")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.BatchNorm(use_running_average=True)(nn.Dense(4)(x))

    variables = MLP().init(jax.random.key(0), jnp.ones((1, 3)))
    v = jaxinspect.params(variables)
    assert isinstance(v, ParamsView)
    kinds = {leaf.path: leaf.kind for leaf in v.leaves}
    assert kinds["['params']['Dense_0']['kernel']"] == "Param"
    assert kinds["['batch_stats']['BatchNorm_0']['mean']"] == "BatchStat"
    assert v.total == 3 * 4 + 4 + 4 + 4 + 4 + 4
    assert v.by_kind() == {"Param": 24, "BatchStat": 8}
    html = v._repr_mimebundle_()["text/html"]
    assert "<b>[&#x27;params&#x27;]</b>" in html and "24 values" in html


def test_train_state_and_raw_pytree():
    optax = pytest.importorskip("optax")
    from flax.training import train_state

    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    state = train_state.TrainState.create(apply_fn=lambda *a: None, params=params, tx=optax.sgd(0.1))
    v = jaxinspect.params(state)
    paths = [leaf.path for leaf in v.leaves]
    assert ".params['w']" in paths and ".step" not in paths  # a Python int, not a parameter
    raw = jaxinspect.params({"layers": [np.ones(3), jnp.ones((2, 2))], "name": "x", "n": 3})
    assert [leaf.path for leaf in raw.leaves] == ["['layers'][0]", "['layers'][1]"]  # str/int skipped
    bad = jaxinspect.params(3)
    assert isinstance(bad, Message) and "no array leaves" in bad.text


def test_nnx_module_state_optimizer():
    nnx = pytest.importorskip("flax.nnx")
    optax = pytest.importorskip("optax")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(3, 3, rngs=rngs) for _ in range(2)])
            self.bn = nnx.BatchNorm(3, rngs=rngs)
            self.rngs = nnx.Rngs(0)

    net = Net(nnx.Rngs(0))
    v = jaxinspect.params(net)
    kinds = {leaf.path: leaf.kind for leaf in v.leaves}
    assert kinds[".layers[1].kernel"] == "Param" and kinds[".bn.mean"] == "BatchStat"
    assert any(k.startswith("Rng") for k in kinds.values())
    state = jaxinspect.params(nnx.state(net, nnx.Param))
    assert {leaf.kind for leaf in state.leaves} == {"Param"}
    opt = nnx.Optimizer(net, optax.adam(1e-3), wrt=nnx.Param)
    ov = jaxinspect.params(opt)
    assert any("mu" in leaf.path for leaf in ov.leaves) and any("nu" in leaf.path for leaf in ov.leaves)
    # PRNG keys have no statistics, the rest do
    sv = jaxinspect.params(net, stats=True)
    for leaf, s in zip(sv.leaves, sv.stats, strict=True):
        assert (s is None) == leaf.dtype.startswith("key"), leaf.path


def test_statistics_and_nan_detection():
    tree = {
        "ok": jnp.array([1.0, 2.0, 3.0, 0.0]),
        "bad": {"w": jnp.array([1.0, jnp.nan, jnp.inf, 2.0])},
        "ints": jnp.arange(4),
    }
    v = jaxinspect.params(tree, stats=True)
    s = dict(zip((leaf.path for leaf in v.leaves), v.stats, strict=True))
    ok = s["['ok']"]
    assert ok.mean == pytest.approx(1.5) and ok.max == 3.0 and ok.min == 0.0
    assert ok.norm == pytest.approx(np.sqrt(14.0)) and ok.zeros == pytest.approx(0.25)
    bad = s["['bad']['w']"]
    assert bad.nan == 1 and bad.inf == 1 and bad.mean == pytest.approx(1.5)  # finite values only
    assert s["['ints']"].max == 3.0
    assert v.nonfinite() == ["['bad']['w']"]
    assert "⚠ 1 leaves hold NaN/Inf, first: ['bad']['w']" in v.text()
    html = v._repr_mimebundle_()["text/html"]
    assert "⚠ 1 NaN/Inf" in html
    json.dumps(v.to_json())


def test_stats_skip_deleted_leaves():
    x = jnp.ones(3) + 1
    y = jnp.ones(3) + 2
    y.delete()
    v = jaxinspect.params({"x": x, "y": y}, stats=True)
    stats = dict(zip((leaf.path for leaf in v.leaves), v.stats, strict=True))
    assert stats["['x']"] is not None and stats["['y']"] is None


def test_odd_names_are_escaped_and_find_subtree():
    evil = '<img src=x onerror="alert(1)">'
    v = jaxinspect.params({evil: {"kernel": jnp.ones(2)}, "other": jnp.ones(3)})
    html = v._repr_mimebundle_()["text/html"]
    assert "<img" not in html and "&lt;img" in html
    assert [leaf.path for leaf in v.find("KERNEL").leaves] == [f"[{evil!r}]['kernel']"]
    assert [leaf.path for leaf in v.subtree("['other']").leaves] == ["['other']"]


def test_huge_trees_stay_bounded():
    tree = {f"block{i}": {"w": jnp.ones(2), "b": jnp.ones(1)} for i in range(4000)}
    v = jaxinspect.params(tree)
    html = v._repr_mimebundle_()["text/html"]
    assert html.count('class="pt-leaf') == paramview.LEAF_BUDGET
    assert "leaves folded (output budget)" in html or "not shown (output budget)" in html
    assert "… 7600 more leaves" in v.text()


def test_params_magic(ip):
    ip.run_line_magic("load_ext", "jaxinspect")
    try:
        ip.run_cell("import jax.numpy as jnp\nparams = {'dense': {'kernel': jnp.ones((2, 2))}}\n")
        v = ip.run_line_magic("jaxinspect", "params --stats params['dense']")
        assert isinstance(v, ParamsView) and v.title == "params['dense']" and v.stats[0].mean == 1.0
        bad = ip.run_line_magic("jaxinspect", "params missing")
        assert isinstance(bad, Message) and "NameError" in bad.text
        bad = ip.run_line_magic("jaxinspect", "params --fast params")
        assert isinstance(bad, Message) and "unknown option" in bad.text
    finally:
        ip.run_line_magic("unload_ext", "jaxinspect")


def test_records_render_in_treescope():
    treescope = pytest.importorskip("treescope")
    v = jaxinspect.params({"a": {"w": jnp.ones((2, 2))}}, stats=True)
    text = treescope.render_to_text(v.leaves[0])
    assert "ParamLeaf(" in text and "path=\"['a']['w']\"" in text
    assert "norm=2.0" in treescope.render_to_text(v.stats[0])
    import jaxinspect.render.paramview as pv

    assert "treescope" not in pv.__dict__  # our own views never need it
