"""The document model behind every view (jaxinspect/render/doc.py): both back ends, escaping done
by the back end for every node kind, bounded tables, and text/HTML twins that say the same words
for each view built on it."""

import html as htmllib
import re
from collections import Counter

import pytest

from jaxinspect.render import compileslib
from jaxinspect.render.doc import (
    Alert,
    Blank,
    Cell,
    Column,
    Group,
    Heading,
    Items,
    Line,
    Markup,
    More,
    Pre,
    Raw,
    Section,
    Table,
    Text,
    View,
    to_html,
    to_text,
)  # fmt: skip

PAYLOAD = "<img src=x onerror=alert(1)>"


def inert(markup: str) -> None:
    assert PAYLOAD not in markup
    assert "<img" not in markup.replace("&lt;img", "")


def visible_words(markup: str) -> Counter:
    """The words a reader sees in the HTML: tags (and their attributes), styles and scripts out."""
    markup = re.sub(r"<(style|script)\b.*?</\1>", " ", markup, flags=re.S)
    markup = re.sub(r"<svg\b.*?</svg>", " ", markup, flags=re.S)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", markup))
    return Counter(re.findall(r"\w+", text))


def text_words(text: str) -> Counter:
    text = re.sub(r"\w*…", " ", text)  # a cell cut to its column width: the stub is no word
    return Counter(re.findall(r"\w+", text))


def assert_twins(text: str, markup: str) -> None:
    """Every word of the text twin, as often as it appears there, is visible in the HTML."""
    missing = text_words(text) - visible_words(markup)
    assert not missing, f"in the text but not in the HTML: {dict(missing)}"


# -- the model -----------------------------------------------------------------------------------


def every_node(s: str) -> View:
    return View(
        [s, Text(s, role="code", title=s)],
        [
            Heading(s),
            Line([s, Text(s, role="muted", title=s, cls=s)], cls=s, title=s, attrs=(("data-path", s),)),
            Line(s, role="code", indent=2),
            Group([s, Line(s)], indent=2, cls=s),
            Section([s, Text(s, role="bold")], [Line(s)], open=True, cls=s),
            Section(s, [Line(s)], fold=False),
            Table(
                [Column(s), Column(s, "right", max=5)],
                [(Cell(Text(s, role="code"), sub=[Line(s)], title=s), s)] * 3,
                limit=2, more_label=s, cls=s,
            ),
            More(3, s),
            Alert(s, s),
            Alert(s, s, level="error"),
            Pre(s, cls=s, style=s),
            Items([s, [s, Text(s)]], bullet="- "),
            Raw(s),  # a plain str is no markup: escaped
            Raw(Markup("<hr>"), text=s),
            Blank(),
        ],
        cls=s,
        attrs=(("data-x", s), ("onclick", s)),
    )


def test_every_node_kind_escapes_hostile_strings_in_html_and_keeps_them_in_text():
    doc = every_node(PAYLOAD)
    markup = to_html(doc)
    inert(markup)
    assert "onclick" not in markup  # an event-handler attribute never passes
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "<hr>" in markup  # trusted Markup passes as is
    text = to_text(doc)
    assert text.count(PAYLOAD) >= 20  # the text twin shows the string verbatim
    hostile = '"><script>alert(1)</script><b x="'
    quotes = to_html(every_node(hostile))
    assert "<script" not in quotes and hostile not in quotes and "<b x=" not in quotes
    assert quotes.count("&quot;&gt;&lt;script&gt;") >= 20  # in text, attributes and classes alike


def test_bounded_table_says_how_many_more_in_both_back_ends():
    rows = [(f"row{i}", str(i)) for i in range(10)]
    t = Table([Column("name"), Column("n", "right")], rows, limit=3, more=5, more_label="more rows")
    text = to_text(t)
    assert text.splitlines() == ["name  n", "row0  0", "row1  1", "row2  2", "… 12 more rows"]
    markup = to_html(t)
    assert markup.count("<tr>") == 4  # header + 3 rows
    assert "row3" not in markup and "… 12 more rows" in markup
    assert 'class="ji-r"' in markup  # right-aligned column
    assert to_text(Table(["a"], [("x",)])) == "a\nx"  # nothing cut: no marker
    boxed = Table([Column("", "right"), "0:4", "4:8"], [("0:2", "cpu:0", "cpu:1")], boxed=True)
    assert to_text(boxed).splitlines() == ["|     | 0:4   | 4:8   |", "| 0:2 | cpu:0 | cpu:1 |"]
    assert 'class="ji-boxed"' in to_html(boxed)
    assert to_text(More(0)) == "" and to_html(More(0)) == "" and to_text(More(-3)) == ""


