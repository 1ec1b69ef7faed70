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
    # the banner is no live region (its seconds change every second); a hidden one says who is
    # stuck and keeps saying the same while the seconds run
    assert banner.get_attribute("role") is None and banner.get_attribute("aria-live") is None
    live = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-processes-diagnosis-live"]')
    assert live.get_attribute("role") == "alert"
    page.wait_for_function("el => el.textContent === 'Stuck: p0'", arg=live.element_handle(), timeout=10_000)
    # it is read, not shown: a 1 px clipped box
    box = live.bounding_box()
    assert box is None or (box["width"] <= 1 and box["height"] <= 1), box
    # watch it for a few seconds while the banner's seconds change
    changes = page.evaluate(
        """([live, banner]) => new Promise(done => {
            const seen = {live: [live.textContent], banner: [banner.textContent]};
            const t = setInterval(() => {
                for (const [k, el] of [['live', live], ['banner', banner]]) {
                    if (seen[k][seen[k].length - 1] !== el.textContent) seen[k].push(el.textContent);
                }
            }, 100);
            setTimeout(() => { clearInterval(t); done(seen); }, 3500);
        })""",
        [live.element_handle(), banner.element_handle()],
    )
    assert changes["live"] == ["Stuck: p0"], changes
    assert len(changes["banner"]) >= 2, changes  # the seconds did change meanwhile
    # the banner wraps at the path's "/" before it cuts a word: no line starts inside a word
    # of "python3.12/threading.py"
    lines = banner.evaluate(
        """el => {
            const r = document.createRange(), out = [];
            const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let top = null, line = '';
            for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                for (let i = 0; i < n.length; i++) {
                    r.setStart(n, i); r.setEnd(n, i + 1);
                    const rect = r.getClientRects()[0];
                    if (!rect) continue;
                    if (top !== null && rect.top > top + 2) { out.push(line); line = ''; }
                    top = rect.top; line += n.data[i];
                }
            }
            out.push(line);
            return out;
        }"""
    )
    words = set(said.replace("/", " ").split())
    for a, b in zip(lines, lines[1:], strict=False):
        # a break between lines is at a space or right after a "/", never inside a word
        assert a.endswith((" ", "/")) or b.startswith(" ") or a.split()[-1] in words and b.split()[0] in words, lines
    card = page.locator(f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"][data-stuck="true"]')
    card.wait_for(timeout=30_000)
    assert "gate.wait()" in card.inner_text()  # the line's code, as text
    stack = page.locator(f'{SIDEBAR} [data-testid="jaxinspect-process-stack"]')
    stack.first.wait_for(timeout=30_000)
    assert stack.first.evaluate("el => el.open") is True  # open for the stuck process
    pre = stack.first.locator("pre").inner_text()
    assert "hang.py:5, in <module>" in pre and "gate.wait()  # <b>never set</b>" in pre, pre
    assert page.locator(f"{SIDEBAR} b", has_text="never set").count() == 0  # kernel text is text
    # in the sidebar the stack's lines wrap: nothing runs past its right edge
    assert stack.first.locator("pre").evaluate("el => el.scrollWidth <= el.clientWidth + 1"), pre
    # the tab strip's count turns into an alert while a process is stuck
    assert page.locator(tid("jaxinspect-tab-processes")).get_attribute("aria-label").lower().count("stuck") >= 1
    # "Ask for stacks": the kernel rings the process's doorbell; it answers while blocked, and its
    # fresh stack replaces the one taken when it looked stuck
    assert "when it looked stuck" in stack.first.locator("summary").inner_text()
    page.locator(tid("jaxinspect-processes-ask-stacks")).click()
    result = page.locator(tid("jaxinspect-processes-ask-result"))
    result.wait_for(timeout=30_000)
    assert result.inner_text().strip() == "1 of 1 answered", result.inner_text()
    page.wait_for_function(
        "sel => document.querySelector(sel).textContent.includes('when asked')",
        arg=f'{SIDEBAR} [data-testid="jaxinspect-process-stack"] summary',
        timeout=30_000,
    )
    assert "gate.wait()" in stack.first.locator("pre").inner_text()
    run_cell(page, 2, wait_done=True)
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(el => el.dataset.state === 'lost')",
        arg=f'{SIDEBAR} [data-testid^="jaxinspect-processes-col-"]',
        timeout=30_000,
    )
    banner.wait_for(state="detached", timeout=30_000)
    assert page.evaluate("window.__jaxinspect_xss") is None
