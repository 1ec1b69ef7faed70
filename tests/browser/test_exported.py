"""A notebook executed without the labextension (nbclient), exported by nbconvert to HTML and
opened from disk in Chromium with every network request blocked, as a reviewer opens an attached
export offline: the monitor's final curves (SVG) and its alert are visible, although the widget
cannot render there (its html-manager script comes from a CDN)."""

from __future__ import annotations

import pytest

from tests import frontends_nb as fnb

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("nbclient")
    pytest.importorskip("nbconvert")
    pytest.importorskip("anywidget")
    folder = tmp_path_factory.mktemp("exported")
    nb = fnb.execute(folder / "frontends.ipynb")
    return fnb.export_html(nb, folder / "frontends.html")


def test_the_exported_html_shows_the_monitor_curves_and_alert_offline(browser, exported):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    blocked: list[str] = []

    def offline(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(exported.as_uri(), wait_until="load")
        snapshot = page.locator(".jaxinspect-monitor-snapshot")
        assert snapshot.count() == 1
        snapshot.wait_for(state="visible")
        loss = snapshot.locator('svg.ji-chart g.ji-series[data-name="loss"]')
        assert loss.count() == 1 and loss.get_attribute("data-points") == "60"
        chart = snapshot.locator("svg.ji-chart").first
        box = chart.bounding_box()
        assert chart.is_visible() and box and box["width"] > 200 and box["height"] > 80, box
        line = loss.locator("path").first
        assert line.is_visible() and len(line.get_attribute("d")) > 100  # a drawn curve, not an empty frame
        nan = loss.locator('path[data-value="NaN"]')
        assert nan.count() == 1 and nan.get_attribute("data-count") == "20"
        alert = snapshot.get_by_text("loss became NaN at step 40", exact=False).first
        assert alert.is_visible()
        # every other jaxinspect output draws too: the watched tree's curves, the compile timeline
        assert page.locator("svg.ji-chart").count() >= 4
        # a hostile scalar name stayed text
        assert page.evaluate("window.__jaxinspect_xss") is None
        assert snapshot.locator("img").count() == 0
        assert "<img src=x onerror=window.__jaxinspect_xss=1>" in snapshot.inner_text()
        print(f"blocked {len(blocked)} requests: {sorted(set(blocked))[:5]}")
        snapshot.screenshot(path="/tmp/jaxinspect-exported-monitor.png")
    finally:
        context.close()
