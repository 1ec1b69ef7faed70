"""End to end in JupyterLab: Settings → jaxinspect reaches the kernels (the one connected now, and
one started after the change), the palette commands show each tab, and "Open jaxinspect in main
area" opens a second, wide view beside the notebook that follows it."""

import json

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

MAIN = "#jaxinspect-main"
# waits (inside the kernel, at most 20 s) until the sidebar's settings arrived, then prints them
SHOW_CONFIG = (
    "import time, jaxinspect\n"
    "from jaxinspect.collect import keyslib\n"
    "want = {want!r}\n"
    "for _ in range(200):\n"
    "    now = (jaxinspect.config.storm_threshold, jaxinspect.config.print_alerts,\n"
    "           keyslib.tracker().tracking)\n"
    "    if now == want:\n"
    "        break\n"
    "    time.sleep(0.1)\n"
    "print('config:', *now)"
)
WANT = {"stormThreshold": 8, "alerts": "sidebar-only", "trackKeysOnLoad": True, "buffersInterval": 2}
TABS = ["Overview", "Compiles", "Buffers", "Params", "Keys", "Processes"]


def _notebook(lab, name, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, lab["root"] / name)


def _output(cell, prefix):
    cell.locator(".jp-OutputArea-output", has_text=prefix).wait_for(timeout=40_000)
    return cell.locator(".jp-OutputArea-output", has_text=prefix).first.inner_text().strip()


def _saved_settings(lab):
    path = lab["root"] / ".settings" / "jaxinspect" / "plugin.jupyterlab-settings"
    if not path.exists():
        return {}
    text = "\n".join(ln for ln in path.read_text().splitlines() if not ln.strip().startswith("//"))
    return json.loads(text or "{}")


@pytest.fixture(autouse=True)
def _default_settings_after(lab):
    """The JupyterLab server is shared by every browser test: put the user's jaxinspect
    settings back to none when a test here ends (key tracking on load, left on, kept the next
    tests' Keys tab from ever offering 'track')."""
    yield
    path = lab["root"] / ".settings" / "jaxinspect" / "plugin.jupyterlab-settings"
    path.unlink(missing_ok=True)


def test_a_setting_changed_in_the_settings_editor_reaches_the_kernels(page, lab):
    _notebook(lab, "settings1.ipynb", ["%load_ext jaxinspect", SHOW_CONFIG.format(want=(5, True, False)),
                                       SHOW_CONFIG.format(want=(8, False, True))])
    _notebook(lab, "settings2.ipynb", ["%load_ext jaxinspect", SHOW_CONFIG.format(want=(8, False, True))])
    fresh_lab(page, lab, "settings")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    open_from_browser(page, "settings1.ipynb")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")
    cell = run_cell(page, 1, wait_done=True)
    assert _output(cell, "config:") == "config: 5 True False"  # the kernel's defaults

    # Settings → Settings Editor → jaxinspect: the form JupyterLab draws from plugin.json
    run_command(page, "Settings Editor")
    page.locator(".jp-PluginList-entry", has_text="jaxinspect").first.click()
    form = page.locator(".jp-SettingsPanel, .jp-SettingsEditor").first
    form.get_by_text("Recompile storm threshold", exact=True).wait_for(timeout=20_000)
    storm = form.locator('input[id$="_stormThreshold"]')
    storm.wait_for(timeout=20_000)
    storm.fill("8")
    storm.press("Tab")
    form.locator('select[id$="_alerts"]').select_option(label="in the sidebar only")
    form.locator('input[type="checkbox"][id$="_trackKeysOnLoad"]').check()
    interval = form.locator('input[id$="_buffersInterval"]')
    interval.fill("2")
    interval.press("Tab")
    # saved by the editor (not by this test) ...
    for _ in range(100):
        saved = _saved_settings(lab)
        if WANT.items() <= saved.items():
            break
        page.wait_for_timeout(200)
    assert WANT.items() <= saved.items(), saved

    # ... and applied live to the kernel connected now
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="settings1.ipynb").click()
    cell = run_cell(page, 2, wait_done=True)
    assert _output(cell, "config:") == "config: 8 False True"

    # key tracking turned on in the kernel connected now: the Keys tab says so
    run_command(page, "jaxinspect: Show Keys")
    page.locator(f'{tid("jaxinspect-keys-summary")}[data-tracking="on"]').wait_for(timeout=20_000)

    # the Buffers tab samples at the configured interval (its menu shows it; the kernel says it)
    run_command(page, "jaxinspect: Show Buffers")
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && el.value === '2'; }",
        arg=tid("jaxinspect-buffers-interval"), timeout=20_000,
    )
    page.wait_for_function(  # 2 s, or more where a costly snapshot stretched it; never the 1 s default
        "(sel) => { const m = /every ([0-9.]+) s/.exec(document.querySelector(sel).textContent);"
        " return m && Number(m[1]) >= 2; }",
        arg=SIDEBAR, timeout=30_000,
    )

    # a kernel started after the change gets the settings when its jaxinspect says hello
    open_from_browser(page, "settings2.ipynb")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")
    cell = run_cell(page, 1, wait_done=True)
    assert _output(cell, "config:") == "config: 8 False True"


