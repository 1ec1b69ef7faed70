"""The Processes tab in a real JupyterLab names a stuck process: a process of the job (started from
the notebook, publishing to its kernel's collector) blocks for good; the tab's banner names it with
its file line, its card is marked, its stack is open beside it, and once it is killed it reads
lost and nothing is stuck any more."""

from .test_sidebar import SIDEBAR, open_with_sidebar, run_cell, tid


def test_a_stuck_process_is_named_with_its_line_and_its_stack_then_lost(page, lab):
    page.add_init_script("window.alert = () => { window.__jaxinspect_xss = 'alert'; };")
    open_with_sidebar(page, lab, "stuck")
    run_cell(page, 1, wait_done=True)
    page.locator(tid("jaxinspect-tab-processes")).click()
    banner = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-processes-diagnosis"]')
    banner.wait_for(timeout=90_000)
    said = banner.inner_text()
    assert "p0 has waited" in said and "hang.py:5" in said, said
    card = page.locator(f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"][data-stuck="true"]')
    card.wait_for(timeout=30_000)
    assert "gate.wait()" in card.inner_text()  # the line's code, as text
    stack = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-process-stack"]')
    stack.first.wait_for(timeout=30_000)
    assert stack.first.evaluate("el => el.open") is True  # open for the stuck process
    pre = stack.first.locator("pre").inner_text()
    assert "hang.py:5, in <module>" in pre and "gate.wait()  # <b>never set</b>" in pre, pre
    assert page.locator(f"{SIDEBAR} b", has_text="never set").count() == 0  # kernel text is text
    # the tab strip's count turns into an alert while a process is stuck
    assert page.locator(tid("jaxinspect-tab-processes")).get_attribute("aria-label").lower().count("stuck") >= 1
    run_cell(page, 2, wait_done=True)
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(el => el.dataset.state === 'lost')",
        arg=f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"]',
        timeout=30_000,
    )
    banner.wait_for(state="detached", timeout=30_000)
    assert page.evaluate("window.__jaxinspect_xss") is None
