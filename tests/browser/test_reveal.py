"""Clicking a cell location scrolls the notebook to it: a notebook with many cells recompiles in a
cell far down; from the top of the notebook, the call site in the Compiles tab takes the user to
that cell (active, in view, highlighted, with its line named), and a cell location in a cell's HTML
output (``%jaxpr --source``) takes them back up to the cell that defines the function."""

import json

import nbformat
import pytest

from tests.browser.test_sidebar import (
    SIDEBAR,
    fresh_lab,
    open_from_browser,
    run_command,
    tid,
    wait_state,
)

pytestmark = pytest.mark.browser

FILLERS = 24
DEFINE = "import jax, jax.numpy as jnp\n\n@jax.jit\ndef far_step(x):\n    return x * 2\n"
RECOMPILE = "y = far_step(jnp.ones(3))\ny = far_step(jnp.ones(4))  # recompiles here\n"
JAXPR = "%jaxpr --source far_step(jnp.ones(2))"


def _notebook(root):
    cells = ["%load_ext jaxinspect", DEFINE]
    cells += [
        f"# filler {i}: tall enough that the notebook needs scrolling\n"
        + "\n".join(f"v{i}_{j} = {i} * {j}" for j in range(6))
        for i in range(FILLERS)
    ]
    cells += [RECOMPILE, JAXPR]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, root / "reveal.ipynb")
    return len(cells)


CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"


def _prompt_count(page, index):
    # textContent: an off-screen cell (content-visibility) has no rendered innerText
    text = (page.locator(CELLS).nth(index).locator(".jp-InputPrompt").text_content() or "").strip()
    return int(text.strip("[]:"))


def _in_view(page, index):
    """Whether cell ``index`` is (at least partly) inside the notebook's scrolled viewport."""
    return page.evaluate(
        """([sel, i]) => {
            const cell = document.querySelectorAll(sel)[i];
            const scroller = cell.closest('.jp-WindowedPanel-outer') || cell.closest('.jp-Notebook');
            const a = cell.getBoundingClientRect(), b = scroller.getBoundingClientRect();
            return a.bottom > b.top + 4 && a.top < b.bottom - 4;
        }""",
        [CELLS, index],
    )


def _active_index(page):
    return page.evaluate(
        "(sel) => Array.from(document.querySelectorAll(sel)).findIndex(c => c.classList.contains('jp-mod-active'))",
        CELLS,
    )


def _wait_revealed(page, index, where):
    """Until cell ``index`` is marked revealed at ``where`` and highlighted (both set together)."""
    page.wait_for_function(
        """([sel, i, want]) => { const c = document.querySelectorAll(sel)[i];
            return c.dataset.jaxinspectRevealed === want && c.classList.contains('jp-JaxInspect-revealed'); }""",
        arg=[CELLS, index, where],
        timeout=10_000,
        polling=50,
    )


def _to_top(page, n):
    """Scroll the notebook to its first cell and make it the active one (as a user would)."""
    page.locator(CELLS).first.locator(".jp-InputPrompt").click()
    page.evaluate(
        "(sel) => { const c = document.querySelector(sel); (c.closest('.jp-WindowedPanel-outer') || c.closest('.jp-Notebook')).scrollTop = 0; }",
        CELLS,
    )
    page.wait_for_timeout(300)
    assert _active_index(page) == 0 and _in_view(page, 0) and not _in_view(page, n - 2)


