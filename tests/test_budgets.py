"""Output budgets: every magic, given something big, stays under its size budget and says what
it left out ("… N more"). A notebook cell that receives megabytes freezes the browser; a view
that silently drops rows lies."""

import re

import pytest

TEXT_BUDGET = 200_000  # bytes of text/plain per output
HTML_BUDGET = 2_000_000  # bytes of text/html per output
WIDE_BUDGET = 2_000_000  # text of views the user asked to see whole (jaxprs, --all, code)
MORE = re.compile(r"… [\d,]+ (more|earlier|[a-z]+ folded)")


def _bundle(out):
    if hasattr(out, "_repr_mimebundle_"):
        b = out._repr_mimebundle_()
        return b.get("text/plain", repr(out)), b.get("text/html", "")
    return repr(out), ""


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jaxinspect")
    ip.run_cell(
        "import jax, jax.numpy as jnp, jaxinspect\n"
        "def chain(x):\n"
        "    for i in range(6000):\n"
        "        x = jnp.sin(x) * 1.0001 + i\n"
        "    return x\n"
        "def chain2(x):\n"
        "    for i in range(6000):\n"
        "        x = jnp.cos(x) * 1.0001 + i\n"
        "    return x\n"
        "x0 = jnp.ones(3)\n"
        "big_tree = {f'layer_{i}': {'w': jnp.ones((2, 2)), 'b': jnp.zeros(2)} for i in range(3000)}\n"
        "many_arrays = [jnp.full((4,), i, dtype=jnp.float32) for i in range(3000)]\n"
    )
    yield ip
    ip.run_line_magic("unload_ext", "jaxinspect")
    # the shell is shared with later tests: free the thousands of arrays made here (a snapshot
    # of jax.live_arrays() in another test would walk them all)
    for name in ("chain", "chain2", "x0", "big_tree", "many_arrays", "make", "fns", "many", "k", "s", "m"):
        ip.user_ns.pop(name, None)
    import gc

    gc.collect()


def check(out, more=True, text_budget=TEXT_BUDGET, html_budget=HTML_BUDGET):
    text, html = _bundle(out)
    assert len(text.encode()) <= text_budget, len(text)
    assert len(html.encode()) <= html_budget, len(html)
    if more:
        assert MORE.search(text), text[-2000:]
        if html:
            assert MORE.search(html), html[-2000:]
    return text, html


def test_jaxpr_views_of_an_18000_equation_program(shell):
    wide = dict(more=False, text_budget=WIDE_BUDGET)
    check(shell.run_line_magic("jaxpr", "-o chain(x0)"), **wide)
    check(shell.run_line_magic("jaxpr", "-o --source chain(x0)"), **wide)
    check(shell.run_line_magic("jaxpr", "-o --graph chain(x0)"), text_budget=WIDE_BUDGET)
    text, _ = check(shell.run_line_magic("jaxpr", "-o --diff chain2(x0) chain(x0)"), text_budget=WIDE_BUDGET)
    assert "cos" in text and "sin" in text


def test_stablehlo_and_hlo_of_a_big_program(shell):
    for flag in ("--stablehlo", "--hlo"):
        out = shell.run_line_magic("jaxpr", f"-o {flag} chain(x0)")
        check(out, text_budget=WIDE_BUDGET)


def test_jit_profile_and_compile_log_of_150_functions(shell):
    shell.run_cell(
        "def make(i):\n"
        "    def fn(v):\n"
        "        return v * i\n"
        "    fn.__name__ = fn.__qualname__ = f'fn_{i}'\n"
        "    return jax.jit(fn)\n"
        "fns = [make(i) for i in range(150)]\n"
        "def many():\n"
        "    for f in fns:\n"
        "        f(x0); f(jnp.ones(4))\n"
    )
    text, _ = check(shell.run_line_magic("jit_profile", "-o many()"))
    assert "more functions" in text and "earlier events" in text
    check(shell.run_line_magic("jaxinspect", "compiles"))


def test_buffers_with_3000_holders(shell):
    check(shell.run_line_magic("jaxinspect", "buffers"))
    text, _ = check(shell.run_line_magic("jaxinspect", "buffers --all"), text_budget=WIDE_BUDGET)
    assert "more arrays (output budget; the view's .arrays lists every one)" in text


def test_params_of_a_6000_leaf_tree(shell):
    check(shell.run_line_magic("jaxinspect", "params big_tree"))
    check(shell.run_line_magic("jaxinspect", "params --stats big_tree"))


def test_keys_after_20000_keys(shell):
    shell.run_cell(
        "with jaxinspect.track_keys(on_reuse='ignore'):\n"
        "    k = jax.random.key(0)\n"
        "    for i in range(10000):\n"
        "        k, s = jax.random.split(k)\n"
        "        jax.random.bits(s)\n"
        "        jax.random.bits(s)  # a reuse every step\n"
    )
    check(shell.run_line_magic("jaxinspect", "keys"))


def test_sharding_and_status_stay_small(shell):
    check(shell.run_line_magic("jaxinspect", "sharding x0"), more=False, text_budget=20_000,
          html_budget=100_000)
    check(shell.run_line_magic("jaxinspect", "status"), more=False, text_budget=20_000,
          html_budget=100_000)


def test_monitor_text_with_many_scalars_and_functions(shell):
    m = shell.run_line_magic("jaxinspect", "monitor --text")
    try:
        for step in range(2000):
            m.log(step, **{f"metric_{i}": float(step) for i in range(40)})
        m.flush(final=True)
        text, html = check(m, more=False, text_budget=20_000, html_budget=200_000)
        assert "metric_15: 1,999 at step 1999" in text and "metric_16" not in text  # units.human_value
        assert "… 24 more scalars not shown" in text  # counted, not dropped silently
    finally:
        m.close()
