"""A notebook that uses jaxinspect in a front end without its labextension (nbclient: what CI, VS
Code's export, papermill and nbconvert --execute do), executed once per test module and saved; used
by tests/test_frontends.py (outputs, widget state, sizes) and tests/browser/test_exported.py (the
nbconvert HTML export opened in Chromium with the network blocked)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

HOSTILE = "<img src=x onerror=window.__jaxinspect_xss=1>"

CELLS = [
    "%load_ext jaxinspect",
    # a jitted training step, and its jaxpr
    "import time, jax, jax.numpy as jnp, jaxinspect\n"
    "@jax.jit\n"
    "def train_step(w, x, y):\n"
    "    loss, g = jax.value_and_grad(lambda w: ((x @ w - y) ** 2).mean())(w)\n"
    "    return w - 0.1 * g, loss\n"
    "x = jnp.ones((32, 4)); y = jnp.ones(32); w = jnp.zeros(4)\n"
    "%jaxpr train_step(w, x, y)",
    # three batch sizes: three compiles, with reasons
    "%%jit_profile\nfor n in (8, 16, 32):\n    w, loss = train_step(w, x[:n], y[:n])",
    "monitor = jaxinspect.monitor()\nmonitor",
    # a short training loop whose weights go NaN at step 40: the loss follows
    "for step in range(60):\n"
    "    if step == 40:\n"
    "        w = w.at[0].set(jnp.nan)\n"
    "    w, loss = train_step(w, x, y)\n"
    f"    monitor.log(step, loss=loss, **{{{HOSTILE!r}: 0.1}})\n"
    "    tree = {'w': w}\n"
    "    jaxinspect.watch('w', tree, step=step)\n"
    "    if step % 10 == 9:\n"
    "        jaxinspect.api.sample_watched()  # the sampler's 1/s would give a loaded machine few samples\n"
    "    time.sleep(0.02)",
    "jaxinspect.watch_history()",
    "jaxinspect.buffers()",
    "%jaxinspect compiles",
    "%jaxinspect params tree",
    "print(monitor)",
]

MONITOR_CELL = 3  # the cell that displays the monitor
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(path: Path) -> Any:
    """Build the notebook, run it with nbclient in a fresh python3 kernel (widget state stored,
    as ``jupyter nbconvert --execute`` and JupyterLab's "save widget state" do), write it to
    ``path`` and return it."""
    import nbclient
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.monotonic()
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True).execute()
    nbformat.write(nb, path)
    print(f"executed {path.name} in {time.monotonic() - start:.1f} s; saved {path.stat().st_size:,} bytes")
    return nb


def widget_state(nb: Any) -> dict[str, Any]:
    return nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


def output_size(output: Any) -> int:
    return len(json.dumps(output, ensure_ascii=False).encode())


def export_html(nb: Any, path: Path) -> Path:
    """The notebook as nbconvert's default HTML export (the lab template), written to ``path``."""
    from nbconvert import HTMLExporter

    body, _resources = HTMLExporter().from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")
    return path
