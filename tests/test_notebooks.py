"""The demo notebooks run top to bottom in a real kernel and show what their text promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, widgets: bool = False):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("flax")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{name} is committed with outputs; strip them"
    )
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True).execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if widgets:
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        return cells, state.get("state", {})
    return cells


def monitor_snapshot(widget_state: dict) -> dict:
    """The stored state of the notebook's MonitorWidget (what a reader sees without a kernel)."""
    snaps = [w["state"]["snapshot"] for w in widget_state.values() if "snapshot" in w.get("state", {})]
    assert len(snaps) == 1, f"expected one monitor widget, found {len(snaps)}"
    return snaps[0]


def no_errors(cells) -> None:
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(e.traceback)[-2000:] for e in errors)


def outputs(cell, mime: str = "text/plain") -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
        else:
            parts.append(out.get("data", {}).get(mime, ""))
    return "\n".join(parts)


def test_reading_jaxprs_notebook():
    cells = execute("02_reading_jaxprs.ipynb")
    assert not any(o.output_type == "error" for c in cells for o in c.outputs)
    grad, nested, diff, cost, api, bad = cells[1:]
    html = outputs(grad, "text/html")
    assert '<summary>Dense_0 · ' in html and "<summary>head · " in html
    assert "params[&#x27;params&#x27;][&#x27;Dense_0&#x27;][&#x27;kernel&#x27;]" in html
    text = outputs(nested)
    assert "let <lambda> = " in text and "scan[" in text and "branches[1]=" in text
    assert "# cell [" in text  # --source
    assert "~ in x: f32[32,16] → i32[17,16]" in outputs(diff)
    assert "flops" in outputs(cost) and "<svg" in outputs(cost, "text/html")
    assert outputs(api).startswith("1 (('x', 'f32[32,16]'), ('w', 'f32[16,4]'))")
    message = outputs(bad)
    assert "TracerBoolConversionError" in message and "hint:" in message
    assert "if x.sum() > 0:" in message and "Traceback" not in message


def test_prng_keys_notebook():
    cells = execute("04_prng_keys.ipynb")
    assert not any(o.output_type == "error" for c in cells for o in c.outputs)
    setup, loop, lineage, folded, jitted, jaxpr, nnx, off = cells
    assert "key tracking is on" in outputs(setup)
    warning = outputs(loop)
    assert "KeyReuseWarning" in warning and "first normal at cell [" in warning and "then bernoulli at cell [" in warning
    tree = outputs(lineage)
    assert "1 reuse" in tree and "[reused]" in tree and "lineage: #1 key(0) → " in tree
    assert "consumed twice" in outputs(folded) and "fold_in(" in outputs(folded)
    assert "PRNG key `key` in train_step consumed twice" in outputs(jitted)
    text = outputs(jaxpr)
    assert "⚠ key reuse: key consumed twice: first normal at cell [" in text and "# key: consumes key" in text
    labels = outputs(nnx)
    assert "rngs.noise[0]" in labels and "KeyReuseWarning" in labels
    assert outputs(off).strip().endswith("4")


def test_getting_started_notebook():
    cells, widgets = execute("00_getting_started.ipynb", widgets=True)
    no_errors(cells)
    load, status, first, jaxpr, profile, monitor, loop, helptext = cells
    assert "backend" in outputs(status)
    text = outputs(jaxpr)
    assert text.startswith("jaxpr of step(w, x): ") and "dot_general" in text
    assert "`x` changed shape (32, 64) → (7, 64)" in outputs(profile)
    assert "application/vnd.jupyter.widget-view+json" in monitor.outputs[0]["data"]
    assert "done" in outputs(loop)
    snap = monitor_snapshot(widgets)
    assert snap["scalars"]["w_sum"][-1][0] == 19  # the loop's last step, stored at the end of the cell
    assert "%jaxinspect keys" in outputs(helptext) and "%jaxinspect monitor" in outputs(helptext)


