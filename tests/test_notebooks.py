"""The demo notebooks run top to bottom in a real kernel and show what their text promises."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("flax")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{name} is committed with outputs; strip them"
    )
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    return [c for c in nb.cells if c.cell_type == "code"]


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
    cells = execute("03_prng_keys.ipynb")
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