def test_text_layout_indents_sections_groups_and_alerts():
    doc = View(
        "title",
        [
            Group([Alert("boom", "do this"), Line("under", indent=1)], indent=2),
            Section("section", [Line("child"), Table(["k", "v"], [("a", "1")], header=False)]),
            Line("html only", only="html"),
            Line("see the HTML", only="text"),
            Table([Column("shown"), Column("tooltip", text=False)], [("a", "b")]),
            Table([Column("cut", max=4)], [("abcdefgh",)], header=False),
        ],
    )
    assert to_text(doc).splitlines() == [
        "title",
        "  ⚠ boom",
        "    fix: do this",
        "    under",
        "section:",
        "  child",
        "  a  1",
        "see the HTML",
        "shown",
        "a",
        "abc…",
    ]
    markup = to_html(doc)
    assert "html only" in markup and "see the HTML" not in markup
    assert "<details><summary>section</summary>" in markup and "<th>tooltip</th>" in markup
    assert "<script" not in markup


def test_twin_checker_catches_a_drifting_view():
    doc = View("t", [Line("same words"), Line("only in text", only="text")])
    with pytest.raises(AssertionError, match="only"):
        assert_twins(to_text(doc), to_html(doc))


# -- twins of each view --------------------------------------------------------------------------


def compile_records(name: str = "step"):
    events = [
        {"id": 1, "fun_name": name, "fun_key": name, "time": 10.0, "total_s": 0.2, "trace_s": 0.05,
         "lower_s": 0.05, "compile_s": 0.1, "call_site": "/tmp/ipykernel_1/123.py:3", "cell": 4,
         "api": "call", "reasons": [{"kind": "first_call", "message": "first call"}],
         "signature": f"x: float32[3] {name}", "out_shardings": []},
        {"id": 2, "fun_name": name, "fun_key": name, "time": 11.0, "total_s": 1.5, "trace_s": 0.5,
         "lower_s": 0.5, "compile_s": 0.5, "call_site": "model.py:9", "cell": None, "api": "lower",
         "parent": f"outer {name}", "out_shardings": ["NamedSharding(P('x'))", "unspecified"],
         "reasons": [{"kind": "static_part", "message": f"4 static fields of {name} changed",
                      "details": [f"{name}.blocks[{i}].dtype float32 → bfloat16" for i in range(25)]}]},
    ]  # fmt: skip
    functions = [
        {"fun_name": name, "compiles": 2, "trace_s": 0.55, "lower_s": 0.55, "compile_s": 0.6,
         "total_s": 1.7, "reasons": {"first_call": 1, "static_part": 1}, "defined_at": f"{name}.py:1",
         "last_reasons": [{"message": f"4 static fields of {name} changed"}]},
    ] + [
        {"fun_name": f"f{i}", "compiles": 1, "trace_s": 0.0, "lower_s": None, "compile_s": 0.0,
         "total_s": 0.0, "reasons": {"first_call": 1}} for i in range(compileslib.MAX_FUNCTION_ROWS + 3)
    ]  # fmt: skip
    alerts = [{"message": f"{name} recompiled 3 times", "hint": "pad inputs to a few sizes"}]
    return events, functions, alerts