def test_recompilation_notebook():
    cells = execute("01_recompilation.ipynb")
    no_errors(cells)
    text = "\n".join(outputs(c) for c in cells)
    assert "`x` changed shape (32, 8) → (4, 8)" in text  # the ragged last batch
    assert "`factor` changed type Python float (weak-typed) → float32[]" in text
    assert "static argument `mode` changed 'fast' → 'exact'" in text
    assert "static part `optimizer.tx` of argument `optimizer` is a new GradientTransformationExtraArgs" in text
    assert "nnx_step at cell [" in text  # the user's line, not flax's wrapper
    assert "function re-defined (same source line; e.g. a re-run cell)" in text
    assert "`encode` recompiled 5 times" in text and "bucketing" in text
    assert "`encode` compiled 2 times (allowed 1)" in text


def test_memory_notebook():
    cells = execute("03_memory.ipynb")
    no_errors(cells)
    _load, leak_loop, leak, fixed, donated = cells
    html = outputs(leak_loop, "text/html")
    assert "losses" in html
    assert outputs(leak).startswith("losses: 299 arrays, 1196 bytes, created at cell [")
    assert outputs(fixed).startswith("3 arrays")
    assert "old buffer deleted: True" in outputs(donated)


def test_training_notebook_with_the_monitor_and_a_nan():
    pytest.importorskip("sklearn")
    cells, widgets = execute("05_training_nnx.ipynb", widgets=True)
    no_errors(cells)
    _setup, _model, monitor, train, compiles, _nan, alert_list, summary = cells
    line = outputs(train)
    first, last, acc = (float(v) for v in re.findall(r"[-\d.]+(?=[; ]|$)", line.replace("->", " "))[:3])
    assert last < 0.5 * first and acc > 0.8, line
    log = outputs(compiles)
    assert re.search(r"train_step\s+1\s", log)  # compiled once for the whole run
    alerts = outputs(alert_list)
    assert "loss became NaN at step 300" in alerts
    # every watched step is checked: the exact step; at that step the update has spread the NaN
    assert "params: first NaN at step 300, last finite step 299 (every watched step" in alerts
    assert "leaves turned at once: the NaN came through the step" in alerts
    # nan_guard names the one leaf that was NaN in the step's inputs and clears the step itself
    assert "train_step inputs: first NaN at call 300, last finite call 299" in alerts
    assert "1 of " in alerts and "model.head.kernel (1 NaN)" in alerts
    cause = outputs(_nan)
    assert "the NaN entered between call 299 and call 300, outside train_step" in cause, cause
    assert "model.head.kernel" in cause
    snap = monitor_snapshot(widgets)
    assert snap["scalars"]["loss"][-1] == [319, "NaN"]
    assert any("first NaN at step 300" in a["message"] for a in snap["alerts"])
    assert any("cause: replaying call 299" in a["message"] for a in snap["alerts"])
    assert snap["params"]["params"]["nonfinite"] > 0 and snap["memory"]["bytes"] > 0
    assert "loss: NaN at step 319" in outputs(summary)


def test_many_processes_notebook():
    cells, widgets = execute("06_many_processes.ipynb", widgets=True)
    no_errors(cells)
    start, _script, run, view = cells
    assert "No process has connected yet" in outputs(start)
    losses = re.findall(r"process (\d): train loss ([\d.]+), eval mse ([\d.]+)", outputs(run))
    assert sorted(p for p, _, _ in losses) == ["0", "1"]
    assert all(float(t) < 0.05 and float(e) < 0.05 for _, t, e in losses), losses  # it learned
    text = outputs(view)
    assert "Processes: 2 processes · 2 done" in text
    assert re.search(r"≠ evaluate\s+1\s+2\s+`x` changed shape \(25, 8\) → \(15, 8\)", text), text
    assert re.search(r"  train_step\s+1\s+1", text), text
    assert "≠ evaluate" in outputs(view, "text/html")
    snap = monitor_snapshot(widgets)
    rows = snap["processes"]["rows"]
    assert sorted(r["process_index"] for r in rows) == [0, 1] and all(r["state"] == "done" for r in rows)
    differs = snap["processes"]["differs"]
    assert [{k: d[k] for k in ("name", "counts")} for d in differs] == [{"name": "evaluate", "counts": {"p0": 1, "p1": 2}}]
    assert differs[0]["message"].startswith(  # written in the kernel; the widget shows it as is
        "evaluate compiled a different number of times per process (p0: 1 · p1: 2)"
    )