def test_clicking_a_location_scrolls_to_its_cell(page, lab):
    n = _notebook(lab["root"])
    fresh_lab(page, lab, "reveal")
    page.locator(".jp-DirListing-itemName").first.wait_for()
    run_command(page, "Show jaxinspect")
    open_from_browser(page, "reveal.ipynb")
    for attempt in range(3):  # a just-started kernel may lose the first request (as run_cell says)
        run_command(page, "Run All Cells")
        try:
            page.wait_for_function(
                "(sel) => /\\[[\\d*]+\\]/.test(document.querySelector(sel + ' .jp-InputPrompt').textContent)",
                arg=CELLS,
                timeout=15_000,
            )
            break
        except Exception:
            if attempt == 2:
                raise
    last = page.locator(CELLS).nth(n - 1)
    last.locator(".jaxinspect-cell[data-jaxinspect-cell]").first.wait_for(timeout=120_000)
    defined, recompiled = _prompt_count(page, 1), _prompt_count(page, n - 2)

    wait_state(page, "ready")
    page.locator(tid("jaxinspect-tab-compiles")).click()
    event = page.locator(f'{tid("jaxinspect-compile-event")}[data-fun-name="far_step"]').first
    site = event.locator('[data-testid="jaxinspect-compile-site"]')
    site.wait_for(timeout=30_000)
    page.wait_for_function(  # the newest event: the recompile on line 2
        "([sel, want]) => { const el = document.querySelector(sel); return el && el.textContent === want; }",
        arg=[f'{SIDEBAR} [data-testid="jaxinspect-compile-event"][data-fun-name="far_step"] [data-testid="jaxinspect-compile-site"]',
             f"cell [{recompiled}] line 2"],
        timeout=30_000,
    )  # fmt: skip
    assert site.evaluate("el => el.tagName") == "BUTTON"
    assert site.get_attribute("aria-label") == f"Go to cell [{recompiled}] line 2"
    assert site.get_attribute("title") == "y = far_step(jnp.ones(4))  # recompiles here"
    assert "ipykernel" not in page.locator(SIDEBAR).inner_text()

    # from the top of the notebook, the Compiles tab's call site takes the user to the cell
    _to_top(page, n)
    site.click()
    _wait_revealed(page, n - 2, f"cell [{recompiled}] line 2")
    assert _active_index(page) == n - 2
    assert _in_view(page, n - 2) and not _in_view(page, 0)
    # the event row did not toggle open: the click was the location's
    assert event.get_attribute("aria-expanded") == "false"

    # "defined at" in the event's details, by keyboard: back up to the cell that defines it
    event.locator(".jp-JaxInspect-compileName").click()
    defined_at = page.locator(tid("jaxinspect-compile-defined")).first
    assert defined_at.inner_text() == f"cell [{defined}] line 3"
    defined_at.focus()
    page.keyboard.press("Enter")
    _wait_revealed(page, 1, f"cell [{defined}] line 3")
    assert _active_index(page) == 1 and _in_view(page, 1)

    # a cell location in a cell's HTML output: %jaxpr --source names the line in the cell above
    page.evaluate(
        "(sel) => { const c = document.querySelectorAll(sel); c[c.length - 1].scrollIntoView(); }", CELLS
    )
    page.wait_for_timeout(300)
    assert not _in_view(page, 1)
    link = last.locator(f'.jaxinspect-cell[data-jaxinspect-cell="{defined}"]').first
    assert link.get_attribute("data-jaxinspect-line") == "5"
    assert link.get_attribute("title") == "return x * 2"
    link.click()
    _wait_revealed(page, 1, f"cell [{defined}] line 5")
    assert _active_index(page) == 1
    assert _in_view(page, 1) and not _in_view(page, n - 1)

    # a location whose cell is gone says so (a notification), never an exception
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.evaluate(
        """(html) => { const d = document.createElement('div'); d.innerHTML = html;
                       document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook').appendChild(d);
                       d.firstChild.click(); }""",
        '<span class="jaxinspect-cell" data-jaxinspect-cell="9999" data-jaxinspect-line="1" title="nowhere()">x</span>',
    )
    page.locator(".Toastify__toast", has_text="cell [9999] line 1 is no longer in this notebook").wait_for(timeout=10_000)
    assert not errors, errors
    print(json.dumps({"defined": defined, "recompiled": recompiled, "cells": n}))