@pytest.mark.parametrize("name", ["step", PAYLOAD, "a & b \"quoted\" 'x'"])
def test_compiles_view_twins(name):
    events, functions, alerts = compile_records(name)
    doc = compileslib.report_doc("jit_profile", events, functions, alerts, hidden=2)
    text, markup = to_text(doc), to_html(doc)
    assert text == compileslib.report_text("jit_profile", events, functions, alerts, hidden=2)
    assert markup == compileslib.report_html("jit_profile", events, functions, alerts, hidden=2)
    assert_twins(text, markup)
    inert(markup) if name == PAYLOAD else None
    assert "cell [4] line 3" in text and "ipykernel" not in text  # a cell, never its temp file
    assert f"… {compileslib.MAX_FUNCTION_ROWS + 4 - compileslib.MAX_FUNCTION_ROWS} more functions" in text
    assert "25 differences:" in text and "… 5 more" in text  # reason details listed, bounded
    assert "outputs: 0 NamedSharding(P('x')), 1 unspecified" in text
    assert "[lower]" in text and f"(inside outer {name})" in text
    assert "--diff 2" in text
    assert "<svg" in markup and "<svg" not in text  # the timeline is a drawing: HTML only
    assert f"x: float32[3] {htmllib.escape(name)}" in markup  # the signature: HTML only


def test_empty_compiles_view_twins():
    doc = compileslib.report_doc("compiles", [], [], [], hidden=3)
    text, markup = to_text(doc), to_html(doc)
    assert "none of your functions compiled" in text and "--all shows them" in text
    assert_twins(text, markup)


def test_status_view_twins():
    from jaxinspect.render import statuslib
    from tests.test_render import ENV, INFO, STATUS

    for env in (ENV, {**ENV, "backend_initialized": False, "devices": [], "note": PAYLOAD}):
        doc = statuslib.status_doc(env, STATUS, INFO)
        text, markup = to_text(doc), to_html(doc)
        assert_twins(text, markup)
        inert(markup)
    assert "… 8 more" in statuslib.status_text(ENV, STATUS, INFO)


def test_message_text_is_verbatim_and_its_html_escaped():
    from jaxinspect.glue.display import Message

    bundle = Message(f"line one\n  {PAYLOAD}  ", level="error")._repr_mimebundle_()
    assert bundle["text/plain"] == f"line one\n  {PAYLOAD}  "
    inert(bundle["text/html"])
    assert 'class="ji-warn"' in bundle["text/html"]


def key_records(name: str, n_reuses: int = 1):
    from jaxinspect.records import KeyCount, KeyNodeRecord, KeyReuse, KeysRecord

    nodes = tuple(
        KeyNodeRecord(id=i, parent=i - 1 if i else None, depth=min(i, 3), op="split",
                      label=f"split[{i}] of {name}", typed=True, site=f"cell [2] line {i}",
                      state="reused" if i == 2 else "split", uses=3, used_by=(f"normal @ {name}",),
                      folded=i % 2)
        for i in range(6)
    )  # fmt: skip
    rec = KeysRecord(seq=3, time=0.0, tracking=True, on_reuse="warn", created=1, derived=5, consumed=4,
                     reuses=n_reuses, summarised=0, nodes=nodes, more_nodes=7,
                     consumers=(KeyCount(name=f"normal {name}", site=f"cell [2] line 3 {name}", count=1234),),
                     note=f"note {name}")  # fmt: skip
    reuses = [
        KeyReuse(id=i, time=0.0, where="eager" if i % 2 else "jit", reuse="consumed twice",
                 key=f"key {name} {i}", function=f"fn {name}", first_op="normal", first_site=f"first {name}",
                 second_op="uniform", second_site=f"second {name}", path=(f"#1 {name}", "#2"), count=2,
                 message=f"reused ({name} was made again from the same seed in cell [3])",
                 hint="split the key")
        for i in range(n_reuses)
    ]  # fmt: skip
    return rec, reuses


@pytest.mark.parametrize("name", ["k", PAYLOAD])
def test_keys_view_twins(name):
    from jaxinspect.render import keyview

    rec, reuses = key_records(name, n_reuses=keyview.MAX_REUSES + 2)
    for limit in (None, 3):
        doc = keyview.keys_doc(rec, reuses, limit)
        text, markup = to_text(doc), to_html(doc)
        assert_twins(text, markup)
        inert(markup)
        assert text.count("⚠") == keyview.MAX_REUSES and "… 2 older reuses" in text
        assert f"… {7 + (6 - (limit or 6))} more keys not shown" in text
        assert "1,234" in text and f"note {name}" in text and "why:" in text
    import dataclasses

    off = dataclasses.replace(rec, tracking=False, nodes=(), consumers=(), note=None)
    doc = keyview.keys_doc(off, [])
    assert "%jaxinspect keys on" in to_text(doc)
    assert_twins(to_text(doc), to_html(doc))


