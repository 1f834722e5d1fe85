"""Latency of the explorer: server-side slider rerun and 20×20 manifold (AppTest), and the browser's
keypress-to-new-image time (Chromium through Playwright). A benchmark to print, not a timed test.

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


def browser(model: str, repeats: int) -> None:
    if not CHROMIUM.exists():
        print("browser: skipped, no /usr/bin/chromium")
        return
    from playwright.sync_api import sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        healthy = time.perf_counter()
        print(f"{'browser: server start to healthy':<44} {1000 * (healthy - started):7.0f} ms")
        with sync_playwright() as playwright:
            chrome = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = chrome.new_page(viewport={"width": 1400, "height": 1000})
            opened = time.perf_counter()
            page.goto(f"{url}/?model={model}")  # the default page, as a new user first sees it
            page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=120_000)
            print(f"{'browser: latent map drawn (cold server)':<44} {1000 * (time.perf_counter() - opened):7.0f} ms")
            for name, path, ready in (
                ("latent map", "", ".js-plotly-plot .scatterlayer .point"),
                ("sliders", "sliders", "[data-testid=stImage] img"),
            ):
                opened = time.perf_counter()
                page.goto(f"{url}/{path}?model={model}")  # a new session on a warm server
                page.locator(ready).first.wait_for(timeout=60_000)
                label = f"browser: {name} page drawn (warm server)"
                print(f"{label:<44} {1000 * (time.perf_counter() - opened):7.0f} ms")
            image = page.locator("[data-testid=stImage]").filter(has_text="decode(z)").locator("img")
            image.wait_for(timeout=60_000)
            # Timestamps taken in the page: keydown, then the decoded <img> finishing loading its new source.
            page.evaluate("""() => {
                window.__down = 0; window.__shown = 0;
                document.addEventListener('keydown', () => { window.__down = performance.now(); }, true);
                document.addEventListener('load', (e) => {
                    if (e.target.tagName === 'IMG' && e.target.closest('[data-testid=stImage]')?.innerText
                        .includes('decode(z)')) window.__shown = performance.now();
                }, true);
            }""")
            slider = page.get_by_role("slider", name="z1")
            slider.focus()
            times = []
            for i in range(repeats):
                page.evaluate("() => { window.__shown = 0; }")
                page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
                page.wait_for_function("() => window.__shown > window.__down", timeout=30_000)
                times.append(page.evaluate("() => window.__shown - window.__down") / 1000)
                page.wait_for_timeout(150)  # let the rerun settle, as a person's keypresses would
            summary("browser: keypress → new digit shown", times)
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
        server_side(model, args.repeats)
        if not args.skip_browser:
            browser(model, args.repeats)


if __name__ == "__main__":
    main()
