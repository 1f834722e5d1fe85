"""What a teacher checks before class, in a real browser: `streamlit run` on the shipped checkpoints, Chromium
through Playwright (the server and browser fixtures of tests/test_browser_sketch.py).

- AAE vs VAE with three models: one drag on the shared pad redraws all three decoders' digits, frame after frame.
- Manifold: dragging the grid's resolution control redraws the grid in the browser, with no server rerun until
  the control is let go.
- Latent map: the small map beside the chart decodes the point under the pointer as it moves.
- Train live: a ring drawn with the mouse becomes the Drawn prior, an AAE trains on it, and the trained model's
  latent map opens.

Needs Debian's `chromium` at /usr/bin/chromium (never `playwright install`). One screenshot per test goes to
test-artifacts/browser-pages-*.png (gitignored).
"""

from __future__ import annotations

import math
import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from benchmarks.app_latency import COUNT_MESSAGES, NEXT_FRAME
from tests.test_browser import ARTIFACTS, CHROMIUM
from tests.test_browser_sketch import app_url, page  # noqa: F401 - fixtures: the shipped models, runs in tmp

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

DIGITS = "[data-testid=latent-pad-digit]"


def watch_errors(tab) -> list[str]:
    """Collect the page's uncaught JavaScript errors (the list fills as they happen)."""
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def choose(tab, label: str, option: str) -> None:
    """Pick the option whose text starts with `option` (a file stem) in the Streamlit selectbox `label`."""
    tab.get_by_role("combobox", name=label).click()
    # Anchored: "ae-2d-mixture" must not pick "aae-2d-mixture" or "vae-2d-mixture".
    tab.get_by_role("option", name=re.compile(rf"^{re.escape(option)}\b")).click()


def pictures(tab) -> list[str]:
    """Every decoded digit canvas on the page, as PNG data URLs (in the components' shadow roots too)."""
    return tab.locator(DIGITS).evaluate_all("canvases => canvases.map((canvas) => canvas.toDataURL())")


