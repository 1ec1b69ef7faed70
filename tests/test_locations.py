"""Cells, not temp files: in a real ipykernel every place jaxinspect reports in a notebook cell is
"cell [N] line L" with the right N, L and the line's code (compile call sites and definitions,
key reuses and their printed warnings, buffer holders and creation sites, params NaN alerts,
``%jaxpr`` sources), in records, text and HTML; a place in a file stays "file.py:12"."""

import json
import re
import textwrap
import warnings

import pytest

from jaxinspect import units
from jaxinspect.collect import compilelib
from jaxinspect.records import Location
from jaxinspect.render.doc import Line, place, to_html, to_text

pytestmark = pytest.mark.kernel

TEMP = re.compile(r"ipykernel_\d+|/tmp/ipykernel|<ipython-input")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    from test_kernel import start_kernel

    km, kc = start_kernel(tmp_path_factory.mktemp("kernel"))
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code, timeout=120, ok=True):
    """Execute ``code``: (execution count, stdout, stderr, html outputs, error or None)."""
    msg_id = kc.execute(code)
    out, err, html, error = [], [], [], None
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        kind = msg["msg_type"]
        if kind in ("display_data", "execute_result"):
            html.append(content["data"].get("text/html", ""))
            out.append(content["data"].get("text/plain", ""))
        elif kind == "stream":
            (out if content["name"] == "stdout" else err).append(content["text"])
        elif kind == "error":
            error = content
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    if ok:
        assert reply["content"]["status"] == "ok", (error, "".join(err))
    return reply["content"]["execution_count"], "".join(out), "".join(err), html, error


def value(kc, expr):
    """``expr`` evaluated in the kernel, as JSON."""
    _, out, _, _, _ = run(kc, f"import json as _j\nprint(_j.dumps({expr}))")
    return json.loads(out.strip().splitlines()[-1])


def check(loc, cell, line, code):
    assert loc is not None
    assert (loc["cell"], loc["line"], loc["code"], loc["path"]) == (cell, line, code, None), loc
    assert loc["text"] == f"cell [{cell}] line {line}"


@pytest.fixture(scope="module")
def session(kernel):
    run(kernel, "%load_ext jaxinspect")
    run(kernel, "import jax, jax.numpy as jnp, jaxinspect, warnings")
    return kernel


def test_compile_call_site_and_definition_are_cells(session):
    kc = session
    defined, *_ = run(kc, "x0 = 1\n\n@jax.jit\ndef double(x):\n    return x * 2\n")
    for i in range(6):  # cells between: the counts must be exact, not "the previous cell"
        run(kc, f"filler_{i} = {i}")
    called, *_ = run(kc, "a = double(jnp.ones(3))\nb = double(jnp.ones(4))  # recompile\n")
    events = value(
        kc, "[e.to_json() for e in jaxinspect.compile_log().events if e.fun_name == 'double']"
    )
    assert len(events) == 2
    first, recompile = events
    check(first["call"], called, 1, "a = double(jnp.ones(3))")
    check(recompile["call"], called, 2, "b = double(jnp.ones(4))  # recompile")
    assert recompile["location"] == f"cell [{called}] line 2"
    check(recompile["defined"], defined, 3, "@jax.jit")  # a decorated def starts at its decorator
    stats = value(kc, "[s.to_json() for s in jaxinspect.compile_log().functions if s.fun_name == 'double']")
    check(stats[0]["defined"], defined, 3, "@jax.jit")
    # what the user reads: text and HTML of the compile log, no temp file anywhere
    _, text, _, html, _ = run(kc, "jaxinspect.compile_log()")
    assert f"double at cell [{called}] line 2" in text and not TEMP.search(text), text
    page = "".join(html)
    assert f'data-jaxinspect-cell="{called}" data-jaxinspect-line="2"' in page
    assert f'data-jaxinspect-cell="{defined}" data-jaxinspect-line="3"' in page
    assert 'title="b = double(jnp.ones(4))  # recompile"' in page
    assert not TEMP.search(page)


