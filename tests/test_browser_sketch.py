"""The drawing pad in a real browser: `streamlit run` on the shipped checkpoints, Chromium through Playwright, a 7
drawn with the mouse on the Your digit page, and the page's reconstruction of it.

Needs Debian's `chromium` at /usr/bin/chromium (never `playwright install`). The screenshot of the final state is
saved to test-artifacts/browser-sketch.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, chromium_page, running_app

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)"
    ),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    with running_app(SHIPPED, tmp_path_factory.mktemp("runs")) as url:
        yield url


@pytest.fixture
def page(app_url):
    with chromium_page(height=1100) as tab:
        yield tab


def drag(page, box: dict, corners: list[tuple[float, float]], steps: int = 12) -> None:
    """Press the mouse at the first corner (in 0..1 of the box), move through the others, release."""

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * box["width"], box["y"] + y * box["height"]

    page.mouse.move(*at(*corners[0]))
    page.mouse.down()
    for corner in corners[1:]:
        page.mouse.move(*at(*corner), steps=steps)
    page.mouse.up()


def test_a_digit_drawn_with_the_mouse_is_reconstructed_and_placed_among_its_class(app_url, page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{app_url}/your-digit?model=labelled-prior-2d-mixture")
    canvas = page.locator("canvas[aria-label='Drawing pad for a digit']")  # in the component's shadow root
    canvas.wait_for(timeout=60_000)
    empty_pad = page.locator("[data-testid=stAlert]", has_text="Draw a digit on the pad (")
    empty_pad.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    assert box and box["width"] > 100 and abs(box["width"] - box["height"]) < 2  # a square pad
    drag(page, box, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)])  # a 7: the bar, then the stem
    reconstruction = page.locator("[data-testid=stImage]").filter(has_text="decode(encode(x))").locator("img")
    reconstruction.wait_for(timeout=60_000)
    nearest = page.locator("[data-testid=stCaptionContainer]", has_text="Nearest evaluation digits")
    nearest.wait_for(timeout=30_000)
    assert nearest.inner_text().count("(a 7)") >= 3
    assert canvas.count() == 1  # one pad, however often the page reran (the sidebar holds another component)
    page.wait_for_timeout(500)  # let the map finish drawing for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-sketch.png"), full_page=True)

    page.locator("button.clear").click()  # Clear: back to the message, no error
    empty_pad.wait_for(timeout=30_000)
    assert reconstruction.count() == 0
    assert not errors, errors


def test_taps_on_a_touch_screen_become_the_points_of_a_drawn_prior(app_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1200}, has_touch=True)
            page.goto(f"{app_url}/train")
            canvas = page.locator("canvas[aria-label='Drawing pad for a prior']")
            canvas.wait_for(timeout=60_000)
            box = canvas.bounding_box()
            for count, (x, y) in enumerate([(0.3, 0.3), (0.7, 0.3), (0.5, 0.75)], start=1):
                page.touchscreen.tap(box["x"] + x * box["width"], box["y"] + y * box["height"])
                caption = page.locator("[data-testid=stCaptionContainer]", has_text=f"{count} points from {count}")
                caption.wait_for(timeout=30_000)
        finally:
            browser.close()
