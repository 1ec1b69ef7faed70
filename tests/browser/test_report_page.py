"""The report page (``jaxinspect.report``) in Chromium with every network request refused: opened
from disk, its charts are drawn and visible, nothing overflows an 800 px window, and it follows the
system's light / dark preference. Screenshots land in test-results/ (and README folders through
``shot``)."""

import warnings
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT, shot
from tests.test_report import EVIL, SESSION_CELLS, long_session

pytestmark = pytest.mark.browser

WIDTH = 800


def real_report(folder: Path) -> Path:
    """A real session's report (jit recompiles, a key reuse, a watched tree that turns NaN)."""
    from IPython.core.interactiveshell import InteractiveShell

    import jaxinspect
    from jaxinspect.collect import keyslib
    from jaxinspect.glue import extension

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jaxinspect")
    try:
        for src in SESSION_CELLS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert shell.run_cell(src, store_history=True).success
        jaxinspect.api.SESSION.check_watched()
        path = folder / "run.html"
        assert jaxinspect.report(path).level == "info"
        return path
    finally:
        shell.run_line_magic("unload_ext", "jaxinspect")
        extension.unload(shell)
        keyslib.tracker().clear()


def offline(requests: list[str]):
    """A route handler: the file itself loads, every other request is refused (and listed)."""

    def handle(route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    return handle


def test_the_report_opens_offline_draws_its_charts_and_fits_800px(browser, tmp_path):
    from jaxinspect.render import reportview

    pages = {"session": real_report(tmp_path), "long": tmp_path / "long.html"}
    pages["long"].write_text(reportview.report_html(long_session()), encoding="utf-8")
    out = ROOT / "test-results"
    out.mkdir(exist_ok=True)
    for name, path in pages.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme=scheme)
            requests: list[str] = []
            context.route("**/*", offline(requests))
            page = context.new_page()
            page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
            try:
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                assert requests == [path.as_uri()], requests  # nothing but the page itself
                # every fold open: the widest content is laid out too
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                for section in ("environment", "compiles", "memory", "keys", "params", "errors", "coverage"):
                    assert page.locator(f"section#{section}").is_visible(), section
                charts = page.locator("section svg")
                n = charts.count()
                assert n >= 4, n  # the compile timeline, memory, a watched tree's norm and update ratio
                for i in range(n):
                    box = charts.nth(i).bounding_box()
                    assert charts.nth(i).is_visible() and box and box["width"] > 100 and box["height"] > 40
                    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 0.5, box
                sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                assert sizes[0] <= sizes[1] <= WIDTH, f"the page scrolls sideways at {WIDTH} px: {sizes}"
                # no element sticks out of the window, except inside a table's own scroll box
                sticking = page.evaluate(
                    """(w) => [...document.querySelectorAll('main *')].filter(e => {
                        const r = e.getBoundingClientRect();
                        if (r.width === 0 || r.right <= w + 0.5) return false;
                        for (let p = e.parentElement; p; p = p.parentElement)
                            if (getComputedStyle(p).overflowX === 'auto' && p.getBoundingClientRect().right <= w + 0.5)
                                return false;
                        return true;
                    }).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60))""",
                    WIDTH,
                )
                assert not sticking, sticking[:5]
                assert page.evaluate("window.__x") is None  # the hostile name stayed text
                assert EVIL in page.locator("section#compiles").inner_text()
                bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
                rgb = [int(v) for v in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3]]
                assert (sum(rgb) / 3 < 60) if scheme == "dark" else (sum(rgb) / 3 > 200), (scheme, bg)
                page.screenshot(path=str(out / f"report-{name}-{scheme}.png"), full_page=name == "session")
                if name == "session":
                    shot(page, f"report-{scheme}")
            finally:
                context.close()
