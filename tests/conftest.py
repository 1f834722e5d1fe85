"""Shared fixtures: the digits data, tiny IDX files, and a small trained checkpoint."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import DataSplits, load_digits_dataset
from aae_core.priors import make_prior
from aae_core.trainer import train

SMALL = (64, 64)  # hidden sizes that train in a second on digits


REPO_ROOT = Path(__file__).resolve().parents[1]
APP_ENTRY = str(REPO_ROOT / "app" / "streamlit_app.py")
APP_PAGES = [
    "pages_/latent_map.py",
    "pages_/manifold.py",
    "pages_/sliders.py",
    "pages_/style_grid.py",
    "pages_/compare.py",
    "pages_/train_live.py",
    "pages_/your_digit.py",
    "pages_/anomaly.py",
]


def run_cli(
    *args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None, **options
) -> subprocess.CompletedProcess:
    """`python -m aae_core ARGS` in a clean environment (this repo on the path; `env` adds variables)."""
    return subprocess.run(
        [sys.executable, "-m", "aae_core", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
        **options,
    )


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write `array` (uint8) as an IDX file, gzipped when asked."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    target = path.with_name(path.name + ".gz") if compress else path
    target.write_bytes(gzip.compress(raw) if compress else raw)
    return target


def make_idx_dir(directory: Path, n_train: int = 60, n_eval: int = 20, side: int = 28, compress: bool = True) -> Path:
    """A tiny MNIST-shaped dataset: the four standard IDX files with random pixels and labels."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_eval)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, side, side)), compress)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), compress)
    return directory


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return load_digits_dataset()


def small_config(kind: str = "aae", latent_dim: int = 2, **overrides) -> ModelConfig:
    return ModelConfig(
        kind=kind, input_dim=64, latent_dim=latent_dim, hidden_dims=SMALL, disc_hidden_dims=SMALL, **overrides
    )


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, digits) -> Path:
    """A small 2-D AAE with the mixture prior, trained briefly on digits."""
    out = tmp_path_factory.mktemp("ckpt") / "aae.safetensors"
    train(
        small_config(),
        TrainConfig(epochs=3, seed=0),
        make_prior("mixture", 2),
        digits,
        out,
        device="cpu",
        progress=False,
    )
    return out
