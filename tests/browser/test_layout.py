"""The sidebar at the widths people use it (250 px, JupyterLab's default, and 400 px): in every
tab, with real data carrying long names (`tree_bias_correction`, `optimizer.opt_state`), a shape
f32[1797,8,8,1], a function `train_step`, reused keys, watched params, buffers and a publishing
process, no element sticks out of the sidebar sideways, no name, path or shape is broken across
lines (one wider than the sidebar ends in an ellipsis and carries its whole text in a tooltip),
and the tab strip is one row."""

import os
from pathlib import Path

import nbformat
import pytest

from tests.browser.test_sidebar import (
    SIDEBAR,
    fresh_lab,
    open_from_browser,
    run_cell,
    run_command,
    tid,
    wait_state,
)

pytestmark = pytest.mark.browser

WORKER = """
import time, jax, jax.numpy as jnp, jaxinspect
conn = jaxinspect.connect()
@jax.jit
def train_step(x):
    return x * 2
for n in (8, 16):
    train_step(jnp.ones(n))
opt_state = jnp.ones((1797, 8, 8, 1))
time.sleep(6)
"""

CELLS = [
    "%load_ext jaxinspect",
    # compiles, buffers, params (with a NaN alert), keys (a reuse), all with long names
    "import sys, time, subprocess, warnings, jax, jax.numpy as jnp, jaxinspect\n"
    "jaxinspect.config.watch_budget = 0.5\n"
    "class Optimizer:\n"
    "    pass\n"
    "optimizer = Optimizer()\n"
    "optimizer.opt_state = {'tree_bias_correction': jnp.zeros((1797, 8, 8, 1)),\n"
    "                       'mu': [jnp.ones((64, 10))]}\n"
    "digits_images_standardized = jnp.zeros((1797, 8, 8, 1))\n"
    "per_step_losses = [jnp.float32(i) for i in range(1200)]  # a 4-digit badge: '1.2k'\n"
    "@jax.jit\n"
    "def train_step(params, x):\n"
    "    return jax.tree_util.tree_map(lambda w: w * 0.99 + 0.0 * x.mean(), params)\n"
    "@jax.jit\n"
    "def tree_bias_correction(mu, count):\n"
    "    return jax.tree_util.tree_map(lambda m: m / (1 - 0.9 ** count), mu)\n"
    "params = {'conv1': {'kernel': jnp.ones((3, 3, 1, 32)) * 0.1, 'bias': jnp.zeros(32)},\n"
    "          'tree_bias_correction': {'scale': jnp.ones(10)},\n"
    "          'dense_output_projection': {'kernel': jnp.ones((32, 10)) * 0.1}}\n"
    "for n in (8, 16, 32, 8):\n"
    "    params = train_step(params, jnp.ones((n, 8, 8, 1)))\n"
    "    tree_bias_correction(optimizer.opt_state, float(n))\n"
    "for i in range(12):\n"
    "    params = train_step(params, jnp.ones((8, 8, 8, 1)))\n"
    "    if i == 6:\n"
    "        params['conv1']['bias'] = params['conv1']['bias'].at[0].set(jnp.nan)\n"
    "    jaxinspect.watch('params', params, step=i)\n"
    "    jaxinspect.watch('optimizer.opt_state', optimizer.opt_state, step=i)\n"
    "jaxinspect.track_keys()\n"
    "key = jax.random.key(0)\n"
    "with warnings.catch_warnings():\n"
    "    warnings.simplefilter('ignore')\n"
    "    for i in range(6):\n"
    "        key, dropout_key = jax.random.split(key)\n"
    "        jax.random.normal(dropout_key, (4,))\n"
    "        if i == 3:\n"
    "            jax.random.bernoulli(dropout_key, 0.5, (4,))  # the bug: a reused key\n"
    "print('setup done')",
    # a second process publishing to this kernel (Processes tab)
    "c = jaxinspect.collect_processes()\n"
    "open('layout_worker.py', 'w').write(" + repr(WORKER) + ")\n"
    "worker = subprocess.Popen([sys.executable, 'layout_worker.py'], env={**__import__('os').environ, **c.env})\n"
    "worker.wait(timeout=120)\n"
    "print('worker done', worker.returncode)",
]

# what each tab shows once its data is in (the tab is checked after this appears)
READY = {
    "overview": "jaxinspect-device",
    "compiles": "jaxinspect-compile-function",
    "buffers": "jaxinspect-buffers-owner",
    "params": "jaxinspect-params-layer",
    "keys": "jaxinspect-keys-reuse",
    "processes": "jaxinspect-processes-function",
}

# Everything that names something: function and variable names, paths, shapes, sites.
NAMES = (
    ".jp-JaxInspect-code, .jp-JaxInspect-name, .jp-JaxInspect-location, .jp-JaxInspect-cellLink,"
    " [data-testid='jaxinspect-keys-label']"
)