def test_buffers_and_sharding_view_twins(ip):
    import jax.numpy as jnp

    import jaxinspect

    holder = {PAYLOAD: jnp.ones((64, 64)) + 1, "b": [jnp.zeros(i + 1) for i in range(8)]}
    ip.user_ns["holder"] = holder  # buffers() searches the shell's namespace for holders
    view = jaxinspect.buffers(limit=3)
    del ip.user_ns["holder"]
    view.profile = {"samples": 2, "totals": [{"kind": "buffer", "device": "cpu:0", "allocations": 3, "bytes": 4096}],
                    "sites": [{"kind": "buffer", "site": f"{PAYLOAD}.py:3", "allocations": 1, "bytes": 2048}]}  # fmt: skip
    doc = view.document()
    text, markup = to_text(doc), to_html(doc)
    assert (text, markup) == (view._repr_mimebundle_()["text/plain"], view._repr_mimebundle_()["text/html"])
    assert_twins(text, markup)
    inert(markup)
    assert "more arrays (jaxinspect.buffers(limit=None) lists all)" in text
    assert "holder['<img src=x onerror=alert(1)>']" in text
    assert "device_memory_profile(): 2 samples:" in text and "largest allocation sites" in markup
    sv = jaxinspect.sharding(holder[PAYLOAD])
    assert_twins(repr(sv), sv._repr_mimebundle_()["text/html"])
    assert "[0:64, 0:64]" in repr(sv)


def test_params_view_twins_and_bounds():
    import jax.numpy as jnp

    import jaxinspect
    from jaxinspect.render import paramview

    tree = {PAYLOAD: {"kernel": jnp.ones((3, 4)), "bias": jnp.array([1.0, jnp.nan])},
            "blocks": [{"w": jnp.ones(2)} for _ in range(300)]}  # fmt: skip
    v = jaxinspect.params(tree, stats=True)
    for budget in (None, 5):
        doc = v.document(budget)
        text, markup = to_text(doc), to_html(doc)
        assert_twins(text, markup)
        inert(markup)
        assert "⚠ 1 leaves hold NaN/Inf" in text and "<script" not in text
    small = to_text(v.document(5))
    assert "… 297 more leaves" in small and "leaves folded (output budget)" in small
    assert f"… {300 - 3 - paramview.FOLDED_SUBTREES} more subtrees not listed" in small  # 3 unfolded
    assert len(small.splitlines()) < 2 * paramview.FOLDED_SUBTREES + 40  # bounded however big the tree


def test_processes_view_twins_bounded():
    from jaxinspect.live.processtable import ProcessTable
    from jaxinspect.render import processview

    table = ProcessTable()
    for pid in range(10):
        table.add({"kind": "process", "id": pid + 1, "process_index": pid, "host": PAYLOAD, "pid": pid,
                   "state": "connected", "devices": ["cpu:0"], "note": f"note {PAYLOAD}" if pid == 2 else None})
        for f in range(4):  # the last one compiled as often in every process
            table.add({"kind": "remote", "source": pid + 1, "process_index": pid, "record": {
                "kind": "compile_stats", "fun_key": f"k{f}", "fun_name": f"{PAYLOAD}{f}",
                "compiles": 1 + (pid == 1 and f < 3), "total_s": 0.01, "last_reasons": [], "internal": False}})
        table.add({"kind": "remote", "source": pid + 1, "process_index": pid,
                   "record": {"kind": "compile_alert", "message": f"alert {pid} {PAYLOAD}"}})
    doc = processview.processes_doc(table.snapshot(), "127.0.0.1:1", now=0.0)
    text, markup = to_text(doc), to_html(doc)
    assert_twins(text, markup)
    inert(markup)
    assert "… 2 more processes" in text and "p9: alert 9" in text
    marks = [line[:2] for line in text.splitlines() if PAYLOAD[:10] in line and line[2:12] == PAYLOAD[:10]]
    assert marks == ["≠ "] * 3 + ["  "]  # the ≠ mark, and names without it aligned under the marked
    empty = processview.processes_doc({"processes": []}, None)
    assert "No process has connected yet" in to_text(empty)
    assert_twins(to_text(empty), to_html(empty))