def shoot(tab, name: str) -> None:
    """Save a full-page screenshot as test-artifacts/browser-pages-NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"browser-pages-{name}.png"), full_page=True)


def no_traceback(tab) -> None:
    """Assert that Streamlit shows no exception box on the page."""
    assert not tab.locator("[data-testid=stException]").count()


def test_one_drag_redraws_the_digits_of_all_three_compared_models(app_url, page):  # noqa: F811
    errors = watch_errors(page)
    page.goto(f"{app_url}/aae-vs-vae?model=aae-2d-mixture")
    page.locator(DIGITS).first.wait_for(timeout=90_000)
    choose(page, "Left model", "aae-2d-mixture")
    choose(page, "Right model", "vae-2d-mixture")
    choose(page, "Third model (optional)", "ae-2d-mixture")
    expect = pytest.importorskip("playwright.sync_api").expect
    expected = ["left: AAE (aae-2d-mixture)", "right: VAE (vae-2d-mixture)", "third: AE (ae-2d-mixture)"]
    expect(page.locator("figure.lp-digit figcaption")).to_have_text(expected, timeout=90_000)  # one pad, 3 decoders
    readout = page.locator("[data-testid=latent-pad-code]")
    readout.filter(has_text="z = (").wait_for(timeout=60_000)  # the three decoders arrived and drew once

    pad = page.locator("[data-testid=latent-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.evaluate(NEXT_FRAME)
    before = pictures(page)
    together = 0  # steps of the drag after which every one of the three digits is a new picture
    for step in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.15 + 0.07 * step), box["y"] + box["height"] * (0.5 - 0.03 * step))
        page.evaluate(NEXT_FRAME)
        after = pictures(page)
        assert len(after) == 3
        together += all(a != b for a, b in zip(after, before, strict=True))
        before = after
    page.mouse.up()
    assert together >= 6, together
    shoot(page, "compare-three")
    no_traceback(page)
    assert not errors, errors


def settled_box(locator, tries: int = 5) -> dict:
    """The element's box once it is in view. On a busy CPU a last rerun of the page can replace the element between
    finding and scrolling it ("not attached to the DOM"); the locator then finds the new one on the next try."""
    for attempt in range(tries):
        try:
            locator.scroll_into_view_if_needed(timeout=10_000)
            box = locator.bounding_box(timeout=10_000)
            if box:
                return box
        except PlaywrightError:
            if attempt == tries - 1:
                raise
        time.sleep(0.5)
    raise AssertionError(f"{locator} has no box after {tries} tries")


def test_the_manifold_grid_redraws_in_the_browser_while_its_control_is_dragged(app_url, page):  # noqa: F811
    errors = watch_errors(page)
    page.add_init_script(COUNT_MESSAGES)
    page.goto(f"{app_url}/manifold?model=aae-2d-mixture")
    readout = page.locator("[data-testid=latent-pad-code]")
    readout.filter(has_text="15×15 decodes").wait_for(timeout=90_000)
    # The server-side sliders go once the browser has said it decodes: from then on the page is the pad's.
    page.get_by_role("slider", name="Resolution (cells per side)").wait_for(state="detached", timeout=60_000)
    page.wait_for_load_state("networkidle")
    # The browser's own range input (latent_pad.js). Exactly its name: the server's slider, "Resolution (cells per
    # side)", matches by substring, and once, on a busy CPU, it was in the page again at this point.
    cells = page.get_by_role("slider", name="Cells per side", exact=True)
    box = settled_box(cells)
    grid = page.locator(DIGITS)
    first = grid.evaluate("canvas => canvas.toDataURL()")
    received = page.evaluate("window.__received.length")
    page.evaluate("performance.clearMeasures('latent-pad-input-to-pixels')")  # only the drag's frames count below

    # Pressing on the track jumps the value there and each move fires `input`; only the release fires `change`.
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] / 2)
    page.mouse.down()
    seen, texts = {first}, set()
    for step in range(1, 6):
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.15 * step), box["y"] + box["height"] / 2)
        page.evaluate(NEXT_FRAME)
        seen.add(grid.evaluate("canvas => canvas.toDataURL()"))
        texts.add(readout.inner_text())
    assert len(seen) >= 5 and len(texts) >= 5, (len(seen), texts)  # a new grid for every new resolution
    assert page.evaluate("window.__received.length") == received  # all drawn without one word from the server
    # latent_pad.js measures each frame from the pointer event to the painted grid (27×27 decodes at most here).
    delays = sorted(page.evaluate("performance.getEntriesByName('latent-pad-input-to-pixels').map(e => e.duration)"))
    assert len(delays) >= 5 and delays[len(delays) // 2] < 300, delays  # the median: one busy-CPU hiccup is fine
    final = readout.inner_text()  # "n×n decodes from low to high"
    page.mouse.up()

    # Let go: the view reaches Python, which reruns the page; the grid it sends back is the one the browser drew.
    page.wait_for_function("(n) => window.__received.length > n", arg=received, timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert readout.inner_text() == final
    assert grid.evaluate("canvas => canvas.toDataURL()") != first
    shoot(page, "manifold")
    no_traceback(page)
    assert not errors, errors


def test_the_map_pad_decodes_the_point_under_the_pointer(app_url, page):  # noqa: F811
    errors = watch_errors(page)
    page.goto(f"{app_url}/?model=aae-2d-mixture")
    page.locator(".js-plotly-plot").first.wait_for(timeout=90_000)  # the chart the pad sits beside
    readout = page.locator("[data-testid=latent-pad-code]")
    readout.filter(has_text="z = (").wait_for(timeout=60_000)
    pad, digit = page.locator("[data-testid=latent-pad]"), page.locator(DIGITS)
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    # The weights come on a rerun after the pad first reports what it holds: hover until it decodes at all.
    blank, deadline = digit.evaluate("canvas => canvas.toDataURL()"), time.monotonic() + 60
    while digit.evaluate("canvas => canvas.toDataURL()") == blank and time.monotonic() < deadline:
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.move(box["x"] + box["width"] * 0.52, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(200)
    box = pad.bounding_box()  # where it is now, after that rerun
    seen, codes = set(), set()
    for step in range(10):  # a diagonal sweep, no button held: hovering alone decodes
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.08 * step), box["y"] + box["height"] * (0.15 + 0.07 * step))
        page.evaluate(NEXT_FRAME)
        seen.add(digit.evaluate("canvas => canvas.toDataURL()"))
        codes.add(readout.inner_text())
    assert len(codes) == 10, codes
    assert len(seen) >= 6, len(seen)
    shoot(page, "map-hover")
    no_traceback(page)
    assert not errors, errors


def test_a_ring_drawn_with_the_mouse_trains_an_aae_whose_map_opens(app_url, page):  # noqa: F811
    errors = watch_errors(page)
    page.goto(f"{app_url}/train")
    canvas = page.locator("canvas[aria-label='Drawing pad for a prior']")  # in the component's shadow root
    canvas.wait_for(timeout=90_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    centre_x, centre_y, radius = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.3
    page.mouse.move(centre_x + radius, centre_y)
    page.mouse.down()
    for k in range(1, 41):  # one stroke round the circle, back to where it started
        angle = 2 * math.pi * k / 40
        page.mouse.move(centre_x + radius * math.cos(angle), centre_y + radius * math.sin(angle))
    page.mouse.up()
    caption = page.locator("[data-testid=stCaptionContainer]", has_text=re.compile(r"\d+ points from 1 stroke\."))
    caption.wait_for(timeout=30_000)
    assert int(caption.inner_text().split()[0]) >= 20

    choose(page, "Prior", "Drawn")
    page.get_by_role("button", name="Train on the digits").click()
    # Trained, saved into the tmp runs folder, selected in the sidebar: train_and_open's note after its rerun.
    page.get_by_text("Trained and saved as").wait_for(timeout=120_000)
    sidebar = page.locator("[data-testid=stSidebar]")
    assert "drawn prior" in sidebar.inner_text()
    trained = page.get_by_role("combobox", name="Checkpoint").input_value()
    assert trained.startswith("aae-drawn-2d-digits-"), trained

    page.get_by_role("link", name="Latent map").click()  # the same session: the new model stays selected
    page.get_by_role("heading", name="Latent map").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot .scatterlayer .trace .point").first.wait_for(timeout=60_000)
    assert page.get_by_role("combobox", name="Checkpoint").input_value() == trained
    shoot(page, "drawn-prior")
    no_traceback(page)
    assert not errors, errors
