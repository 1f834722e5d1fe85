"""The latent pad in a real browser: `streamlit run` and Chromium (the fixtures of tests/test_browser.py).

A drag on the pad redraws the digit frame after frame without the server, the code reaches Python when the mouse
is released, and the decoder's weights are not sent again when the student moves to another page. The screenshot
is saved to test-artifacts/browser-pad.png.
"""

from __future__ import annotations

import pytest

from benchmarks.app_latency import COUNT_MESSAGES, NEXT_FRAME  # what the benchmark times, the test checks
from tests.test_browser import ARTIFACTS, CHROMIUM, app_url, page  # noqa: F401 - app_url and page are fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def test_a_drag_redraws_the_digit_in_the_browser_and_the_release_reaches_python(app_url, page):  # noqa: F811
    page.add_init_script(COUNT_MESSAGES)
    page.goto(f"{app_url}/sliders?model=aae-mixture")
    released = page.get_by_text("Released at z =")  # Python's caption: shown once the browser said it is ready
    released.wait_for(timeout=60_000)
    assert not page.get_by_role("slider", name="z1").count()  # the pad replaced the server-side sliders
    pad, digit = page.locator("[data-testid=latent-pad]"), page.locator("[data-testid=latent-pad-digit]")
    readout = page.locator("[data-testid=latent-pad-code]")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.evaluate(NEXT_FRAME)
    messages_before = page.evaluate("window.__received.length")
    pictures, codes = set(), set()
    for step in range(1, 13):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.05 * step), box["y"] + box["height"] * (0.2 + 0.04 * step))
        page.evaluate(NEXT_FRAME)
        pictures.add(digit.evaluate("canvas => canvas.toDataURL()"))
        codes.add(readout.inner_text())
    assert len(pictures) >= 6 and len(codes) >= 10, (len(pictures), len(codes))  # a new digit as the pointer moves
    assert page.evaluate("window.__received.length") == messages_before  # and not one message from the server
    final = readout.inner_text()  # "z = (x, y)"
    page.mouse.up()
    page.get_by_text(f"Released at {final}").wait_for(timeout=30_000)  # the code is now Python's
    decodes = page.evaluate("performance.getEntriesByName('latent-pad-decode').map(e => e.duration)")
    assert len(decodes) >= 12 and max(decodes) < 100
    assert not page.locator("[data-testid=stException]").count()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-pad.png"), full_page=True)

    # Another page of the same session: the browser holds this decoder already, so no run sends it again.
    assert page.evaluate("window.__latentPadPayloads") == 1
    sent_before = page.evaluate("window.__received.length")
    page.get_by_role("link", name="Manifold").click()
    page.locator("[data-testid=latent-pad-digit]").wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__latentPadPayloads") == 1
    assert page.evaluate("window.__received.length") > sent_before  # the page did run: its pad came without weights


def test_arrow_keys_on_the_pad_move_the_code_and_reach_python_after_the_key_run(app_url, page):  # noqa: F811
    page.goto(f"{app_url}/sliders?model=aae-mixture")
    page.get_by_text("Released at z = (0.00, 0.00)").wait_for(timeout=60_000)
    page.locator("[data-testid=latent-pad]").focus()
    for _ in range(5):
        page.keyboard.press("ArrowUp")
    page.evaluate(NEXT_FRAME)
    code = page.locator("[data-testid=latent-pad-code]").inner_text()
    assert code.startswith("z = (0.00, ") and not code.endswith(" 0.00)")
    page.get_by_text(f"Released at {code}").wait_for(timeout=30_000)