# Inside the sidebar, what sticks out sideways, what scrolls sideways, which names take more than
# one line, which truncated names have no tooltip with their whole text, and the tab strip's rows.
CHECK = """([sel, names]) => {
  const panel = document.querySelector(sel);
  const pr = panel.getBoundingClientRect();
  const out = {width: pr.width, outside: [], scrolls: [], broken: [], untitled: [], tabRows: 0};
  const say = el => {
    const id = el.getAttribute('data-testid') || el.className || el.tagName;
    return `${el.tagName.toLowerCase()}[${id}] "${(el.textContent || '').trim().slice(0, 60)}"`;
  };
  if (panel.scrollWidth > panel.clientWidth + 1) {
    out.scrolls.push(`the sidebar itself: ${panel.scrollWidth} > ${panel.clientWidth}`);
  }
  for (const el of panel.querySelectorAll('*')) {
    if (el.getClientRects().length === 0) continue;  // not rendered
    const cs = getComputedStyle(el);
    let r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // what the user sees of it: clipped by any ancestor that hides or scrolls its overflow
    let left = r.left, right = r.right;
    for (let a = el.parentElement; a && a !== panel; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') {
        const ar = a.getBoundingClientRect();
        left = Math.max(left, ar.left);
        right = Math.min(right, ar.right);
      }
    }
    if (right > left && (right > pr.right + 1 || left < pr.left - 1)) {
      out.outside.push(`${say(el)}: ${Math.round(left - pr.left)}..${Math.round(right - pr.left)} of ${Math.round(pr.width)}`);
    }
    const scrolling = cs.overflowX === 'auto' || cs.overflowX === 'scroll';
    if (scrolling && el.scrollWidth > el.clientWidth + 1 && el.tagName !== 'PRE') {
      out.scrolls.push(`${say(el)}: ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  for (const el of panel.querySelectorAll(names)) {
    if (el.getClientRects().length === 0 || !(el.textContent || '').trim()) continue;
    // the line boxes its text takes: one per distinct line top
    const tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(t);
      for (const rr of range.getClientRects()) {
        if (rr.width > 0) tops.add(Math.round(rr.top));
      }
    }
    if (tops.size > 1) out.broken.push(`${say(el)}: ${tops.size} lines`);
    // cut short (ellipsis): its whole text must be in a tooltip on it or an ancestor
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'hidden') {
      const full = (el.textContent || '').trim();
      let titled = false;
      for (let a = el; a && a !== panel; a = a.parentElement) {
        if ((a.getAttribute('title') || '').includes(full)) { titled = true; break; }
      }
      if (!titled) out.untitled.push(say(el));
    }
  }
  const tabs = [...panel.querySelectorAll('[role="tab"]')];
  out.tabRows = new Set(tabs.map(t => Math.round(t.getBoundingClientRect().top))).size;
  const strip = panel.querySelector('[role="tablist"]');
  if (strip && strip.scrollWidth > strip.clientWidth + 1) out.scrolls.push('the tab strip');
  return out;
}"""


