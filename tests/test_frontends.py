"""Front ends without the labextension (VS Code, Colab, classic notebook, nbconvert): the magics
and the in-cell monitor, run by nbclient in a real kernel, leave outputs that read right in text
and HTML, a stored widget state, no plotly.js anywhere, and a small saved notebook. One notebook
run (module fixture) serves every test here."""

from __future__ import annotations

import json
import re

import pytest

from tests import frontends_nb as fnb

pytestmark = pytest.mark.kernel

OUTPUT_MAX = 100_000  # bytes per jaxinspect output
NOTEBOOK_MAX = 200_000  # bytes for the whole saved notebook (5.2 MB with plotly's FigureWidget)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("anywidget")  # the widget view needs it (not in the jax 0.10 compat env)
    path = tmp_path_factory.mktemp("frontends") / "frontends.ipynb"
    nb = fnb.execute(path)
    return nb, path


def data_outputs(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.outputs:
            if out.output_type in ("display_data", "execute_result"):
                yield i, out


def test_every_cell_ran_and_every_output_has_text_and_html_or_is_the_widget(run):
    nb, _path = run
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(e.traceback)[-2000:] for e in errors)
    seen = set()
    for i, out in data_outputs(nb):
        seen.add(i)
        data = out.data
        text = data.get("text/plain", "")
        assert text and "object at 0x" not in text and "VBox(" not in text, (i, text[:200])
        if fnb.WIDGET_VIEW in data:
            assert i == fnb.MONITOR_CELL and set(data) == {fnb.WIDGET_VIEW, "text/plain"}
            assert text.startswith("jaxinspect monitor: a live widget")
        else:
            assert set(data) == {"text/plain", "text/html"}, (i, sorted(data))
    assert seen == {1, 2, 3, 5, 6, 7, 8}  # every display cell (0 loads, 4 trains, 9 prints)
    # what each one says, in both twins
    jaxpr = nb.cells[1].outputs[0].data
    assert "jaxpr of train_step(w, x, y)" in jaxpr["text/plain"] and "dot_general" in jaxpr["text/html"]
    prof = nb.cells[2].outputs[-1].data
    assert "3 compiles of 1 function" in prof["text/plain"] and "changed shape" in prof["text/plain"]
    assert "<svg" in prof["text/html"]  # its timeline, drawn without plotly
    history = nb.cells[5].outputs[0].data
    assert "w: " in history["text/plain"] and 'class="ji-chart"' in history["text/html"]
    assert "per device" in nb.cells[6].outputs[0].data["text/plain"]
    assert "train_step" in nb.cells[7].outputs[0].data["text/plain"]
    assert "['w']  leaf  float32[4]" in nb.cells[8].outputs[0].data["text/plain"]
    printed = "".join(o.text for o in nb.cells[9].outputs if o.output_type == "stream")
    assert "loss: NaN at step 59 (60 points)" in printed and "⚠ loss became NaN at step 40" in printed


def test_the_monitor_output_carries_a_final_snapshot_beside_the_widget(run):
    nb, _path = run
    widget, snap = nb.cells[fnb.MONITOR_CELL].outputs
    assert fnb.WIDGET_VIEW in widget.data
    text, html = snap.data["text/plain"], snap.data["text/html"]
    # the state at the end of the training cell, not the empty one the cell first showed
    assert "loss: NaN at step 59 (60 points)" in text and "⚠ loss became NaN at step 40" in text
    assert "loss became NaN at step 40" in html and "nothing recorded yet" not in text
    key = re.search(r'class="jaxinspect-monitor-snapshot (ji-mon-[0-9a-f]+)"', html).group(1)
    assert '<g class="ji-series" data-name="loss" data-points="60">' in html  # the curve, as SVG
    assert "loss: NaN from step 40 to 59 (20 points)" in html
    # a hostile scalar name is escaped text in the saved HTML, never an element
    assert "<img" not in html and "&lt;img src=x onerror=window.__jaxinspect_xss=1&gt;" in html
    # the stored widget state: one monitor, its final snapshot, the key its CSS hides the snapshot by
    models = [m["state"] for m in fnb.widget_state(nb).values() if "snapshot" in m.get("state", {})]
    assert len(models) == 1, len(models)
    (state,) = models
    assert state["snapshot_key"] == key and state["curves"] is True
    assert state["snapshot"]["scalars"]["loss"][-1] == [59, "NaN"]
    assert any("loss became NaN at step 40" in a["message"] for a in state["snapshot"]["alerts"])
    assert widget.data[fnb.WIDGET_VIEW]["model_id"] in fnb.widget_state(nb)


def test_no_plotly_and_small_outputs_and_a_small_saved_notebook(run):
    nb, path = run
    raw = path.read_text(encoding="utf-8")
    for marker in ("plotly", "Plotly.newPlot", "application/vnd.plotly"):
        assert marker.lower() not in raw.lower(), marker
    sizes = [(i, fnb.output_size(out)) for i, cell in enumerate(nb.cells) for out in cell.outputs]
    state = len(json.dumps(fnb.widget_state(nb)).encode())
    print(f"saved notebook {path.stat().st_size:,} bytes; widget state {state:,} bytes; outputs "
          + ", ".join(f"cell {i}: {n:,}" for i, n in sizes))  # fmt: skip
    assert all(n <= OUTPUT_MAX for _i, n in sizes), sizes
    assert state <= OUTPUT_MAX, state
    assert path.stat().st_size <= NOTEBOOK_MAX, path.stat().st_size


def test_the_html_export_shows_the_snapshot_where_the_widget_cannot_render(run, tmp_path):
    """nbconvert picks the widget view when the widget state is stored (a script placeholder that
    needs the html-manager from a CDN); the snapshot is a text/html output of its own, so the
    export carries the final curves and alerts as plain HTML whatever happens to the widget."""
    pytest.importorskip("nbconvert")
    nb, _path = run
    html = fnb.export_html(nb, tmp_path / "frontends.html").read_text(encoding="utf-8")
    assert html.count('<script type="application/vnd.jupyter.widget-view+json">') == 1
    assert "jaxinspect-monitor-snapshot" in html and "loss became NaN at step 40" in html
    assert '<g class="ji-series" data-name="loss" data-points="60">' in html
    assert "plotly" not in html.lower()
    # the hostile name is markup nowhere outside the inert JSON of the stored widget state
    outside_scripts = re.sub(r"<script\b.*?</script>", "", html, flags=re.S)
    assert "<img src=x" not in outside_scripts and "&lt;img src=x" in outside_scripts
