"""Latency of the explorer: server-side slider rerun and 20×20 manifold (AppTest); in Chromium, the cold start, the
old server-side slider and manifold paths beside the new in-browser ones (the latent pad: per-frame decode, pointer
or key → pixels, manifold redraw, from the page's performance measures), and what a rerun sends. A benchmark to
print, not a timed test.

    python benchmarks/app_latency.py                      # trains a small digits AAE to measure on (~20 s)
    python benchmarks/app_latency.py --checkpoints DIR    # or measure the models in DIR (first one listed)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def summary(name: str, seconds: list[float]) -> None:
    ms = np.array(seconds) * 1000
    print(f"{name:<44} median {statistics.median(ms):7.1f} ms   p95 {np.percentile(ms, 95):7.1f} ms   (n={len(ms)})")


def make_checkpoint(folder: Path) -> None:
    import torch

    from aae_core.config import ModelConfig, TrainConfig
    from aae_core.data import load_dataset
    from aae_core.priors import make_prior
    from aae_core.trainer import train

    torch.set_num_threads(1)  # the main thread's two-thread team crawls on a busy CPU (see app/tuning.py)
    config = ModelConfig(kind="aae", input_dim=64, latent_dim=2, hidden_dims=(256, 256), disc_hidden_dims=(256, 256))
    train(
        config,
        TrainConfig(epochs=10, seed=0),
        make_prior("mixture", 2),
        load_dataset("digits"),
        folder / "aae-mixture.safetensors",
        device="cpu",
        progress=False,
    )


def server_side(model: str, repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=120)
    at.query_params["model"] = model
    at.run()
    at.switch_page("pages_/sliders.py").run()
    slider = next(s for s in at.slider if s.label == "z1")
    times = []
    for i in range(repeats):
        slider = next(s for s in at.slider if s.label == "z1")
        slider.set_value(round(float(slider.min) + (i % 20) * float(slider.step) * 3, 3))
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    summary("server: slider rerun (AppTest, whole page)", times)

    at.switch_page("pages_/manifold.py").run()
    times = []
    for i in range(repeats // 2):
        at.slider(key="manifold_resolution").set_value(20 if i % 2 else 19)  # a new grid each time
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
    summary("server: manifold 19/20² grid rerun (AppTest)", times)

    from aae_core.inference import load_model
    from app import figures, latent, views

    folders = [Path(p) for p in os.environ["AAE_CHECKPOINT_DIRS"].split(os.pathsep)]
    loaded = load_model(next(f / f"{model}.safetensors" for f in folders if (f / f"{model}.safetensors").exists()))
    codes = latent.grid_codes(np.zeros(loaded.latent_dim), (0, 1), (-3, 3), (-3, 3), 20)
    times = []

    def measure() -> None:
        for _ in range(repeats):
            started = time.perf_counter()
            figures.grid_png(views.decode(loaded, codes), 20, target_px=520)
            times.append(time.perf_counter() - started)

    # In a worker thread, as Streamlit runs scripts: on a busy CPU, torch's intra-op threads make the same call
    # on the main thread ~50 ms slower (waiting for a second core), which is not what the app sees.
    worker = threading.Thread(target=measure)
    worker.start()
    worker.join()
    summary("server: 20×20 decode + PNG (no Streamlit)", times)


# Counts what the server sends over Streamlit's websocket, [time, bytes] per message (installed before any page).
COUNT_MESSAGES = """(() => {
  const Native = window.WebSocket; window.__received = [];
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (e) => window.__received.push([performance.now(), e.data.byteLength]));
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();"""
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def start_server(folder: Path) -> tuple[subprocess.Popen, str, float]:
    """`streamlit run` on a free port; returns it, its URL and the seconds from launch to healthy."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py")]
    command += ["--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    env = {**os.environ, "AAE_CHECKPOINT_DIRS": str(folder)}
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return server, url, time.perf_counter() - started
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("streamlit exited early") from None
            time.sleep(0.05)


def measures(page, name: str) -> list[float]:
    """Durations (s) of the page's performance measures called `name`, then cleared."""
    found = page.evaluate(f"performance.getEntriesByName('{name}').map(e => e.duration / 1000)")
    page.evaluate(f"performance.clearMeasures('{name}')")
    return found


def server_keypresses(page, url: str, model: str, repeats: int) -> None:
    """The old path: a server-side slider, arrow key → rerun → new <img> loaded."""
    page.goto(f"{url}/sliders?model={model}&pad=off")
    page.locator("[data-testid=stImage]").filter(has_text="decode(z)").locator("img").wait_for(timeout=60_000)
    page.evaluate("""() => {
        window.__down = 0; window.__shown = 0;
        document.addEventListener('keydown', () => { window.__down = performance.now(); }, true);
        document.addEventListener('load', (e) => {
            if (e.target.tagName === 'IMG' && e.target.closest('[data-testid=stImage]')?.innerText
                .includes('decode(z)')) window.__shown = performance.now();
        }, true);
    }""")
    page.get_by_role("slider", name="z1").focus()
    times = []
    for i in range(repeats):
        page.evaluate("() => { window.__shown = 0; }")
        page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        page.wait_for_function("() => window.__shown > window.__down", timeout=30_000)
        times.append(page.evaluate("() => window.__shown - window.__down") / 1000)
        page.wait_for_timeout(150)  # let the rerun settle, as a person's keypresses would
    summary("old: keypress → new digit (server slider)", times)


def pad_frames(page, url: str, model: str, repeats: int) -> None:
    """The new path: the latent pad decodes in the browser on every pointer move and key press."""
    page.goto(f"{url}/sliders?model={model}")
    page.get_by_text("Released at z =").wait_for(timeout=60_000)
    weights = page.evaluate("window.__received.map(m => m[1])")
    print(f"{'new: largest message of the first pad page':<44} {max(weights) / 1024:7.0f} KiB (the decoder, once)")
    pad = page.locator("[data-testid=latent-pad]")
    box = pad.bounding_box()
    measures(page, "latent-pad-decode")
    measures(page, "latent-pad-input-to-pixels")
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    for i in range(repeats):
        t = (i % 20) / 20
        page.mouse.move(box["x"] + 20 + t * (box["width"] - 40), box["y"] + 20 + t * (box["height"] - 40))
        page.evaluate(NEXT_FRAME)
    drag_decodes, drag_pixels = measures(page, "latent-pad-decode"), measures(page, "latent-pad-input-to-pixels")
    before = page.evaluate("window.__received.length")
    final = page.locator("[data-testid=latent-pad-code]").inner_text()
    page.mouse.up()
    page.get_by_text(f"Released at {final}").wait_for(timeout=30_000)  # the rerun's last element has arrived
    page.wait_for_timeout(300)
    rerun = sum(page.evaluate(f"window.__received.slice({before}).map(m => m[1])"))
    summary("new: per-frame decode in the browser", drag_decodes)
    summary("new: pointer move → pixels (pad)", drag_pixels)
    print(f"{'new: what the release rerun sends':<44} {rerun / 1024:7.1f} KiB (no weights)")
    pad.focus()
    times = []
    for i in range(repeats):
        page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        page.evaluate(NEXT_FRAME)
        times += measures(page, "latent-pad-input-to-pixels")[:1]  # this press's frame, not a rerun's echo
    summary("new: keypress → new digit (pad)", times)


def manifold_redraws(page, url: str, model: str, repeats: int) -> None:
    """Old: the server's resolution slider (rerun, new PNG); new: the browser's, redrawn in place."""
    page.goto(f"{url}/manifold?model={model}&pad=off")
    image = page.locator("[data-testid=stImage] img").first
    image.wait_for(timeout=60_000)
    slider = page.get_by_role("slider", name="Resolution (cells per side)")
    times = []
    for i in range(repeats // 3):
        old = image.get_attribute("src")
        slider.focus()
        started = time.perf_counter()
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function(
            "(old) => { const img = document.querySelector('[data-testid=stImage] img');"
            " return img && img.src !== old && img.complete; }",
            arg=old,
            timeout=30_000,
        )
        times.append(time.perf_counter() - started)
    summary("old: manifold resolution ±1 (server)", times)
    page.goto(f"{url}/manifold?model={model}")
    page.get_by_text("Decoded in your browser").wait_for(timeout=60_000)  # the server's controls are gone
    page.evaluate(NEXT_FRAME)
    cells = page.get_by_role("slider", name="Cells per side", exact=True)
    cells.focus()
    measures(page, "latent-pad-input-to-pixels")
    times = []
    for i in range(repeats // 3):
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")  # 15 ↔ 16 cells
        page.evaluate(NEXT_FRAME)
        times += measures(page, "latent-pad-input-to-pixels")[:1]  # this press's frame, not a rerun's echo
    summary("new: manifold resolution ±1 (browser)", times)


# Notes, in ms from the navigation's start, when the first paint's picture (an image in the main area) is loaded and
# when the interactive map's first point is in the DOM; the picture may be gone before the benchmark looks.
FIRST_SEEN = """
window.__firstSeen = {picture: -1, map: -1};
const notePicture = () => { if (window.__firstSeen.picture < 0) window.__firstSeen.picture = performance.now(); };
new MutationObserver(() => {
  const img = document.querySelector('[data-testid=stMain] [data-testid=stImage] img');
  if (img && window.__firstSeen.picture < 0) {
    if (img.complete && img.naturalWidth > 0) notePicture(); else img.addEventListener('load', notePicture);
  }
  if (window.__firstSeen.map < 0 && document.querySelector('.js-plotly-plot .scatterlayer .point'))
    window.__firstSeen.map = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def cold_starts(folder: Path, model: str, times: int) -> None:
    """A fresh server each time: launch → healthy; for a first visitor, the picture of the codes (app/first_paint.py)
    and the interactive latent map (its points in the DOM)."""
    from playwright.sync_api import sync_playwright

    healthy, pictured, drawn = [], [], []
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for _ in range(times):
            server, url, seconds = start_server(folder)
            try:
                page = chrome.new_page(viewport={"width": 1400, "height": 1000})
                # The moment each appears, noted by the page itself (the picture may be gone before we look).
                page.add_init_script(FIRST_SEEN)
                page.goto(f"{url}/?model={model}")
                page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=120_000)
                page.wait_for_function("window.__firstSeen.map >= 0", timeout=10_000)
                seen = page.evaluate("window.__firstSeen")
                drawn.append(seen["map"] / 1000)
                if 0 <= seen["picture"] < seen["map"]:
                    pictured.append(seen["picture"] / 1000)
                healthy.append(seconds)
                page.close()
            finally:
                server.terminate()
                server.wait(timeout=10)
        chrome.close()
    summary("cold: server launch → healthy", healthy)
    summary("cold: first visitor's map picture shown", pictured)
    summary("cold: first visitor's interactive map drawn", drawn)
    if len(pictured) < len(drawn):
        print(f"  (no picture before the interactive map in {len(drawn) - len(pictured)} of {len(drawn)} starts)")


def browser(folder: Path, model: str, repeats: int) -> None:
    if not CHROMIUM.exists():
        print("browser: skipped, no /usr/bin/chromium")
        return
    from playwright.sync_api import sync_playwright

    server, url, healthy = start_server(folder)
    try:
        print(f"{'browser: server start to healthy':<44} {1000 * healthy:7.0f} ms")
        with sync_playwright() as playwright:
            chrome = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = chrome.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(COUNT_MESSAGES)
            opened = time.perf_counter()
            page.goto(f"{url}/?model={model}")  # the default page, as a new user first sees it
            page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=120_000)
            print(f"{'browser: latent map drawn (cold server)':<44} {1000 * (time.perf_counter() - opened):7.0f} ms")
            for name, path, ready in (
                ("latent map", "", ".js-plotly-plot .scatterlayer .point"),
                ("sliders", "sliders", "[data-testid=latent-pad-digit]"),
            ):
                opened = time.perf_counter()
                page.goto(f"{url}/{path}?model={model}")  # a new session on a warm server
                page.locator(ready).first.wait_for(timeout=60_000)
                label = f"browser: {name} page drawn (warm server)"
                print(f"{label:<44} {1000 * (time.perf_counter() - opened):7.0f} ms")
            server_keypresses(page, url, model, repeats)
            pad_frames(page, url, model, repeats)
            manifold_redraws(page, url, model, repeats)
            chrome.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, help="folder of checkpoints (default: train a small one)")
    parser.add_argument("--model", help="checkpoint name without .safetensors (default: the first in the folder)")
    parser.add_argument("--repeats", type=int, default=30, help="measurements per figure (default: 30)")
    parser.add_argument("--skip-browser", action="store_true", help="only the server-side figures")
    parser.add_argument("--cold", type=int, default=0, help="only measure N cold starts (a fresh server each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.checkpoints
        if folder is None:
            folder = Path(scratch) / "checkpoints"
            folder.mkdir()
            print("training a small digits AAE to measure on…")
            make_checkpoint(folder)
        model = args.model or sorted(folder.glob("*.safetensors"))[0].stem
        os.environ["AAE_CHECKPOINT_DIRS"] = str(folder)
        os.environ["AAE_RUNS_DIR"] = str(Path(scratch) / "runs")
        print(f"model: {model} in {folder}")
        if args.cold:
            cold_starts(folder, model, args.cold)
            return
        server_side(model, args.repeats)
        if not args.skip_browser:
            browser(folder, model, args.repeats)


if __name__ == "__main__":
    main()
