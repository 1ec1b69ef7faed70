"""A real JupyterLab server and Debian Chromium (through Playwright) for the browser tests.

With JAXINSPECT_REQUIRE_BROWSER=1 (set by scripts/test.sh) a missing browser fails the run instead
of skipping, so CI can never count a skipped browser test as a pass.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _require(what, ok):
    if ok:
        return
    if os.environ.get("JAXINSPECT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required but {what} is missing (scripts/test.sh installs it)")
    pytest.skip(f"{what} is missing")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEMO_CELLS = [
    "%load_ext jaxinspect",
    "import jax, jax.numpy as jnp\nx = jnp.arange(8.0).sum()\nprint('devices:', jax.devices())",
    "import time\nfor step in range(10):\n    time.sleep(0.5)\nprint('slow cell done')",
]
HOSTILE_WORKER = """
import sys, time, socket
socket.gethostname = lambda: '<img src=x onerror="window.__jaxinspect_xss=2">'
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
pid, port = int(sys.argv[1]), sys.argv[2]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
import jaxinspect, jax.numpy as jnp
conn = jaxinspect.connect()
def h(v):
    return v * 3 + 1
h.__name__ = h.__qualname__ = '<img src=x onerror="window.__jaxinspect_xss=3">local_step'
step = jax.jit(h)
step(jnp.ones(8))
if pid == 1:
    step(jnp.ones(16))
