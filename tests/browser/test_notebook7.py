"""End to end in Notebook 7 (`jupyter notebook`): the jaxinspect panel sits in the notebook page's
right side area, is shown by its commands, connects to the notebook's kernel and shows a
recompile and its reason."""

import os
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from tests.browser.conftest import ROOT, _free_port, _require
from tests.browser.test_sidebar import SIDEBAR, run_cell, run_command, tid, wait_state

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext jaxinspect",
    "import jax, jax.numpy as jnp\n"
    "@jax.jit\n"
    "def nb7_step(x):\n"
    "    return (x * 2).sum()\n"
    "for n in (3, 4):\n"
    "    nb7_step(jnp.ones(n))\n"
    "print('nb7 cell done')",
]


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    """A real `jupyter notebook` (Notebook 7) server with its own root, settings and kernels."""
    _require("the built labextension", (ROOT / "jaxinspect" / "labextension" / "package.json").exists())
    try:
        import notebook  # noqa: F401
    except ImportError:
        _require("Notebook 7 (pip install 'notebook>=7')", False)
    root = tmp_path_factory.mktemp("nb7")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, root / "nb7.ipynb")
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port = _free_port()
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
        JUPYTER_CONFIG_DIR=str(root / ".config"),
        JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    log_path = root / "notebook.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "notebook", "--no-browser", "--allow-root",
         f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={root}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(base + "/api/status", timeout=2)
            break
        except Exception:
            time.sleep(0.5)
    if proc.poll() is not None or time.monotonic() >= deadline:
        proc.kill()
        pytest.fail("jupyter notebook did not start:\n" + log_path.read_text()[-3000:])
    try:
        yield {"base": base, "root": root, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _palette(page, label):
    """Run a command from Notebook 7's command palette (Ctrl+Shift+C, as in JupyterLab)."""
    run_command(page, label, focus_notebook=True)


def test_the_sidebar_works_in_notebook_7(page, notebook7):
    page.goto(f"{notebook7['base']}/notebooks/nb7.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    # Notebook 7 is not JupyterLab: no lab shell here
    assert page.locator("#jp-main-dock-panel").count() == 0
    # hidden until asked for; its command shows it in the right side area
    assert not page.locator(SIDEBAR).is_visible()
    _palette(page, "Show jaxinspect")
    panel = page.locator(SIDEBAR)
    panel.wait_for(state="visible")
    assert page.locator(f"#jp-right-stack {SIDEBAR}").count() == 1
    wait_state(page, "not-loaded", timeout=90_000)  # connected to the notebook's (new) kernel
    assert "nb7.ipynb" in panel.inner_text()
    # Notebook 7 has no main-area view: no "open in main area" button there
    assert page.locator(tid("jaxinspect-open-main")).count() == 0

    run_cell(page, 0, wait_done=True)  # %load_ext jaxinspect
    wait_state(page, "ready")
    _palette(page, "jaxinspect: Show Compiles")
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && el.getAttribute('aria-selected') === 'true'; }",
        arg=tid("jaxinspect-tab-compiles"), timeout=10_000,
    )
    cell = run_cell(page, 1, wait_done=True)
    cell.locator(".jp-OutputArea-output", has_text="nb7 cell done").wait_for(timeout=60_000)
    recompile = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="nb7_step"]',
        has_text="changed shape (3,) → (4,)",
    )
    recompile.wait_for(timeout=30_000)
    first = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="nb7_step"]',
        has_text="first call",
    )
    assert first.count() == 1
    recompile.click(position={"x": 4, "y": 4})  # its corner: the middle is the cell link
    details = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-details"]')
    details.wait_for()
    text = details.inner_text()
    assert "shape" in text and "(3,)" in text and "(4,)" in text
