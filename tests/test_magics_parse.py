"""The magics parse like IPython's own: options before or after the expression, expressions kept
as typed (quotes, spaces, commas), help generated from the parsers, a bad value named in one line."""

from __future__ import annotations

import re

import pytest

from jaxinspect.glue import magics
from jaxinspect.glue.bufferdisplay import BuffersView
from jaxinspect.glue.display import Message
from jaxinspect.glue.paramdisplay import ParamsView

TRAIN = """
import jax, jax.numpy as jnp, optax
import flax.linen as nn
from flax.training import train_state

class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(1)(nn.relu(nn.Dense(8)(x)))

model = MLP()
xb, yb = jnp.ones((16, 3)), jnp.zeros((16, 1))
state = train_state.TrainState.create(
    apply_fn=model.apply, params=model.init(jax.random.key(0), xb)['params'], tx=optax.adam(1e-2))

@jax.jit
def train_step(state, x, y):
    def loss_fn(p):
        return ((state.apply_fn({'params': p}, x) - y) ** 2).mean()
    loss, grads = jax.value_and_grad(loss_fn)(p := state.params)
    return state.apply_gradients(grads=grads), loss

for _ in range(3):
    state, loss = train_step(state, xb, yb)
"""


@pytest.fixture
def trained(ip):
    pytest.importorskip("optax")
    ip.run_line_magic("load_ext", "jaxinspect")
    result = ip.run_cell(TRAIN)
    assert result.success, result.error_in_exec
    yield ip
    ip.run_line_magic("unload_ext", "jaxinspect")


def one_line_error(out, *needles):
    assert isinstance(out, Message) and out.level == "error", out
    assert "\n" not in out.text and "Traceback" not in out.text, out.text
    for needle in needles:
        assert needle in out.text, (needle, out.text)
    return out.text


def test_flags_after_the_expression(trained):
    ip = trained
    after = ip.run_line_magic("jaxinspect", "params state.params --stats")  # NameError before
    before = ip.run_line_magic("jaxinspect", "params --stats state.params")
    for view in (after, before):
        assert isinstance(view, ParamsView) and view.title == "state.params"
        assert view.stats is not None and len(view.stats) == 4  # two Dense layers: kernel + bias
    assert [s.mean for s in after.stats] == [s.mean for s in before.stats]
    plain = ip.run_line_magic("jaxinspect", "params state.params")
    assert isinstance(plain, ParamsView) and plain.stats is None
    # an expression with spaces, commas and quotes stays as typed; a quoted '--stats' is no flag
    tree = ip.run_line_magic("jaxinspect", "params {'--stats': state.params['Dense_0'], 'b': [1, 2]} --stats")
    assert isinstance(tree, ParamsView) and tree.title == "{'--stats': state.params['Dense_0'], 'b': [1, 2]}"
    assert {leaf.path for leaf in tree.leaves} >= {"['--stats']['kernel']", "['--stats']['bias']"}
    # a comment after the line, as in the README's examples, is no argument
    assert isinstance(ip.run_line_magic("jaxinspect", "params state.params  # the tree --stats"), ParamsView)
    assert ip.run_line_magic("jaxinspect", "params state.params  # the tree --stats").stats is None
    keys = ip.run_line_magic("jaxinspect", "keys   # the lineage")
    assert type(keys).__name__ == "KeysView", keys
    diff = ip.run_line_magic("jaxpr", "-o train_step(state, xb, yb) --diff train_step(state, xb[:8], yb[:8])  # two traces")
    assert type(diff).__name__ == "JaxprDiffView"
    for line in ("buffers --no-owners --limit 3", "buffers --limit=3 --no-owners", "buffers --limit 3 --no-owners"):
        view = ip.run_line_magic("jaxinspect", line)
        assert isinstance(view, BuffersView) and view.limit == 3, line


