"""Inference latency on CPU: what the explorer does when a user drags a slider or opens a page.

    python -m benchmarks.inference                                   # the paper's 784-1000-1000-2 AAE, random weights
    python -m benchmarks.inference --checkpoint checkpoints/some.safetensors --data-dir /path/to/mnist

Times, as median and 95th percentile over repeats: one decode (a slider move), a 20x20 manifold grid (400 decodes in
one batch), encoding a 10,000-image atlas, and a full Streamlit rerun of the app after moving its first slider
(AppTest; skipped with a message when app/streamlit_app.py is not there). Weights do not change the cost, so by
default a freshly initialised model of the paper's MNIST size is used.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from aae_core.acceleration import bf16_supported
from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import load_dataset
from aae_core.inference import LatentModel, load_model
from aae_core.priors import make_prior
from aae_core.state import RunInfo, new_state, state_to_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def paper_sized_model() -> LatentModel:
    """An untrained 784-1000-1000-2 AAE, as the app would load it (no file needed)."""
    model_config, train_config = ModelConfig(kind="aae", input_dim=784, latent_dim=2), TrainConfig()
    state = new_state(model_config, train_config, torch.device("cpu"))
    dataset = {"name": "random", "image_shape": [28, 28], "n_train": 0, "n_eval": 10_000, "classes": []}
    run = RunInfo(model_config, train_config, make_prior("gaussian", 2), dataset)
    return LatentModel(state_to_checkpoint(state, run), device="cpu", source="paper-sized AAE")


def timings(fn: Callable[[], object], repeats: int, warmup: int = 3) -> np.ndarray:
    """Wall-clock milliseconds of `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1e3)
    return np.array(out)


def show(name: str, ms: np.ndarray, target: str = "") -> None:
    median, p95 = np.median(ms), np.percentile(ms, 95)
    print(f"  {name:<34} median {median:8.2f} ms   p95 {p95:8.2f} ms   (n={len(ms)}){target}", flush=True)


def manifold_codes(side: int = 20, half_width: float = 2.0) -> torch.Tensor:
    """The codes of a side x side grid over [-half_width, half_width]^2, (side*side, 2)."""
    axis = torch.linspace(-half_width, half_width, side)
    return torch.cartesian_prod(axis, axis)


def app_slider_rerun(app: Path, repeats: int) -> None:
    """Time AppTest reruns of the app after moving its first slider: on its sliders page (a page file with
    "slider" in its name) when it has one and shows a slider, else on its first page."""
    if not app.exists():
        print(f"  app slider rerun: skipped, {app} does not exist on this branch (the app is built separately)")
        return
    from streamlit.testing.v1 import AppTest  # imported here: Streamlit is needed only for this part

    at = AppTest.from_file(str(app), default_timeout=120).run()
    pages = sorted(p for p in app.parent.rglob("*.py") if "slider" in p.name and p != app)
    if pages:
        at.switch_page(str(pages[0].relative_to(app.parent))).run()
        if not at.slider and not at.exception:  # that page shows no slider here (no model?): back to the first
            at = AppTest.from_file(str(app), default_timeout=120).run()
    if at.exception or not at.slider:
        problem = at.exception[0].message if at.exception else "no slider on its first page or its sliders page"
        print(f"  app slider rerun: skipped ({problem})")
        return
    slider = at.slider[0]
    low, high = float(slider.min), float(slider.max)
    positions = iter(np.linspace(low, high, repeats + 3 + 1)[1:])

    def move() -> None:
        at.slider[0].set_value(type(slider.value)(next(positions))).run()

    ms = timings(move, repeats)
    errors = [e.message for e in at.exception]
    show(f"app rerun, slider '{slider.label}' moved", ms, "" if not errors else f"  EXCEPTION: {errors[0]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint (default: paper-sized, untrained)")
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST IDX folder for the atlas (default: random)")
    parser.add_argument("--app", type=Path, default=ROOT / "app" / "streamlit_app.py", help="the Streamlit entry")
    parser.add_argument("--repeats", type=int, default=200, help="repeats of the decode timings (default: 200)")
    parser.add_argument("--app-repeats", type=int, default=20, help="slider moves timed in the app (default: 20)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = load_model(args.checkpoint) if args.checkpoint else paper_sized_model()
    print(
        f"{model.source}: {model.kind}, latent {model.latent_dim}-D, hidden {list(model.config.hidden_dims)}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    z_dim = model.latent_dim
    one = torch.zeros(1, z_dim)
    grid = manifold_codes() if z_dim == 2 else torch.randn(400, z_dim)
    if args.data_dir is not None:
        atlas_images = load_dataset("mnist", args.data_dir).eval.images[:10_000]
    else:
        atlas_images = torch.rand(10_000, model.config.input_dim)

    show("single decode (slider move)", timings(lambda: model.decode(one), args.repeats), "   target p95 < 10 ms")
    show(
        "20x20 manifold grid (400 decodes)", timings(lambda: model.decode(grid), args.repeats // 4), "   target < 20 ms"
    )
    if bf16_supported(torch.device("cpu")):  # what bf16 matmuls would give the grid (not what the app does)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            show("  the same grid under bf16 autocast", timings(lambda: model.decode(grid), args.repeats // 4))
    show(f"encode the {len(atlas_images):,}-image atlas", timings(lambda: model.encode(atlas_images), 10, warmup=1))
    app_slider_rerun(args.app, args.app_repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
