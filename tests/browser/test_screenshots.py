"""The README's pictures, taken from the demo notebooks (notebooks/0*.ipynb) run top to bottom in a
real JupyterLab + Chromium, the sidebar at JupyterLab's default width (250 px), each in the light
and the dark theme: docs/img/<name>.png and docs/img/<name>-dark.png.

A picture maker, not a test: run by scripts/screenshots.sh, skipped unless JAXINSPECT_SCREENSHOTS
names the folder to write to. It still fails loudly when a demo does not show what its picture is
meant to show (so a broken demo never makes a blank picture)."""

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT
from tests.browser.test_layout import set_sidebar_width
from tests.browser.test_sidebar import (
    SIDEBAR,
    fresh_lab,
    open_from_browser,
    run_command,
    tid,
    wait_state,
)

OUT = os.environ.get("JAXINSPECT_SCREENSHOTS")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not OUT, reason="makes the README's pictures (scripts/screenshots.sh); set JAXINSPECT_SCREENSHOTS"),
]

NB = ".jp-NotebookPanel:not(.lm-mod-hidden)"
WIDTH = 250  # JupyterLab 4.6's default right sidebar width


def open_demo(page, lab, name, tab=None):
    """A fresh workspace with the sidebar shown at its default width and ``notebooks/name`` open
    (its kernel idle); ``tab`` selected before anything runs, so its samplers see the run."""
    shutil.copy(ROOT / "notebooks" / name, lab["root"] / name)
    fresh_lab(page, lab, Path(name).stem)
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    page.locator(SIDEBAR).wait_for(state="visible")
    set_sidebar_width(page, WIDTH)
    open_from_browser(page, name)
    if tab:
        page.locator(tid(f"jaxinspect-tab-{tab}")).click()


def cell(page, index):
    return page.locator(f"{NB} .jp-Notebook .jp-Cell").nth(index)


def start_cell(page, i):
    """Start cell ``i`` (its position among all cells, markdown included), as a reader would
    with Ctrl+Enter; returns its prompt."""
    c = cell(page, i)
    prompt = c.locator(".jp-InputPrompt").element_handle()
    for attempt in range(3):  # a keypress can be swallowed while JupyterLab settles focus
        c.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function("el => el.textContent.trim() !== '[ ]:'", arg=prompt, timeout=10_000)
            return prompt
        except Exception:
            if attempt == 2:
                raise
    return prompt


def wait_done(page, prompt, timeout=300_000):
    page.wait_for_function("el => /^\\[\\d+\\]/.test(el.textContent.trim())", arg=prompt, timeout=timeout)


def run_cells(page, indices, timeout=300_000):
    """Run the cells ``indices`` one after the other, each to its end."""
    for i in indices:
        wait_done(page, start_cell(page, i), timeout)
        if i == indices[0]:
            wait_state(page, "ready")  # %load_ext jaxinspect: the sidebar connects


def theme(page, name):
    run_command(page, f"Use Theme: JupyterLab {name}")
    page.wait_for_function(
        "light => document.body.dataset.jpThemeLight === light", arg="true" if name == "Light" else "false"
    )
    page.wait_for_timeout(800)


def save(page, target, name, clip_to_content=False, max_height=None):
    """``name``.png in the light theme and ``name``-dark.png in the dark one. ``clip_to_content``:
    the sidebar cut below its content (no empty panel); ``max_height``: an output taller than the
    window cut to its top ``max_height`` px (the rest of the page never shows in the picture)."""
    page.mouse.move(5, 5)  # no hover state or tooltip in the picture
    if max_height:
        target.evaluate("el => el.scrollIntoView({block: 'start'})")
    for variant in ("Light", "Dark"):
        if variant == "Dark":
            theme(page, "Dark")
        path = str(Path(OUT) / (f"{name}.png" if variant == "Light" else f"{name}-dark.png"))
        box = target.bounding_box()
        height = box["height"]
        if clip_to_content:
            bottom = target.evaluate(
                "el => Math.max(...[...el.querySelector('.jp-JaxInspect-root').children]"
                ".map(c => c.getBoundingClientRect().bottom)) - el.getBoundingClientRect().top"
            )
            height = min(height, bottom + 6)
        if max_height:
            height = min(height, max_height)
        if height < box["height"]:
            page.screenshot(path=path, clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": height})
        else:
            target.screenshot(path=path)
    theme(page, "Light")


def sidebar_text(page):
    return page.locator(SIDEBAR).inner_text()


@pytest.fixture(autouse=True)
def _folder():
    Path(OUT).mkdir(parents=True, exist_ok=True)


def test_compiles_and_jit_profile_from_notebook_01(page, lab):
    open_demo(page, lab, "01_recompilation.ipynb", tab="compiles")
    run_cells(page, [1, 3, 5, 7, 9, 10, 12])
    profile = cell(page, 3).locator(".jp-OutputArea-output", has_text="changed shape").first
    profile.wait_for(timeout=60_000)
    save(page, profile, "jit-profile")

    # the newest recompile (encode, called with one more token each time) opened: its reason and
    # the jaxpr diff behind it; and the top of the tab: the storm alert and the functions
    page.locator(tid("jaxinspect-compile-alert")).first.wait_for(timeout=60_000)
    event = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="encode"]', has_text="changed shape"
    ).first
    event.locator(".jp-JaxInspect-compileName").click()  # (its call site is a link to the cell)
    page.locator(tid("jaxinspect-compile-diff-button")).click()
    diff = page.locator(tid("jaxinspect-compile-diff"))
    diff.wait_for(timeout=60_000)
    assert diff.get_attribute("data-status") == "done", diff.inner_text()
    # the list of compiles at the top of the picture, the opened recompile in it
    page.locator(SIDEBAR).evaluate(
        """panel => {
          const list = panel.querySelector('.jp-JaxInspect-compileEvents').closest('section');
          panel.scrollTop += list.getBoundingClientRect().top - panel.getBoundingClientRect().top;
        }"""
    )
    event.evaluate("el => el.scrollIntoView({block: 'nearest'})")
    save(page, page.locator(SIDEBAR), "sidebar-compiles")
    page.locator(SIDEBAR).evaluate("panel => { panel.scrollTop = 0; }")
    save(page, page.locator(SIDEBAR), "sidebar-compiles-alerts")