def test_a_bad_value_is_named_in_one_line(trained):
    ip = trained
    text = one_line_error(ip.run_line_magic("jaxinspect", "buffers --limit abc"), "'abc' is not a number", "usage: %jaxinspect buffers")
    assert "unexpected '--limit'" not in text
    one_line_error(ip.run_line_magic("jaxinspect", "buffers --limit"), "--limit needs a number")
    one_line_error(ip.run_line_magic("jaxinspect", "buffers --limit -4"), "'-4' is negative")
    one_line_error(ip.run_line_magic("jaxinspect", "buffers --all=yes"), "--all takes no value")
    one_line_error(ip.run_line_magic("jaxinspect", "buffers --lim 3"), "unknown option '--lim'")
    one_line_error(ip.run_line_magic("jaxinspect", "compiles --diff x"), "'x' is not a number")
    one_line_error(ip.run_line_magic("jaxinspect", "processes --listen 70000"), "PORT must be a number from 0 to 65535, got '70000'")
    one_line_error(ip.run_line_magic("jaxinspect", "keys sideways"), "unexpected 'sideways'", "usage: %jaxinspect keys")
    one_line_error(ip.run_line_magic("jaxinspect", "status now"), "unexpected 'now'")
    one_line_error(ip.run_line_magic("jaxinspect", "params state.parms --stats"), "AttributeError", "state.parms")
    one_line_error(ip.run_line_magic("jaxinspect", "params state.params["), "state.params[")
    # each face speaks as itself: the magic as the magic, the Python API as the API
    assert one_line_error(ip.run_line_magic("jaxinspect", "params 5 --stats")).startswith("%jaxinspect params: ")
    assert one_line_error(ip.run_line_magic("jaxinspect", "sharding state")).startswith("%jaxinspect sharding: ")
    one_line_error(ip.run_line_magic("jaxinspect", "compiles --diff 999999"), "no jaxpr diff for compile #999999")
    import jaxinspect

    assert jaxinspect.params(5).text.startswith("jaxinspect.params: ")
    one_line_error(ip.run_line_magic("jaxpr", "--diff"), "--diff needs a call")
    one_line_error(ip.run_line_magic("jaxpr", "--what train_step(state, xb, yb)"), "unknown option '--what'")
    one_line_error(ip.run_line_magic("jit_profile", "--bogus train_step(state, xb, yb)"), "unknown option '--bogus'")
    one_line_error(ip.run_cell_magic("jit_profile", "-q extra", "state, loss = train_step(state, xb, yb)"), "unexpected 'extra'")


def test_help_is_generated_from_the_parsers(trained):
    ip = trained
    doc = ip.object_inspect("%jaxinspect")["docstring"]
    for sub, handler in magics.SUBCOMMANDS.items():
        assert f"%jaxinspect {sub}" in doc
        for action in handler.parser._actions:  # every option of every subcommand is listed
            for option in action.option_strings:
                assert option in doc, (sub, option)
    jaxpr_doc = ip.object_inspect("%jaxpr")["docstring"]
    for option in ("--source", "--stablehlo", "--hlo", "--cost", "--graph", "--text", "--diff CALL2", "-o"):
        assert option in jaxpr_doc
    assert "%jit_profile" in ip.object_inspect("%jit_profile")["docstring"]
    assert "--no-owners" in ip.run_line_magic("jaxinspect", "buffers --help").text
    assert ip.run_line_magic("jaxinspect", "help buffers").text == ip.run_line_magic("jaxinspect", "buffers -h").text
    assert "--stablehlo" in ip.run_line_magic("jaxpr", "--help").text
    assert ip.run_line_magic("jaxinspect", "--help").text == magics.HELP


def test_jit_profile_and_keys_take_flags_on_either_side(trained):
    ip = trained
    prof = ip.run_line_magic("jit_profile", "state, loss = train_step(state, xb[:8], yb[:8]) -o -q")
    assert prof is not None and "train_step" in [e.fun_name for e in prof.events]
    again = ip.run_line_magic("jit_profile", "-oq state, loss = train_step(state, xb[:4], yb[:4])")
    assert "train_step" in [e.fun_name for e in again.events] and ip.user_ns["state"].step == 5
    # a single-dash word after the code is code, not an option
    ip.run_cell("a, b = 5, 2")
    ip.run_line_magic("jit_profile", "-q c = a -b")
    assert ip.user_ns["c"] == 3
    from jaxinspect.collect import keyslib

    try:
        msg = ip.run_line_magic("jaxinspect", "keys --ignore on")
        assert "key tracking is on" in msg.text and keyslib.tracker().on_reuse == "ignore"
    finally:
        ip.run_line_magic("jaxinspect", "keys off")


