"""End to end: JupyterLab + Debian Chromium. The sidebar follows the notebook's kernel, loads
jaxinspect on request, shows versions and devices, updates while a cell runs, and recovers after a
kernel restart."""

import time

import jax
import pytest

pytestmark = pytest.mark.browser

SIDEBAR = "#jaxinspect-sidebar"


def tid(name):
    return f'{SIDEBAR} [data-testid="{name}"]'


def text(page, name):
    return page.locator(tid(name)).first.inner_text().strip()


def wait_state(page, state, timeout=60_000):
    page.wait_for_function(
        "([sel, want]) => { const el = document.querySelector(sel); return el && el.textContent.trim() === want; }",
        arg=[tid("jaxinspect-state"), state],
        timeout=timeout,
    )


def run_cell(page, index, wait_done=False):
    """Run cell ``index`` of the visible notebook, retrying if the keypress was swallowed
    (e.g. while JupyterLab was still settling focus on a freshly opened notebook) or the
    request was lost on a just-started kernel (the prompt falls back to ``[ ]``).
    ``wait_done``: also wait until the cell finished (its prompt shows a number)."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text().strip()
    for _attempt in range(3):
        click_through_kernel_dialog(page, cell.locator(".jp-InputArea-editor"))
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "([el, before]) => el.textContent.trim() !== before",
                arg=[prompt.element_handle(), before],
                timeout=10_000,
            )
            if wait_done:
                page.wait_for_function(
                    "(el) => /^\\[\\d+\\]/.test(el.textContent.trim())",
                    arg=prompt.element_handle(),
                    timeout=30_000,
                )
            return cell
        except Exception:
            continue
    raise AssertionError(f"cell {index} did not {'finish' if wait_done else 'start running'}")


def run_command(page, label, focus_notebook=False):
    """Run a command from the palette. JupyterLab may still be restoring its layout and steal
    focus (closing the palette): try again a few times. ``focus_notebook``: click the notebook
    (command mode) before the shortcut, as Notebook 7's page needs."""
    palette = page.locator(".jp-CommandPalette input, #command-palette input").first
    for attempt in range(4):
        try:
            if not palette.is_visible():
                if focus_notebook:
                    page.locator(".jp-Notebook").first.click()
                    page.keyboard.press("Escape")
                page.keyboard.press("Control+Shift+C")
            palette.wait_for(state="visible", timeout=10_000)
            palette.fill(label, timeout=5_000)
            page.locator(".lm-CommandPalette-item", has_text=label).first.click(timeout=5_000)
            return
        except Exception:
            if attempt == 3:
                raise
            page.wait_for_timeout(1000)


def open_notebook(page, lab):
    page.goto(f"{lab['base']}/lab/tree/demo.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # the kernel is up when the toolbar's kernel status says idle
    page.wait_for_selector(
        ".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
    )


def test_sidebar_live_status_and_restart(page, lab):
    open_notebook(page, lab)
    run_command(page, "Show jaxinspect")
    page.locator(SIDEBAR).wait_for(state="visible")

    # not loaded yet: a clear hint and a button that loads it
    wait_state(page, "not-loaded")
    assert "%load_ext jaxinspect" in page.locator(SIDEBAR).inner_text()
    page.locator(tid("jaxinspect-load-button")).click()
    wait_state(page, "ready")
    versions = text(page, "jaxinspect-versions")
    assert f"jax {jax.__version__}" in versions and "jaxlib" in versions

    # the first computation starts the backend; the device list appears without a refresh
    run_cell(page, 1)
    page.locator(tid("jaxinspect-device")).first.wait_for(timeout=30_000)
    devices = text(page, "jaxinspect-devices")
    assert "cpu" in devices.lower()
    wait_busy = lambda want: page.wait_for_function(  # noqa: E731
        "([sel, want]) => { const el = document.querySelector(sel); return el && el.textContent.trim() === want; }",
        arg=[tid("jaxinspect-busy"), want],
        timeout=30_000,
    )
    wait_busy("idle")

    # a 5 s cell: the panel updates while it is still running
    slow = run_cell(page, 2)
    wait_busy("busy")
    seen = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        seen.append((int(text(page, "jaxinspect-status-seq")), text(page, "jaxinspect-busy")))
        time.sleep(0.25)
    still_running = "slow cell done" not in slow.locator(".jp-OutputArea").inner_text()
    assert still_running, "the cell finished before the observations ended; the test proves nothing"
    seqs = sorted({s for s, _ in seen})
    assert len(seqs) >= 3, seen  # several heartbeats arrived during the cell
    assert all(b == "busy" for _, b in seen), seen
    slow.locator(".jp-OutputArea-output", has_text="slow cell done").wait_for(timeout=30_000)
    wait_busy("idle")
    before_restart = int(text(page, "jaxinspect-status-seq"))
    assert before_restart >= seqs[-1]

    # restart the kernel: the panel notices, shows the new kernel is not loaded, then recovers
    run_command(page, "Restart Kernel")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    wait_state(page, "not-loaded")
    run_cell(page, 0, wait_done=True)  # %load_ext jaxinspect in the new kernel: its announce reconnects the panel
    wait_state(page, "ready")
    wait_busy("idle")
    assert f"jax {jax.__version__}" in text(page, "jaxinspect-versions")


IDLE = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']"
SELECT_KERNEL = ".jp-Dialog:has-text('Select Kernel') .jp-mod-accept"


def open_from_browser(page, name):
    page.locator(".jp-DirListing-itemName", has_text=name).first.dblclick()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text=name).wait_for()
    page.wait_for_selector(f"{IDLE}, {SELECT_KERNEL}", timeout=90_000)
    page.wait_for_timeout(500)  # the dialog may also come later: run_cell clicks through it
    take_preselected_kernel(page)
    page.wait_for_selector(IDLE, timeout=90_000)