def test_a_key_reuse_and_its_warning_name_the_cell(session):
    kc = session
    count, _, err, _, _ = run(
        kc,
        "jaxinspect.track_keys()\n"
        "k = jax.random.key(0)\n"
        "u = jax.random.normal(k)\n"
        "v = jax.random.uniform(k)\n",
    )
    reuse = value(kc, "[r.to_json() for r in jaxinspect.keys().reuses][-1]")
    check(reuse["first_at"], count, 3, "u = jax.random.normal(k)")
    check(reuse["second_at"], count, 4, "v = jax.random.uniform(k)")
    assert reuse["second_use"] == f"uniform @ cell [{count}] line 4"
    # the lineage's and the samplers' sites come with their places, once per site
    keys = value(kc, "jaxinspect.keys().record.to_json()")
    check(keys["places"][f"cell [{count}] line 2"], count, 2, "k = jax.random.key(0)")
    assert {c["site"] for c in keys["consumers"]} <= set(keys["places"])
    # the printed warning starts with the cell's place, never the kernel's temp file
    header = next(line for line in err.splitlines() if "KeyReuseWarning" in line)
    assert header.startswith(f"cell [{count}]:4: KeyReuseWarning: jaxinspect: PRNG key"), err
    assert not TEMP.search(err), err
    # the keys view links both uses in HTML, and its text twin reads the same places
    _, text, _, html, _ = run(kc, "jaxinspect.keys()")
    assert f"uniform @ cell [{count}] line 4" in text
    assert f'data-jaxinspect-cell="{count}" data-jaxinspect-line="4"' in "".join(html)
    # the lineage: the key made on line 2
    assert f'data-jaxinspect-cell="{count}" data-jaxinspect-line="2"' in "".join(html)


def test_a_warnings_filter_still_turns_a_reuse_into_an_error(session):
    kc = session
    count, _, _, _, error = run(
        kc,
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('error', jaxinspect.KeyReuseWarning)\n"
        "    k2 = jax.random.key(7)\n"
        "    p = jax.random.normal(k2)\n"
        "    q = jax.random.normal(k2)\n",
        ok=False,
    )
    assert error is not None and error["ename"] == "KeyReuseWarning", error
    assert f"then normal at cell [{count}] line 5" in error["evalue"]
    # a module filter on the cell's module (__main__) matches it as it matches the cell's own
    _, _, err, _, _ = run(
        kc,
        "with warnings.catch_warnings():\n"
        "    warnings.filterwarnings('ignore', category=jaxinspect.KeyReuseWarning, module='__main__')\n"
        "    k3 = jax.random.key(8)\n"
        "    p = jax.random.normal(k3)\n"
        "    q = jax.random.normal(k3)\n"
        "    jaxinspect.keys()\n",  # flushes inside the filter
    )
    assert "KeyReuseWarning" not in err, err
    run(kc, "%jaxinspect keys off")


def test_a_usage_warning_names_the_cell(session):
    count, _, err, _, _ = run(session, "x_before = 1\nbad = jaxinspect.track_keys(on_reuse='loudly')\n")
    header = next(line for line in err.splitlines() if "UserWarning" in line)
    assert header.startswith(f"cell [{count}]:2: UserWarning: jaxinspect.track_keys:"), err
    assert not TEMP.search(err), err


def test_buffer_holder_and_creation_site_are_cells(session):
    kc = session
    count, *_ = run(kc, "import numpy as np\nhere = 0\nheld_big = jnp.ones((64, 1000)) + 1\n")
    snap = value(kc, "jaxinspect.buffers().record.to_json()")
    (owner,) = [g for g in snap["owners"] if g["name"] == "held_big"]
    check(owner["at"], count, 3, "held_big = jnp.ones((64, 1000)) + 1")
    (site,) = [g for g in snap["sites"] if g["at"] and g["at"]["cell"] == count]
    assert site["name"] == f"cell [{count}] line 3"
    _, text, _, html, _ = run(kc, "jaxinspect.buffers()")
    assert f"cell [{count}] line 3" in text and not TEMP.search(text)
    # linked where the holder is listed, in the sites table and in the largest arrays' rows
    assert "".join(html).count(f'data-jaxinspect-cell="{count}" data-jaxinspect-line="3"') >= 3


def test_a_params_nan_alert_names_the_watch_line(session):
    kc = session
    count, _, err, _, _ = run(
        kc,
        "tree = {'w': jnp.ones(4)}\n"
        "for step in range(4):\n"
        "    if step == 2:\n"
        "        tree = {'w': tree['w'] * jnp.nan}\n"
        "    jaxinspect.watch('nanny', tree, step=step)\n",
    )
    alerts = value(
        kc,
        "[a.to_json() for a in __import__('jaxinspect.glue.session', fromlist=['x'])"
        ".SESSION.inspector.watcher.alerts if a.name == 'nanny']",
    )
    assert alerts and alerts[0]["step"] == 2, alerts
    check(alerts[0]["watched_at"], count, 5, "jaxinspect.watch('nanny', tree, step=step)")
    # the line printed in the cell (config.print_alerts) names the watch() line too
    assert f"(watched at cell [{count}] line 5)" in err, err
    assert not TEMP.search(err), err