def test_monitor_summary_twins():
    from jaxinspect.live.monitorstate import MonitorState
    from jaxinspect.render import monitorview

    empty = monitorview.summary_doc({})
    assert "nothing recorded yet" in to_text(empty)
    assert_twins(to_text(empty), to_html(empty))
    state = MonitorState()
    state.add_scalars([(0, PAYLOAD, 1.0), (1, "loss", 0.025)], {})
    state.apply([{"kind": "compile_stats", "fun_key": PAYLOAD, "fun_name": PAYLOAD, "internal": False,
                  "compiles": 2, "total_s": 0.1, "last_reasons": [{"message": PAYLOAD}]},
                 {"kind": "compile_alert", "message": f"{PAYLOAD} recompiled"}], {})  # fmt: skip
    doc = monitorview.summary_doc(state.snapshot())
    text, markup = to_text(doc), to_html(doc)
    assert_twins(text, markup)
    inert(markup)
    assert "loss: 0.02500 at step 1 (1 points)" in text and f"⚠ {PAYLOAD} recompiled" in text
    assert text == monitorview.summary_text(state.snapshot())


def test_jaxpr_view_twins_and_its_fast_listing():
    import jax
    import jax.numpy as jnp

    import jaxinspect
    from jaxinspect.render import jaxprview

    def f(x, key):
        y = jax.lax.cond(x.sum() > 0, jnp.sin, jnp.cos, x)
        return jax.random.normal(key, x.shape) + jax.random.normal(key, x.shape) * y

    f.__name__ = f.__qualname__ = PAYLOAD
    v = jaxinspect.jaxpr(f, jnp.ones(3), jax.random.key(0)).with_sections("jaxpr", "cost", "graph")
    doc = v.document()
    text, markup = to_text(doc), to_html(doc)
    bundle = v._repr_mimebundle_()
    same_ids = lambda m: re.sub(r"\bjx\d+", "jx", m)  # noqa: E731 - each render numbers its element
    assert text == bundle["text/plain"] and same_ids(markup) == same_ids(bundle["text/html"])
    inert(markup)
    assert "⚠ key reuse" in text and "cost analysis" in text and "dataflow of" in text
    # summary, keys, cost: the same words
    graph_at = text.index("dataflow of")
    listing_at = text.index("\n\n", graph_at) + 2
    assert_twins(text[:graph_at], markup)
    # the dataflow: drawn in HTML (SVG), listed node by node in text, the same nodes
    svg = markup[markup.index("<svg") : markup.index("</svg>")]
    for line in text[graph_at:listing_at].strip().splitlines()[1:]:
        node = line.split("←")[0].strip().split("#")[0]
        assert f">{node}" in svg, line
    # the listing: the same program from both of the Fast part's renderers
    visible = visible_words(markup)
    for line in text[listing_at:].splitlines():
        assert all(w in visible for w in re.findall(r"\w+", line)), line
    # a view of only the summary has no listing in either twin
    summary = v.with_sections("cost").document()
    assert "{ lambda" not in to_text(summary) and 'class="jx-code"' not in to_html(summary)
    assert_twins(to_text(summary), to_html(summary))
    assert jaxprview.page_doc(v.doc).title == jaxprview.summary_title(v.doc.stats, v.doc.title)


def test_jaxpr_diff_twins():
    import jax.numpy as jnp

    import jaxinspect

    def layer(x, w):
        return jnp.tanh(x @ w).sum()

    a = jaxinspect.jaxpr(layer, jnp.ones((8, 3)), jnp.ones((3, 4)))
    b = jaxinspect.jaxpr(layer, jnp.ones((8, 3), jnp.int32), jnp.ones((3, 4)))
    d = a.diff(b)
    doc = d.document()
    text, markup = to_text(doc), to_html(doc)
    assert text == d.text() and "~ in x: f32[8,3] → i32[8,3]" in text
    assert "\n  ~ " in text and "[types]" in text and 'class="jx-diff jx-code"' in markup and "<table" not in text
    assert_twins(text.split("\n")[0] + "\n" + "\n".join(x for x in text.splitlines() if " in x:" in x), markup)
    for line in text.splitlines()[1:]:  # the rows: every name of the unified diff is in the table
        words = re.findall(r"\w+", line)
        assert all(w in visible_words(markup) for w in words), line