def click_through_kernel_dialog(page, target, tries=20):
    """Click ``target``; a 'Select Kernel' dialog that comes over it meanwhile is answered
    with the preselected kernel and the click retried."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        take_preselected_kernel(page)
        try:
            target.click(timeout=3_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def take_preselected_kernel(page):
    """A busy server: JupyterLab asks which kernel (as a user would see): take the notebook's
    own kernel, preselected. A no-op without the dialog."""
    if page.locator(SELECT_KERNEL).count():
        page.locator(SELECT_KERNEL).first.click()


def header(page):
    return page.locator(f"{SIDEBAR}").inner_text()


def fresh_lab(page, lab, workspace):
    """JupyterLab with an empty workspace (no notebooks restored from an earlier test)."""
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}?reset")


def open_with_sidebar(page, lab, name):
    """A fresh workspace, the sidebar shown, ``name.ipynb`` open with its first cell
    (``%load_ext jaxinspect``) run and the sidebar connected."""
    fresh_lab(page, lab, name)
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    open_from_browser(page, f"{name}.ipynb")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")


def test_sidebar_follows_the_active_notebook_kernel_changes_and_version_mismatch(page, lab):
    fresh_lab(page, lab, "follow")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    page.locator(SIDEBAR).wait_for(state="visible")
    wait_state(page, "no-notebook")

    open_from_browser(page, "first.ipynb")
    wait_state(page, "not-loaded")
    run_cell(page, 0, wait_done=True)  # %load_ext jaxinspect
    wait_state(page, "ready")
    assert "first.ipynb" in header(page)

    # another notebook, another kernel: the panel follows it, and its jaxinspect is too new
    open_from_browser(page, "future.ipynb")
    wait_state(page, "not-loaded")
    assert "future.ipynb" in header(page)
    run_cell(page, 0)
    run_cell(page, 1)
    wait_state(page, "version-mismatch")
    message = text(page, "jaxinspect-message")
    assert "99" in message and "1" in message, message

    # back to the first notebook: its kernel is still connected
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="first.ipynb").click()
    wait_state(page, "ready")

    # change the kernel of the first notebook: a new kernel without jaxinspect
    run_command(page, "Change Kernel")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("select").select_option(label="Python 3 (ipykernel)")
    dialog.locator(".jp-mod-accept").click()
    wait_state(page, "not-loaded")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")


def test_compiles_tab_shows_an_event_and_its_reason_while_the_cell_runs(page, lab):
    open_with_sidebar(page, lab, "compiles")
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-tab-compiles"]').click()

    cell = run_cell(page, 1)
    recompile = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="ragged_step"]',
        has_text="changed shape (3,) → (4,)",
    )
    recompile.wait_for(timeout=30_000)
    # seen while the cell is still sleeping: the tab is live, not refreshed after the fact
    assert "compile cell done" not in cell.locator(".jp-OutputArea").inner_text()
    first = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="ragged_step"]',
        has_text="first call",
    )
    assert first.count() == 1
    function_row = page.locator(
        f'{SIDEBAR} [data-testid="jaxinspect-compile-function"][data-fun-name="ragged_step"]'
    )
    assert "2" in function_row.inner_text()
    # JAX-internal eager compiles (jnp.ones) are hidden by default
    assert (
        page.locator(
            f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="broadcast_in_dim"]'
        ).count()
        == 0
    )
    # open it by its name: its call site is a link that scrolls the notebook (test_reveal.py)
    recompile.locator(".jp-JaxInspect-compileName").click()
    details = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-details"]')
    details.wait_for()
    text = details.inner_text()
    assert "shape" in text and "(3,)" in text and "(4,)" in text
    # the jaxpr diff behind the recompile, re-traced by the kernel while the cell still runs
    details.locator('[data-testid="jaxinspect-compile-diff-button"]').click()
    diff = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-diff"]')
    diff.wait_for(timeout=20_000)
    diff_text = diff.inner_text()
    assert diff.get_attribute("data-status") == "done", diff_text
    assert "~ in x: f32[3] → f32[4]" in diff_text and "ragged_step (before)" in diff_text
    assert "compile cell done" not in cell.locator(".jp-OutputArea").inner_text()
    cell.locator(".jp-OutputArea-output", has_text="compile cell done").wait_for(timeout=30_000)


def test_buffers_tab_shows_growth_while_the_cell_runs(page, lab):
    open_with_sidebar(page, lab, "buffers")
    page.locator(tid("jaxinspect-tab-buffers")).click()

    cell = run_cell(page, 1)
    owner = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-buffers-owner"][data-owner="losses"]')
    owner.wait_for(timeout=30_000)
    first_seq = int(text(page, "jaxinspect-buffers-seq"))
    alert = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-buffers-alert"][data-name="losses"]')
    alert.wait_for(timeout=30_000)
    alert_text = alert.inner_text()
    assert "f32[]" in alert_text and "float(" in alert_text
    # live: the snapshot number keeps moving and `losses` keeps growing while the cell sleeps
    page.wait_for_function(
        "([sel, n]) => { const el = document.querySelector(sel); return el && Number(el.textContent.trim()) > n + 1; }",
        arg=[tid("jaxinspect-buffers-seq"), first_seq],
        timeout=20_000,
    )
    assert "buffers cell done" not in cell.locator(".jp-OutputArea").inner_text()
    device = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-buffers-device"][data-device="cpu:0"]')
    assert "KiB" in device.inner_text() or "MiB" in device.inner_text()
    assert page.locator(tid("jaxinspect-buffers-sparkline")).count() == 1
    cell.locator(".jp-OutputArea-output", has_text="buffers cell done").wait_for(timeout=30_000)


def test_params_tab_updates_during_training_and_names_the_nan(page, lab):
    open_with_sidebar(page, lab, "params")
    page.locator(tid("jaxinspect-tab-params")).click()

    cell = run_cell(page, 1)
    section = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-params-watch"][data-name="params"]')
    section.wait_for(timeout=30_000)
    step_el = section.locator('[data-testid="jaxinspect-params-step"]')
    first = int(step_el.inner_text().strip())
    page.wait_for_function(
        "([el, n]) => Number(el.textContent.trim()) > n",
        arg=[step_el.element_handle(), first],
        timeout=20_000,
    )
    for path in ("['l1']", "['l2']"):
        assert section.locator(f'[data-testid="jaxinspect-params-layer"][data-path="{path}"]').count() == 1
    alert = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-params-alert"][data-path="[\'l2\'][\'w\']"]')
    alert.wait_for(timeout=30_000)
    message = alert.inner_text()
    # every watch() call is checked: the exact step, the last finite one, the one leaf
    assert "first NaN at step 25, last finite step 24" in message, message
    assert "1 of 2 leaves" in message and "['l2']['w']" in message, message
    # the alert comes from the exact check at once; the sampled layer rows follow at the next sample
    bad = section.locator('[data-testid="jaxinspect-params-layer"][data-path="[\'l2\']"][data-nonfinite="true"]')
    bad.wait_for(timeout=30_000)
    assert "params cell done" not in cell.locator(".jp-OutputArea").inner_text()
    cell.locator(".jp-OutputArea-output", has_text="params cell done").wait_for(timeout=30_000)


def test_keys_tab_turns_tracking_on_and_shows_the_reuse_while_the_cell_runs(page, lab):
    open_with_sidebar(page, lab, "keys")
    page.locator(tid("jaxinspect-tab-keys")).click()
    page.locator(tid("jaxinspect-keys-off")).wait_for(timeout=30_000)
    page.locator(tid("jaxinspect-keys-track-button")).click()  # the track_keys RPC
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-keys-summary"][data-tracking="on"]').wait_for(timeout=30_000)

    cell = run_cell(page, 1)
    reuse = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-keys-reuse"][data-reuse="consumed twice"]')
    reuse.wait_for(timeout=60_000)
    assert reuse.get_attribute("data-where") == "eager"
    first = reuse.locator('[data-testid="jaxinspect-keys-reuse-first"]').inner_text()
    second = reuse.locator('[data-testid="jaxinspect-keys-reuse-second"]').inner_text()
    assert first.startswith("normal @ cell [") and first.endswith(" line 5")
    assert second.startswith("uniform @ cell [") and second.endswith(" line 7")
    assert "key(0)" in reuse.locator('[data-testid="jaxinspect-keys-reuse-path"]').inner_text()
    # the lineage keeps growing while the cell still runs
    consumed = page.locator(tid("jaxinspect-keys-consumed"))
    before = int(consumed.inner_text().replace(",", ""))
    page.wait_for_function(
        "([el, n]) => Number(el.textContent.replace(/,/g, '')) > n",
        arg=[consumed.element_handle(), before],
        timeout=20_000,
    )
    assert "keys cell done" not in cell.locator(".jp-OutputArea").inner_text()
    reused = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-keys-node"][data-state="reused"]')
    assert reused.count() == 1 and reused.get_attribute("data-op") == "split"
    assert page.locator(tid("jaxinspect-keys-node")).count() > 10
    cell.locator(".jp-OutputArea-output", has_text="keys cell done").wait_for(timeout=60_000)
    assert "KeyReuseWarning" in cell.locator(".jp-OutputArea").inner_text()
    page.locator(tid("jaxinspect-keys-stop-button")).click()
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-keys-summary"][data-tracking="off"]').wait_for(timeout=30_000)


def test_monitor_widget_updates_in_its_cell_while_the_next_cell_runs(page, lab):
    fresh_lab(page, lab, "monitor")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    open_from_browser(page, "monitor.ipynb")
    run_cell(page, 0, wait_done=True)
    run_cell(page, 1, wait_done=True)
    nb = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    monitor = page.locator(f'{nb} [data-testid="jaxinspect-monitor"]')
    monitor.wait_for(timeout=60_000)
    cell = run_cell(page, 2)
    loss = monitor.locator('[data-testid="jaxinspect-monitor-scalar"][data-name="loss"]')
    loss.wait_for(timeout=60_000)
    step_el = loss.locator('[data-testid="jaxinspect-monitor-scalar-step"]')
    step_sel = (  # the widget redraws its DOM: look the element up again each time
        '.jp-NotebookPanel:not(.lm-mod-hidden) [data-testid="jaxinspect-monitor-scalar"][data-name="loss"] '
        '[data-testid="jaxinspect-monitor-scalar-step"]'
    )
    first = int(step_el.inner_text())
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel)?.textContent) > n + 2", arg=[step_sel, first], timeout=20_000
    )
    assert "monitor cell done" not in cell.locator(".jp-OutputArea").inner_text()
    monitor.locator('[data-testid="jaxinspect-monitor-param"][data-name="w"]').wait_for(timeout=30_000)
    assert int(loss.locator('[data-testid="jaxinspect-monitor-scalar-sparkline"]').get_attribute("data-points")) > 2
    # the widget draws the curves itself (SVG, no plotly); its text/HTML snapshot output, there for
    # front ends without widgets, stays hidden while the widget is shown
    monitor.locator('[data-testid="jaxinspect-monitor-curve"][data-name="loss"] path.jm-line').wait_for(timeout=30_000)
    assert page.locator(f"{nb} .js-plotly-plot").count() == 0
    snapshot = page.locator(f"{nb} .jaxinspect-monitor-snapshot")
    assert snapshot.count() == 1 and not snapshot.is_visible()
    # a hostile scalar name is text, never markup
    odd = monitor.locator('[data-testid="jaxinspect-monitor-scalar"][data-name="<img src=x onerror=alert(1)>"]')
    assert odd.count() == 1 and monitor.locator("img").count() == 0
    cell.locator(".jp-OutputArea-output", has_text="monitor cell done").wait_for(timeout=60_000)
    page.wait_for_function("sel => document.querySelector(sel)?.textContent === '39'", arg=step_sel, timeout=20_000)
    assert loss.locator('[data-testid="jaxinspect-monitor-scalar-value"]').inner_text() == "0.02500"


def test_jaxpr_and_jit_profile_outputs_render_in_lab(page, lab):
    fresh_lab(page, lab, "outputs")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    open_from_browser(page, "outputs.ipynb")
    for i in range(4):
        run_cell(page, i, wait_done=True)
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    jaxpr = nb.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output")
    jaxpr.locator(".jaxinspect-view").first.wait_for(timeout=60_000)
    text = jaxpr.inner_text()
    assert "jaxpr of step(w, x)" in text and "dot_general" in text
    assert "transpose(jvp) (backward pass)" in text  # the gradient's equations, grouped
    assert jaxpr.locator("details").count() > 0 and jaxpr.locator("script").count() >= 1
    profile = nb.locator(".jp-Cell").nth(3).locator(".jp-OutputArea-output").first
    profile.locator(".jaxinspect-view").first.wait_for(timeout=60_000)
    ptext = profile.inner_text()
    assert "jit_profile: 1 compile of 1 function" in ptext and "changed shape (32, 64) → (7, 64)" in ptext


def test_hostile_names_are_inert_in_every_tab_and_processes_show_side_by_side(page, lab):
    """Function, variable, param and host names carrying markup are shown as text in every tab
    (nothing executes, no element is created), and a two-process jax.distributed job started
    from the notebook appears in the Processes tab, one column per process, with the function
    the processes compiled a different number of times marked."""
    page.add_init_script("window.alert = () => { window.__jaxinspect_xss = 'alert'; };")
    open_with_sidebar(page, lab, "hostile")
    run_cell(page, 1, wait_done=True)
    workers = run_cell(page, 2)

    page.locator(tid("jaxinspect-tab-processes")).click()
    cols = page.locator(f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"]')
    page.wait_for_function(
        "sel => document.querySelectorAll(sel).length === 2",
        arg=f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"]',
        timeout=90_000,
    )
    assert sorted(cols.nth(i).get_attribute("data-process-index") for i in range(2)) == ["0", "1"]
    differs = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-processes-function"][data-differs="true"]')
    differs.first.wait_for(timeout=60_000)
    assert differs.first.get_attribute("data-fun-name").endswith("local_step")
    assert "≠ differs across processes" in differs.first.inner_text()
    assert '<img src=x onerror="window.__jaxinspect_xss=2">' in text(page, "jaxinspect-processes-table")
    workers.locator(".jp-OutputArea-output", has_text="workers done [0, 0]").wait_for(timeout=120_000)
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(el => el.dataset.state === 'done')",
        arg=f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"]',
        timeout=30_000,
    )

    marker = '<img src=x onerror="window.__jaxinspect_xss='
    seen = {}
    for tab in ("overview", "compiles", "buffers", "params", "keys", "processes"):
        page.locator(tid(f"jaxinspect-tab-{tab}")).click()
        if tab == "overview":
            page.wait_for_timeout(1500)  # samplers the tab asked for deliver
        else:  # the name must show up (as text) once the samplers the tab asked for deliver
            try:
                page.wait_for_function(
                    "([sel, marker]) => document.querySelector(sel).innerText.includes(marker)",
                    arg=[SIDEBAR, marker],
                    timeout=30_000,
                )
            except Exception:
                pass  # reported below, with every tab's result
        body = page.locator(SIDEBAR).inner_text()
        seen[tab] = marker in body
        assert page.locator(f"{SIDEBAR} img").count() == 0, tab
    assert page.evaluate("window.__jaxinspect_xss") is None
    # the names are there, as text, where the user would look for them
    assert all(seen[t] for t in ("compiles", "buffers", "params", "keys", "processes")), seen


def test_a_reloaded_page_leaves_no_sidebar_connection_behind(page, lab):
    """Reloading the page never disposes JupyterLab's widgets, so each reload would leave a push
    comm the kernel keeps sending batches to (seen: 4 after 3 reloads). The page closes its
    comms on pagehide (best effort: a close can be lost while the page is torn down), and the
    kernel drops a sidebar that stopped pinging once it has been silent for
    ``config.sidebar_silence_s`` idle seconds (25 s here). Live sidebars ping at the pace each
    ping's answer asks for, a quarter of the limit: with a fixed 20 s ping one late ping under
    a loaded CI machine dropped the live sidebar."""
    open_with_sidebar(page, lab, "reload")
    for _ in range(3):
        page.reload()
        page.locator(SIDEBAR).wait_for(state="visible", timeout=60_000)
        wait_state(page, "ready")
    seen = []
    deadline = time.monotonic() + 75
    while time.monotonic() < deadline:
        nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        nb.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
        cell = run_cell(page, 1, wait_done=True)
        out = cell.locator(".jp-OutputArea-output", has_text="sidebars:")
        out.wait_for(timeout=30_000)
        seen.append(out.inner_text().strip())
        if seen[-1] == "sidebars: 1":
            break
        page.wait_for_timeout(5000)
    assert seen[-1] == "sidebars: 1", seen
    # the live sidebar was not dropped: it still gets batches
    wait_state(page, "ready")
    page.wait_for_timeout(30_000)  # longer than the silence limit: pings keep it
    wait_state(page, "ready")
    cell = run_cell(page, 1, wait_done=True)
    assert cell.locator(".jp-OutputArea-output", has_text="sidebars:").inner_text().strip() == "sidebars: 1"


def test_a_kernel_restarted_mid_training_leaves_nothing_stale(page, lab):
    """Restart the kernel while a training loop (with a monitor, a watch and recompiles) runs:
    the sidebar says the new kernel has no jaxinspect, shows nothing of the old one, and after
    %load_ext follows the new kernel, whose loop gives the right result. No page errors."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_with_sidebar(page, lab, "restart")
    page.locator(tid("jaxinspect-tab-compiles")).click()
    training = run_cell(page, 1)
    old = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="old_step"]')
    page.wait_for_function(
        "sel => document.querySelectorAll(sel).length >= 3",
        arg=f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="old_step"]',
        timeout=60_000,
    )
    assert "old loop done" not in training.locator(".jp-OutputArea").inner_text()

    run_command(page, "Restart Kernel")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    wait_state(page, "not-loaded")
    assert "Not connected to jaxinspect in this kernel" in page.locator(SIDEBAR).inner_text()
    assert old.count() == 0
    page.locator(tid("jaxinspect-tab-overview")).click()
    assert "%load_ext jaxinspect" in page.locator(SIDEBAR).inner_text()
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    nb.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    run_cell(page, 0, wait_done=True)
    wait_state(page, "ready")
    page.locator(tid("jaxinspect-tab-compiles")).click()
    assert old.count() == 0  # nothing of the old kernel
    done = run_cell(page, 2, wait_done=True)
    done.locator(".jp-OutputArea-output", has_text="new loop").wait_for(timeout=60_000)
    assert done.locator(".jp-OutputArea").inner_text().strip().endswith("new loop 0.00390625")
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="new_step"]').wait_for(
        timeout=30_000
    )
    assert old.count() == 0
    assert "old loop done" not in training.locator(".jp-OutputArea").inner_text()
    assert errors == [], errors


def test_a_kernel_without_jaxinspect_gets_an_install_hint(page, lab):
    fresh_lab(page, lab, "noinstall")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    open_from_browser(page, "noinstall.ipynb")
    run_cell(page, 0, wait_done=True)
    wait_state(page, "not-loaded")
    page.locator(tid("jaxinspect-load-button")).click()
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.textContent || '').includes('pip install jaxinspect')",
        arg=tid("jaxinspect-message"),
        timeout=30_000,
    )
    message = text(page, "jaxinspect-message")
    assert "%load_ext jaxinspect failed: ModuleNotFoundError" in message, message
    assert "Install jaxinspect in the kernel's environment" in message
    wait_state(page, "not-loaded")