def test_nan_guard_names_the_cell_line_that_made_the_nan(session):
    kc = session
    defined, *_ = run(kc, "def logstep(w):\n    z = w + 0\n    return jnp.log(z)\n")
    run(
        kc,
        "guarded = jaxinspect.nan_guard(logstep)\n"
        "w = jnp.full(3, 3.0)\n"
        "for i in range(6):\n"
        "    w = guarded(w)\n"
        "cause = guarded.wait()\n",
    )
    alerts = value(
        kc,
        "[a.to_json() for a in __import__('jaxinspect.glue.session', fromlist=['x'])"
        ".SESSION.inspector.watcher.alerts if a.cause]",
    )
    assert alerts, value(kc, "guarded.cause")
    check(alerts[-1]["cause_at"], defined, 3, "return jnp.log(z)")
    assert f"cell [{defined}] line 3" in alerts[-1]["cause"]


def test_jaxpr_sources_are_cells(session):
    kc = session
    defined, *_ = run(kc, "def lossy(x):\n    y = jnp.sin(x)\n    return y * 2\n")
    _, text, _, html, _ = run(kc, "%jaxpr --source lossy(jnp.ones(2))")
    assert f"# cell [{defined}] line 2 (lossy)" in text and not TEMP.search(text), text
    page = "".join(html)
    assert f'data-jaxinspect-cell="{defined}" data-jaxinspect-line="2"' in page
    assert 'title="y = jnp.sin(x)"' in page
    places = value(kc, "{k: v.to_json() for k, v in jaxinspect.jaxpr(lossy, jnp.ones(2)).doc.places.items()}")
    check(places[f"cell [{defined}] line 2 (lossy)"], defined, 2, "y = jnp.sin(x)")


def test_a_place_in_a_file_stays_a_file(session, tmp_path):
    kc = session
    mod = tmp_path / "placemod.py"
    mod.write_text(
        textwrap.dedent(
            """\
            import jax


            @jax.jit
            def triple(x):
                return x * 3
            """
        )
    )
    run(kc, f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport placemod")
    run(kc, "placemod.triple(jnp.ones(2))")
    (event,) = value(kc, "[e.to_json() for e in jaxinspect.compile_log().events if e.fun_name == 'triple']")
    loc = event["defined"]
    assert loc["cell"] is None and loc["path"] == str(mod) and loc["line"] == 4
    assert loc["text"] == f"{tmp_path.name}/placemod.py:4" and loc["code"] == "@jax.jit"


# -- the pieces, without a kernel ----------------------------------------------------------------


def test_one_function_makes_every_location(tmp_path):
    f = tmp_path / "model.py"
    f.write_text("a = 1\nb = 2  # here\n")
    loc = compilelib.locate(str(f), 2, None)
    assert loc == Location(cell=None, line=2, code="b = 2  # here", path=str(f))
    assert loc.text == f"{tmp_path.name}/model.py:2"
    cell = compilelib.locate(str(f), 2, lambda name: 7)  # a cell map that knows the file
    assert (cell.text, cell.path, cell.code) == ("cell [7] line 2", None, "b = 2  # here")
    assert compilelib.locate(None, 3, None) is None
    text = compilelib.site_text(cell, "loss")
    assert text == "cell [7] line 2 (loss)" and compilelib.located(text) is cell
    assert units.place(None, None, None) == "?" and units.place(3, None, None) == "cell [3] line ?"


def test_html_places_link_cells_and_escape_code():
    loc = Location(cell=4, line=2, code='x = "<b>" & y', path=None)
    html = to_html(Line(["at ", place(loc)]))
    assert 'class="jaxinspect-cell"' in html and 'data-jaxinspect-cell="4"' in html
    assert 'data-jaxinspect-line="2"' in html and 'title="x = &quot;&lt;b&gt;&quot; &amp; y"' in html
    assert to_text(Line(["at ", place(loc)])).strip() == "at cell [4] line 2"
    file_loc = Location(cell=None, line=9, code="z()", path="/src/pkg/m.py")
    html = to_html(Line([place(file_loc)]))
    assert "data-jaxinspect" not in html and "pkg/m.py:9" in html


def test_warning_place_outside_a_notebook_is_the_file():
    from jaxinspect.collect import keyslib

    tracker = keyslib.KeyTracker()

    def where():
        import sys

        f = sys._getframe()
        return (f.f_code, f.f_lineno)

    tracker._event_where = where()
    with warnings.catch_warnings():
        filename, lineno, module = tracker._warning_place()
    assert filename == __file__ and module is None and lineno > 0