def test_jaxpr_from_notebook_02(page, lab):
    open_demo(page, lab, "02_reading_jaxprs.ipynb")
    run_cells(page, [1, 3])
    out = cell(page, 3).locator(".jp-OutputArea-output", has_text="jaxpr of").first
    out.wait_for(timeout=60_000)
    save(page, out, "jaxpr", max_height=620)


def test_buffers_from_notebook_03(page, lab):
    open_demo(page, lab, "03_memory.ipynb", tab="buffers")
    run_cells(page, [1, 3])
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-buffers-owner"][data-owner="losses"]').wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # a few snapshots for the curve
    save(page, page.locator(SIDEBAR), "sidebar-buffers", clip_to_content=True)


def test_keys_from_notebook_04(page, lab):
    open_demo(page, lab, "04_prng_keys.ipynb", tab="keys")
    run_cells(page, [1, 3, 5, 7, 9])
    page.locator(tid("jaxinspect-keys-reuse")).first.wait_for(timeout=60_000)
    assert "consumed twice" in sidebar_text(page) or "reuse" in sidebar_text(page)
    page.wait_for_timeout(1000)
    save(page, page.locator(SIDEBAR), "sidebar-keys", clip_to_content=True)


def test_params_and_monitor_from_notebook_05(page, lab):
    page.set_viewport_size({"width": 1700, "height": 900})  # the monitor's rows at their width
    open_demo(page, lab, "05_training_nnx.ipynb", tab="params")
    # the monitor while the training cell runs, then, trained: the norms, update ratios and
    # modules the Params tab sampled
    run_cells(page, [1, 2, 4], timeout=600_000)
    training = start_cell(page, 5)
    monitor = cell(page, 4).locator('[data-testid="jaxinspect-monitor"]').first
    monitor.wait_for(timeout=60_000)
    # far enough for curves: the loss past step 150, the watched parameters sampled a few times
    page.wait_for_function(
        """el => {
          const loss = Number(el.querySelector('[data-testid="jaxinspect-monitor-scalar-step"]')?.textContent);
          const param = el.querySelector('[data-testid="jaxinspect-monitor-param"]')?.textContent || '';
          const m = /step (\\d+)/.exec(param);
          return loss >= 120 && m && Number(m[1]) >= 60;
        }""",
        arg=monitor.element_handle(),
        timeout=300_000,
    )
    monitor.scroll_into_view_if_needed()
    page.wait_for_timeout(1200)  # the charts redraw at most about once a second
    # a healthy run: no alert in the picture (a false one is a bug to fix, not to show)
    alerts = monitor.locator('[data-testid="jaxinspect-monitor-alert"]')
    assert alerts.count() == 0, alerts.all_inner_texts()
    save(page, monitor, "monitor")
    wait_done(page, training, 600_000)
    watch = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-params-watch"][data-name="params"]')
    watch.wait_for(timeout=60_000)
    watch.locator('[data-testid="jaxinspect-params-update-sparkline"]').wait_for(timeout=60_000)
    assert page.locator(tid("jaxinspect-params-alert")).count() == 0
    save(page, page.locator(SIDEBAR), "sidebar-params", clip_to_content=True)

    # then a NaN written into the head's kernel: the alert names the step and the leaf
    run_cells(page, [7, 9], timeout=600_000)
    alert = page.locator(tid("jaxinspect-params-alert")).first
    alert.wait_for(timeout=60_000)
    assert "NaN" in alert.inner_text()
    page.locator(SIDEBAR).evaluate("panel => { panel.scrollTop = 0; }")
    save(page, page.locator(SIDEBAR), "sidebar-params-nan", clip_to_content=True)