keep = jnp.ones((256, 256))
time.sleep(8)
"""
NOTEBOOKS = {
    "demo.ipynb": DEMO_CELLS,
    "first.ipynb": ["%load_ext jaxinspect", "x = 1"],
    # a kernel whose jaxinspect speaks another protocol version
    "compiles.ipynb": [
        "%load_ext jaxinspect",
        "import time, jax, jax.numpy as jnp\n"
        "@jax.jit\n"
        "def ragged_step(x):\n"
        "    return (x * 2).sum()\n"
        "for n in (3, 4):\n"
        "    ragged_step(jnp.ones(n))\n"
        "    time.sleep(0.5)\n"
        "time.sleep(8)\n"
        "print('compile cell done')",
    ],
    "buffers.ipynb": [
        "%load_ext jaxinspect",
        "import time, jax, jax.numpy as jnp\n"
        "w = jnp.ones((256, 256))\n"
        "losses = []\n"
        "for i in range(48):\n"
        "    w = w * 0.99\n"
        "    losses.append(w.sum())  # a device scalar per step: the classic leak\n"
        "    time.sleep(0.25)\n"
        "print('buffers cell done')",
    ],
    "params.ipynb": [
        "%load_ext jaxinspect",
        "import time, jax, jax.numpy as jnp, jaxinspect\n"
        "jaxinspect.config.watch_budget = 0.5  # every step checked on a loaded CI machine too\n"
        "params = {'l1': {'w': jnp.ones((4, 8)) * 0.1}, 'l2': {'w': jnp.ones((8, 2)) * 0.1}}\n"
        "step = jax.jit(lambda p: jax.tree_util.tree_map(lambda w: w * 0.99 + 0.001, p))\n"
        "for i in range(60):\n"
        "    params = step(params)\n"
        "    if i == 25:\n"
        "        params['l2']['w'] = params['l2']['w'].at[0, 0].set(jnp.nan)  # a bad update\n"
        "    jaxinspect.watch('params', params, step=i)\n"
        "    time.sleep(0.2)\n"
        "print('params cell done')",
    ],
    "keys.ipynb": [
        "%load_ext jaxinspect",
        "import time, jax\n"
        "key = jax.random.key(0)\n"
        "for i in range(40):\n"
        "    key, sub = jax.random.split(key)\n"
        "    x = jax.random.normal(sub, (4,))\n"
        "    if i == 12:\n"
        "        y = jax.random.uniform(sub, (4,))  # the bug: sub drawn from twice\n"
        "    time.sleep(0.25)\n"
        "print('keys cell done')",
    ],
    "monitor.ipynb": [
        "%load_ext jaxinspect",
        "import jaxinspect\nm = jaxinspect.monitor()\nm",
        "import time, jax, jax.numpy as jnp\n"
        "w = {'dense': {'kernel': jnp.ones((8, 8))}}\n"
        "for step in range(40):\n"
        "    w = jax.tree_util.tree_map(lambda x: x * 0.99, w)\n"
        "    m.log(step, loss=1.0 / (step + 1), **{'<img src=x onerror=alert(1)>': step})\n"
        "    jaxinspect.watch('w', w, step=step)\n"
        "    time.sleep(0.25)\n"
        "print('monitor cell done')",
    ],
    "outputs.ipynb": [
        "%load_ext jaxinspect",
        "import jax, jax.numpy as jnp\n"
        "@jax.jit\n"
        "def step(w, x):\n"
        "    return w - 0.01 * jax.grad(lambda w: jnp.mean(jnp.tanh(x @ w) ** 2))(w)\n"
        "w, x = jnp.ones((64, 8)), jnp.ones((32, 64))\n"
        "w = step(w, x)",
        "%jaxpr step(w, x)",
        "%jit_profile for n in (32, 7, 7): w = step(w, jnp.ones((n, 64)))",
    ],
    # hostile names in every tab, and a two-process jax.distributed job publishing to this kernel
    "hostile.ipynb": [
        "%load_ext jaxinspect",
        "import os, sys, socket, subprocess, warnings, jax, jax.numpy as jnp, jaxinspect\n"
        "EVIL = '<img src=x onerror=\"window.__jaxinspect_xss=1\">'\n"
        "def f(x):\n"
        "    return x * 2\n"
        "f.__name__ = f.__qualname__ = EVIL + 'f'\n"
        "g = jax.jit(f)\n"
        "g(jnp.ones(3)); g(jnp.ones(4))\n"
        "holder = {EVIL: jnp.ones((128, 128))}\n"
        "jaxinspect.watch(EVIL, {EVIL: {'w': jnp.ones(4)}}, step=0)\n"
        "jaxinspect.track_keys()\n"
        "def bad(k):\n"
        "    return jax.random.normal(k) + jax.random.normal(k)\n"
        "bad.__name__ = bad.__qualname__ = EVIL + 'bad'\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    jax.jit(bad)(jax.random.key(0))\n"
        "c = jaxinspect.collect_processes()\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()\n"
        "open('worker.py', 'w').write(" + repr(HOSTILE_WORKER) + ")\n"
        "workers = [subprocess.Popen([sys.executable, 'worker.py', str(i), str(port)],\n"
        "                            env={**os.environ, **c.env}) for i in range(2)]\n"
        "print('started')",
        "for w in workers:\n"
        "    w.wait(timeout=120)\n"
        "print('workers done', [w.returncode for w in workers])",
    ],
    # a process of a job that hangs (its main thread blocked for good), then is killed
    "stuck.ipynb": [
        "%load_ext jaxinspect",
        "import os, sys, subprocess, jaxinspect\n"
        "jaxinspect.config.stuck_after_s = 2\n"
        "c = jaxinspect.collect_processes()\n"
        "open('hang.py', 'w').write('import threading, jaxinspect\\n'\n"
        "                           'jaxinspect.config.stuck_after_s = 2\\n'\n"
        "                           'conn = jaxinspect.connect()\\n'\n"
        "                           'gate = threading.Event()\\n'\n"
        "                           'gate.wait()  # <b>never set</b>\\n')\n"
        "worker = subprocess.Popen([sys.executable, 'hang.py'], env={**os.environ, **c.env})\n"
        "print('started')",
        "worker.kill(); worker.wait(timeout=30)\nprint('killed')",
    ],
    "reload.ipynb": [
        "%load_ext jaxinspect\nimport jaxinspect\njaxinspect.config.sidebar_silence_s = 25  # sidebars then ping every 6.25 s",
        "from jaxinspect.glue import extension\nprint('sidebars:', extension.current().sidebars)",
    ],
    # a kernel restarted while its training loop runs
    "restart.ipynb": [
        "%load_ext jaxinspect",
        "import time, jax, jax.numpy as jnp, jaxinspect\n"
        "@jax.jit\n"
        "def old_step(w, n):\n"
        "    return w * 0.9 + n.sum()\n"
        "m = jaxinspect.monitor()\n"
        "display(m)\n"
        "w = jnp.ones(4)\n"
        "for i in range(200):\n"
        "    w = old_step(w, jnp.ones(2 + i % 3))\n"
        "    m.log(i, loss=float(w.sum()))\n"
        "    jaxinspect.watch('w', {'w': w}, step=i)\n"
        "    time.sleep(0.1)\n"
        "print('old loop done')",
        "import jax, jax.numpy as jnp\n"
        "@jax.jit\n"
        "def new_step(w):\n"
        "    return w * 0.5\n"
        "w = jnp.ones(4)\n"
        "for i in range(10):\n"
        "    w = new_step(w)\n"
        "print('new loop', float(w.sum()))",
    ],
    # as if jaxinspect were not installed in this kernel's environment
    "noinstall.ipynb": [
        "import sys\n"
        "class NoJaxinspect:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'jaxinspect':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoJaxinspect())"
    ],
    "future.ipynb": [
        "import jaxinspect.protocol as p\np.PROTOCOL_VERSION = 99",
        "%load_ext jaxinspect",
    ],
}


@pytest.fixture(scope="session")  # one for every browser test, in any file
def lab(tmp_path_factory):
    _require(
        "the built labextension", (ROOT / "jaxinspect" / "labextension" / "package.json").exists()
    )
    root = tmp_path_factory.mktemp("lab")
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nbformat.write(nb, root / name)
    port = _free_port()
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news pop-up
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
        JUPYTER_CONFIG_DIR=str(root / ".config"),
        JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    log = open(root / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",  # the REST cleanup between tests (DELETE got 403)
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={root / '.workspaces'}",
            "--LabApp.news_url=",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/api/status", timeout=2)
            break
        except Exception:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
    if proc.poll() is not None:
        pytest.fail("JupyterLab did not start:\n" + (root / "jupyterlab.log").read_text()[-3000:])
    try:
        yield {"base": base, "root": root, "log": root / "jupyterlab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")  # one for every browser test, in any file
def browser():
    chromium = _chromium()
    _require("Debian chromium", chromium)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright Python package", False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(target, name):
    """Save a screenshot for the README when JAXINSPECT_SCREENSHOTS names a folder
    (scripts/screenshots.sh); a no-op otherwise."""
    folder = os.environ.get("JAXINSPECT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(folder) / f"{name}.png"))


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    out = ROOT / "test-results"
    out.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(out / f"{request.node.name}.png"))
    except Exception:
        pass
    context.close()
    if "lab" in request.fixturenames:  # the server is shared: leave no kernel running for the next
        _shutdown_kernels(request.getfixturevalue("lab")["base"])


def _shutdown_kernels(base):
    """Stop every kernel of the shared JupyterLab server (its REST API), so each browser test
    starts on an idle server as it did with a server of its own."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/api/kernels", timeout=10) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{base}/api/kernels/{k['id']}", method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()
    except Exception as exc:  # noqa: BLE001 - a cleanup: say it, never fail the test for it
        print(f"could not stop the lab's kernels: {exc}")