def _processes_with(mark: str) -> list[int]:
    """Pids of the processes whose environment holds ``mark`` (this test's kernel and everything
    it started: the controller, the engines, their nannies)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_ipyparallel_notebook(monkeypatch):
    import os
    import signal
    import sys
    import time
    import uuid

    pytest.importorskip("ipyparallel")
    pytest.importorskip("sklearn")
    if not sys.platform.startswith("linux"):
        pytest.skip("the leftover-process check reads /proc")
    mark = f"nb07-{uuid.uuid4().hex}"
    monkeypatch.setenv("JAXINSPECT_TEST_MARK", mark)  # inherited by the kernel and the cluster it starts
    try:
        cells = execute("07_ipyparallel.ipynb")
    finally:
        deadline = time.monotonic() + 20
        while _processes_with(mark) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _processes_with(mark)
        for pid in left:  # never leave a hung engine behind, even when the notebook failed
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert not left, f"the notebook left processes behind: {left}"
    no_errors(cells)
    (start, _load, _px_load, _port, init, _model, train, side, _hang, wait, view, stacks, left_at,
     ended, stop) = cells
    assert "engines: [0, 1]" in outputs(start)
    assert "JAX process 0 of 2" in outputs(init) and "JAX process 1 of 2" in outputs(init)
    # it learned, the same on both engines (the gradient is averaged across them)
    lines = re.findall(r"p(\d): train loss ([\d.]+) -> ([\d.]+), held-out mse ([\d.]+) \(predicting the mean: ([\d.]+)\)",
                       outputs(train))
    assert sorted(p for p, *_ in lines) == ["0", "1"], outputs(train)
    assert len({tuple(v) for _, *v in lines}) == 1, lines  # identical parameters on both
    first, last, mse, baseline = (float(v) for v in lines[0][1:])
    assert last < 0.6 * first and mse < 0.7 * baseline, lines
    # both engines side by side, by engine id and JAX process index, after the training cell
    text = outputs(side)
    assert "engine 0 · p0" in text and "engine 1 · p1" in text and "2 connected" in text, text
    assert re.search(r"last step\s+step 299 · .*step 299 · ", text), text
    assert re.search(r"  train_step\s+1\s+1", text), text
    assert "Stuck" not in text
    # the hang: engine 0 named stuck at the engine's cell 5, line 5 (what the text says)
    diagnosis = outputs(wait).strip()
    assert re.fullmatch(
        r"engine 0 · p0 has waited \d+ s at engine cell \[5\] line 5 for a device result \(a step or a collective in it\), "
        r"inside jax/_src/array\.py:\d+ \(_value\)\. "
        r"Not there: engine 1 · p1 idle, last step 319 — the process the others wait for is elsewhere",
        diagnosis), diagnosis
    text = outputs(view)
    assert "1 stuck" in text and "⚠ Stuck: engine 0 · p0 has waited " in text, text
    assert "at engine cell [5] line 5 for a device result (a step or a collective in it), inside jax/_src/array.py" in text, text
    assert re.search(r"main thread\s+⚠ stuck \d+ s\s+idle", text), text  # the columns, short
    assert re.search(r"⚠ engine 0 · p0: stuck \d+ s at engine cell \[5\] line 5\n\s+losses\.append\(float\(loss\)\)\n"
                     r"\s+inside jax/_src/array\.py:\d+ \(_value\)\n\s*engine 1 · p1: idle\n", text), text
    assert "losses.append(float(loss))" in text and "when it looked stuck" in text, text  # its own stack
    text = outputs(stacks)
    assert text.index("engine 0 · p0: stuck") < text.index("engine 1 · p1: idle"), text
    assert text.count("taken just now, when asked") == 2, text
    assert "engine 0 · p0: stuck" in text and "at engine cell [5] line 5\n" in text, text
    assert re.search(r"engine cell \[5\] line 5, in <module>\n +losses\.append\(float\(loss\)\)", text), text
    assert "[library]" in text and "outer frames (the kernel's" in text
    assert "engine 1 left the loop at step 320" in outputs(left_at)
    assert "2 processes · 1 done · 1 lost" in outputs(ended)
    assert "cluster stopped in" in outputs(stop)