def test_watch_off_on_either_side(trained):
    ip = trained
    assert "watching state.params" in ip.run_line_magic("jaxinspect", "watch state.params").text
    assert ip.run_line_magic("jaxinspect", "watch state.params --off").text == "stopped watching state.params"
    from jaxinspect.glue import extension

    assert extension.current().watcher.names == []


def test_deep_expressions_are_one_line(trained):
    ip = trained
    ip.run_cell("def total(v):\n    return v\nv = xb\n")
    deep = "+".join(["v"] * 3000)
    one_line_error(ip.run_line_magic("jaxpr", f"total({deep})"), "too deeply nested")
    one_line_error(ip.run_line_magic("jit_profile", f"-q y = {deep}"), "too deeply nested")
    one_line_error(ip.run_line_magic("jaxinspect", f"params {deep}"), "too deeply nested")
    # long but flat: parsed linearly, and the call is traced
    wide = ", ".join(["v"] * 3000)
    out = ip.run_line_magic("jaxpr", f"-o (lambda *a: a[0])({wide})")
    assert not isinstance(out, Message), out


def test_split_line_keeps_python_words_whole():
    line = """f(a, b) --x 'a b' "c \\" d" [1, 2] {'k': (3, 4)} # c --y"""
    spans, problem = magics.split_line(line)
    words = [line[s:e] for s, e in spans]
    assert words == ["f(a, b)", "--x", "'a b'", '"c \\" d"', "[1, 2]", "{'k': (3, 4)}"]  # no comment
    assert problem is None
    assert magics.split_line("f(x")[1] == "unclosed '('"
    assert magics.split_line("'abc")[1] == "unterminated string"


def test_keys_jit_calls_flag_reaches_the_tracker(trained):
    """`%jaxinspect keys on --jit-calls`: the same key passed to a compiled step on every call is
    a reuse; without the flag the status says such calls are not checked."""
    ip = trained
    from jaxinspect.collect import keyslib

    tracker = keyslib.tracker()
    tracker.clear()
    try:
        plain = ip.run_line_magic("jaxinspect", "keys on --ignore")
        assert "calls of already-compiled functions are not checked (--jit-calls checks them)" in plain.text
        msg = ip.run_line_magic("jaxinspect", "keys --jit-calls")  # flags alone adjust tracking that is on
        assert "every call of a compiled function that takes a key is checked" in msg.text
        assert tracker.jit_calls
        ip.run_cell(
            "@jax.jit\n"
            "def noisy_step(w, key):\n"
            "    return w - 0.1 * jax.random.normal(key, w.shape)\n"
            "step_key = jax.random.key(7)\n"
            "w = jnp.ones(3)\n"
            "for _ in range(3):\n"
            "    w = noisy_step(w, step_key)\n"
        )
        view = ip.run_line_magic("jaxinspect", "keys")
        assert len(view.reuses) == 1 and "noisy_step" in view.text()
        off = ip.run_line_magic("jaxinspect", "keys --no-jit-calls")
        assert not tracker.jit_calls and "not checked" in off.text
    finally:
        ip.run_line_magic("jaxinspect", "keys off --clear")
    one_line_error(ip.run_line_magic("jaxinspect", "keys --jit-calls"), "--jit-calls goes with `on`")


def test_a_failure_of_jaxinspect_inside_a_magic_is_one_line_and_recorded(trained, monkeypatch):
    ip = trained
    from jaxinspect import errors
    from jaxinspect.glue.session import SESSION

    def broken(*a, **k):
        raise RuntimeError("buffers exploded")

    monkeypatch.setattr(SESSION, "buffers", broken)
    before = errors.total()
    text = one_line_error(ip.run_line_magic("jaxinspect", "buffers --limit 3"), "RuntimeError: buffers exploded")
    assert "bug in jaxinspect, not in your code" in text and text.startswith("%jaxinspect: ")
    assert errors.total() == before + 1
    assert re.search(r"internal errors: [1-9]", repr(ip.run_line_magic("jaxinspect", "status")))
    from jaxinspect.errors import KeyReuseError

    def opted_in(*a, **k):
        raise KeyReuseError("key used twice")

    monkeypatch.setattr(SESSION, "keys", opted_in)
    with pytest.raises(KeyReuseError):  # an error the user asked for still reaches them
        ip.run_line_magic("jaxinspect", "keys")
