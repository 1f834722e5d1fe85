"""End to end in a real browser: `streamlit run`, Chromium through Playwright, a slider moved with the keyboard.

Needs Debian's `chromium` at /usr/bin/chromium (never `playwright install`). The screenshot of the final state is
saved to test-artifacts/browser-sliders.png.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import load_digits_dataset
from aae_core.priors import make_prior
from aae_core.trainer import train

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy in {timeout:.0f} s")


def start_app(checkpoints: Path, runs: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run app/streamlit_app.py` on a free port, pointed at `checkpoints`; returns it and its URL."""
    port = free_port()
    env = {**os.environ, "AAE_CHECKPOINT_DIRS": str(checkpoints), "AAE_RUNS_DIR": str(runs)}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "app" / "streamlit_app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
    except Exception:
        server.kill()
        raise
    return server, url


@contextlib.contextmanager
def running_app(checkpoints: Path, runs: Path) -> Iterator[str]:
    """`start_app`, stopped (killed if it will not stop) when the block ends; yields its URL."""
    server, url = start_app(checkpoints, runs)
    try:
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def chromium_page(height: int = 1000) -> Iterator:
    """A page of a headless Chromium, 1400 pixels wide, closed with the browser when the block ends."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": height})
        finally:
            browser.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser-checkpoints")
    config = ModelConfig(kind="aae", input_dim=64, latent_dim=2, hidden_dims=(64, 64), disc_hidden_dims=(64, 64))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads in the main thread wait for a free core at every step on a busy CPU
    try:
        train(
            config,
            TrainConfig(epochs=3, seed=0),
            make_prior("mixture", 2),
            load_digits_dataset(),
            folder / "aae-mixture.safetensors",
            device="cpu",
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    with running_app(folder, tmp_path_factory.mktemp("runs")) as url:
        yield url


@pytest.fixture
def page(app_url):
    with chromium_page(height=1000) as tab:
        yield tab


def decoded_image(page):
    """The slider page's decoded digit: the first image, captioned with its code."""
    return page.locator("[data-testid=stImage]").filter(has_text="decode(z)").locator("img")


def test_dragging_a_slider_with_the_keyboard_redraws_the_digit(app_url, page):
    page.goto(f"{app_url}/sliders?model=aae-mixture&pad=off")  # the server-side sliders, not the pad
    image = decoded_image(page)
    image.wait_for(timeout=60_000)
    first_src = image.get_attribute("src")
    slider = page.get_by_role("slider", name="z1")
    step = float(slider.get_attribute("step"))
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    final = f"decode(z) for z = ({10 * step:.2f}, 0.00)"
    page.locator("[data-testid=stImageCaption]", has_text=final).wait_for(timeout=30_000)
    page.wait_for_function(
        "([old]) => { const img = [...document.querySelectorAll('[data-testid=stImage]')]"
        ".find(e => e.innerText.includes('decode(z)'))?.querySelector('img');"
        " return img && img.complete && img.naturalWidth > 0 && img.src !== old; }",
        arg=[first_src],
        timeout=30_000,
    )
    assert image.get_attribute("src") != first_src
    assert not page.locator("[data-testid=stException]").count()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-sliders.png"), full_page=True)


def test_clicking_a_point_on_the_map_decodes_it(app_url, page):
    page.goto(f"{app_url}/?model=aae-mixture")
    point = page.locator(".js-plotly-plot .scatterlayer .trace .point").nth(10)
    point.wait_for(timeout=60_000)
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.up()
    page.get_by_role("heading", name="1 selected").wait_for(timeout=30_000)
    page.locator("[data-testid=stImage]", has_text="reconstructions").locator("img").wait_for()
    assert not page.locator("[data-testid=stException]").count()


def test_an_uploaded_digit_is_encoded_marked_and_reconstructed(app_url, page, tmp_path):
    import numpy as np
    from PIL import Image

    digit = (load_digits_dataset().eval.images[0].reshape(8, 8).numpy() * 255).astype(np.uint8)
    Image.fromarray(255 - digit).resize((80, 80)).save(tmp_path / "digit.png")  # dark ink on white, like paper
    (tmp_path / "notes.png").write_text("not a picture")
    page.goto(f"{app_url}/your-digit?model=aae-mixture")
    chooser = page.locator("[data-testid=stFileUploaderDropzoneInput]")
    chooser.set_input_files(str(tmp_path / "digit.png"))
    page.locator("[data-testid=stImage]", has_text="decode(encode(x))").locator("img").wait_for(timeout=30_000)
    page.locator(".js-plotly-plot .scatterlayer .trace").last.locator(".point").wait_for()  # the star
    assert page.get_by_text("Its code").count()
    chooser.set_input_files(str(tmp_path / "notes.png"))
    page.get_by_text("not a picture that can be read").wait_for(timeout=30_000)
    assert not page.locator("[data-testid=stException]").count()


def test_every_page_opens_without_a_traceback(app_url, page):
    for path in ("", "manifold", "sliders", "style-class", "aae-vs-vae", "your-digit", "train"):
        page.goto(f"{app_url}/{path}?model=aae-mixture")
        page.locator("h1").first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        assert not page.locator("[data-testid=stException]").count(), path