def set_sidebar_width(page, px):
    """Drag the handle between the main area and the right sidebar until the sidebar is ``px``
    wide, as a user would."""
    for _ in range(4):
        box = page.locator("#jp-right-stack").bounding_box()
        if abs(box["width"] - px) <= 1:
            return
        handles = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)")
        best = None
        for i in range(handles.count()):
            hb = handles.nth(i).bounding_box()
            if hb and (best is None or abs(hb["x"] + hb["width"] - box["x"]) < abs(best["x"] + best["width"] - box["x"])):
                best = hb
        x, y = best["x"] + best["width"] / 2, best["y"] + best["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + (box["width"] - px) / 2, y, steps=4)
        page.mouse.move(x + (box["width"] - px), y, steps=4)
        page.mouse.up()
        page.wait_for_timeout(300)
    box = page.locator("#jp-right-stack").bounding_box()
    assert abs(box["width"] - px) <= 2, f"could not set the sidebar to {px} px: {box['width']}"


def shots_dir():
    folder = os.environ.get("JAXINSPECT_LAYOUT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return folder


def test_every_tab_fits_the_sidebar_at_250_and_400_px(page, lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, lab["root"] / "layout.ipynb")
    fresh_lab(page, lab, "layout")
    page.locator(".jp-DirListing-itemName", has_text="layout.ipynb").first.wait_for()
    run_command(page, "Show jaxinspect")
    open_from_browser(page, "layout.ipynb")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")
    cell = run_cell(page, 1, wait_done=True)
    cell.locator(".jp-OutputArea-output", has_text="setup done").wait_for(timeout=120_000)
    # the process tab must have seen its worker: open it while the worker publishes
    page.locator(tid("jaxinspect-tab-processes")).click()
    worker = run_cell(page, 2)
    page.locator(tid(READY["processes"])).first.wait_for(timeout=120_000)
    worker.locator(".jp-OutputArea-output", has_text="worker done").wait_for(timeout=120_000)

    folder = shots_dir()
    report = {}
    for width in (250, 400):
        set_sidebar_width(page, width)
        for tab, ready in READY.items():
            page.locator(tid(f"jaxinspect-tab-{tab}")).click()
            page.locator(tid(ready)).first.wait_for(timeout=60_000)
            if tab == "compiles":  # the details of a recompile, with its reasons, open too
                ev = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="train_step"]')
                if page.locator(tid("jaxinspect-compile-details")).count() == 0:
                    ev.first.locator(".jp-JaxInspect-compileName").click()  # (its place is a link)
                page.locator(tid("jaxinspect-compile-details")).wait_for()
            page.wait_for_timeout(300)
            got = page.evaluate(CHECK, [SIDEBAR, NAMES])
            assert abs(got["width"] - width) <= 2, got["width"]
            report[(width, tab)] = {k: v for k, v in got.items() if v and k not in ("width", "tabRows")}
            if got["tabRows"] != 1:
                report[(width, tab)]["tabRows"] = got["tabRows"]
            if folder:
                page.locator(SIDEBAR).screenshot(path=f"{folder}/{tab}-{width}.png")
    if folder:  # the same at 250 px in the dark theme, for a person to look at
        set_sidebar_width(page, 250)
        run_command(page, "Use Theme: JupyterLab Dark")
        page.wait_for_timeout(1500)
        for tab, ready in READY.items():
            page.locator(tid(f"jaxinspect-tab-{tab}")).click()
            page.locator(tid(ready)).first.wait_for(timeout=60_000)
            page.wait_for_timeout(300)
            page.locator(SIDEBAR).screenshot(path=f"{folder}/{tab}-250-dark.png")
        run_command(page, "Use Theme: JupyterLab Light")
    bad = {k: v for k, v in report.items() if v}
    assert not bad, "\n".join(f"{w} px {tab}: {v}" for (w, tab), v in bad.items())

    # the tab strip from the keyboard (WAI-ARIA tabs): one tab stop, arrows / Home / End move
    # the selection and the focus together
    page.locator(tid("jaxinspect-tab-compiles")).click()
    focused = "() => document.activeElement?.getAttribute('data-testid')"
    for key, want in (("ArrowRight", "buffers"), ("ArrowLeft", "compiles"), ("End", "processes"),
                      ("ArrowRight", "overview"), ("Home", "overview"), ("ArrowLeft", "processes")):
        page.keyboard.press(key)
        assert page.evaluate(focused) == f"jaxinspect-tab-{want}", key
        tab = page.locator(tid(f"jaxinspect-tab-{want}"))
        assert tab.get_attribute("aria-selected") == "true" and tab.get_attribute("tabindex") == "0"
        panel_id = tab.get_attribute("aria-controls")
        assert page.locator(f"#{panel_id}").get_attribute("aria-labelledby") == tab.get_attribute("id")
    assert page.locator(f'{SIDEBAR} [role="tab"][tabindex="0"]').count() == 1

    # the header's "Open in main area": the same tabs beside the notebook; cards while it is
    # narrower than 600 px, full tables once the window gives it the room
    page.locator(tid("jaxinspect-open-main")).click()
    main = page.locator("#jaxinspect-main")
    main.locator('[data-view="main"]').wait_for(timeout=30_000)
    assert main.locator('[data-testid="jaxinspect-open-main"]').count() == 0
    main.locator('[data-testid="jaxinspect-tab-buffers"]').click()
    table = main.locator(".jp-JaxInspect-bufferGroups").first
    table.wait_for(timeout=30_000)
    width = main.bounding_box()["width"]
    if width < 600:
        assert main.locator('[data-layout="narrow"]').count() == 1, width
        assert table.evaluate("t => getComputedStyle(t).display") == "block"
        got = page.evaluate(CHECK, ["#jaxinspect-main", NAMES])
        assert not (got["outside"] or got["scrolls"] or got["broken"]), got
        page.set_viewport_size({"width": 2400, "height": 900})
    main.locator('[data-layout="wide"]').wait_for(timeout=30_000)
    assert main.bounding_box()["width"] >= 600
    assert table.evaluate("t => getComputedStyle(t).display") == "table"
    assert table.locator("thead").evaluate("h => getComputedStyle(h).display") != "none"
    if folder:
        for tab in READY:
            main.locator(f'[data-testid="jaxinspect-tab-{tab}"]').click()
            page.wait_for_timeout(500)
            main.screenshot(path=f"{folder}/{tab}-wide.png")
