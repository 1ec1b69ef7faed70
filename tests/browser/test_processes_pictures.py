"""Pictures of the Processes tab with a stuck process, for a person to look at: the sidebar at its
default width (250 px), light and dark theme, into JAXINSPECT_SCREENSHOTS (e.g. /tmp/shots).

A picture maker, not a test: skipped unless JAXINSPECT_SCREENSHOTS names the folder to write to.
It still fails when the tab does not show the stuck process (so it never makes a blank picture)."""

import os
from pathlib import Path

import pytest

from tests.browser.test_layout import set_sidebar_width
from tests.browser.test_screenshots import theme
from tests.browser.test_sidebar import SIDEBAR, open_with_sidebar, run_cell, tid

OUT = os.environ.get("JAXINSPECT_SCREENSHOTS")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not OUT, reason="makes pictures of the Processes tab; set JAXINSPECT_SCREENSHOTS"),
]

WIDTH = 250  # JupyterLab's default right sidebar width


def test_pictures_of_a_stuck_process_at_250px(page, lab):
    Path(OUT).mkdir(parents=True, exist_ok=True)
    open_with_sidebar(page, lab, "stuck")
    set_sidebar_width(page, WIDTH)
    run_cell(page, 1, wait_done=True)
    page.locator(tid("jaxinspect-tab-processes")).click()
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-processes-diagnosis"]').wait_for(timeout=90_000)
    page.locator(f'{SIDEBAR} [data-testid="jaxinspect-process-stack"]').first.wait_for(timeout=30_000)
    page.mouse.move(5, 5)  # no hover state or tooltip in the picture
    sidebar = page.locator(SIDEBAR)
    try:
        for variant in ("Light", "Dark"):
            theme(page, variant)
            sidebar.screenshot(path=str(Path(OUT) / f"processes-stuck-{variant.lower()}.png"))
            # the whole tab, scrolled: what is below the fold too
            root = page.locator(f"{SIDEBAR} .jp-JaxInspect-processes")
            root.screenshot(path=str(Path(OUT) / f"processes-stuck-{variant.lower()}-full.png"))
    finally:
        theme(page, "Light")
        run_cell(page, 2, wait_done=True)  # kill the hanging process