def test_palette_commands_select_each_tab_and_open_in_main_area_sits_beside_the_notebook(page, lab):
    _notebook(lab, "mainarea.ipynb", ["%load_ext jaxinspect"])
    _notebook(lab, "mainarea2.ipynb", ["x = 1"])
    fresh_lab(page, lab, "mainarea")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    open_from_browser(page, "mainarea.ipynb")
    run_cell(page, 0, wait_done=True)

    # each tab's palette entry shows the sidebar with that tab selected
    for label in reversed(TABS):
        run_command(page, f"jaxinspect: Show {label}")
        tab = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-tab-{label.lower()}"]')
        tab.wait_for(state="visible")
        page.wait_for_function(
            "(el) => el.getAttribute('aria-selected') === 'true'", arg=tab.element_handle(),
            timeout=10_000,
        )
        selected = page.locator(f'{SIDEBAR} [role="tab"][aria-selected="true"]')
        assert selected.count() == 1
    wait_state(page, "ready")

    # "Open jaxinspect in main area": a second, wide view in the main area, right of the notebook
    run_command(page, "Open jaxinspect in main area")
    main = page.locator(MAIN)
    main.wait_for(state="visible")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    nb_box, main_box = notebook.bounding_box(), main.bounding_box()
    assert main_box["x"] >= nb_box["x"] + nb_box["width"] - 2, (nb_box, main_box)  # split right
    assert abs(main_box["y"] - nb_box["y"]) < 60 and main_box["width"] > 300
    assert notebook.is_visible()  # both shown at once
    assert main.get_attribute("class") and "jp-JaxInspect-panelWide" in main.get_attribute("class")
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && el.textContent.trim() === 'ready'; }",
        arg=f'{MAIN} [data-testid="jaxinspect-state"]', timeout=30_000,
    )
    assert "mainarea.ipynb" in main.inner_text()
    # the wide view has no "open in main area" button; the sidebar's opens the same one view
    assert page.locator(f'{MAIN} [data-testid="jaxinspect-open-main"]').count() == 0
    run_command(page, "Open jaxinspect in main area")
    assert page.locator(MAIN).count() == 1
    run_command(page, "Show jaxinspect")
    page.locator(tid("jaxinspect-open-main")).click()
    assert page.locator(MAIN).count() == 1

    # it follows the current notebook like the sidebar (the notebook's toolbar is narrow now:
    # its kernel indicator sits in the overflow menu, so wait for the tab, not the indicator)
    page.locator(".jp-DirListing-itemName", has_text="mainarea2.ipynb").first.dblclick()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text="mainarea2.ipynb").wait_for()
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && el.textContent.includes('mainarea2.ipynb'); }",
        arg=MAIN, timeout=30_000,
    )
    # closable; opening again gives one view again
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="jaxinspect").locator(
        ".lm-TabBar-tabCloseIcon").click()
    page.locator(MAIN).wait_for(state="detached")
    page.locator(tid("jaxinspect-open-main")).click()  # the sidebar's button opens it again
    page.locator(MAIN).wait_for(state="visible")
    assert page.locator(MAIN).count() == 1

    # a reloaded page brings the view back (the layout restorer), following the notebook again
    page.wait_for_timeout(2000)  # JupyterLab saves its workspace layout shortly after a change
    page.reload()
    page.locator(MAIN).wait_for(state="visible", timeout=60_000)
    assert page.locator(MAIN).count() == 1
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && /mainarea2?\\.ipynb/.test(el.textContent); }",
        arg=MAIN, timeout=60_000,
    )
