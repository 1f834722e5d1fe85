"""Latent-space arithmetic for the pages: projections, grids of codes, slider ranges, prior grids.

Pure functions of arrays (and of a prior object), no Streamlit calls, so they are testable on their own. Importing
this module does not import PyTorch (the first latent map is drawn before it is loaded: app/first_paint.py); the
functions that need it import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from aae_core.priors import Prior

MAX_MAP_POINTS = 5000  # more points than this make an SVG scatter sluggish in the browser; we show a fixed subset
MAX_TSNE_POINTS = 2000  # t-SNE on 2 CPU cores: ~10 s for 2,000 points, minutes for 10,000


@dataclass(frozen=True)
class Projection:
    """2-D view of codes: `points` (N, 2), axis titles, and a linear map for other codes (None for t-SNE)."""

    points: np.ndarray
    axis_titles: tuple[str, str]
    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (latent_dim, 2)

    def apply(self, codes: np.ndarray) -> np.ndarray | None:
        """Project other codes (prior samples, a slider position) the same way; None when not linear."""
        if self.components is None or self.mean is None:
            return None
        return (np.asarray(codes, dtype=np.float64) - self.mean) @ self.components


def display_subset(n: int, limit: int = MAX_MAP_POINTS, seed: int = 0) -> np.ndarray:
    """Indices of at most `limit` of n points, fixed by the seed (so the map is the same on every rerun)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def project_codes(codes: np.ndarray, method: str = "pca", seed: int = 0) -> Projection:
    """2-D codes as they are; higher-dimensional ones by PCA (linear, so the prior projects too) or t-SNE."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[1] == 1:
        return Projection(np.column_stack([codes[:, 0], np.zeros(len(codes))]), ("z₁", ""))
    if codes.shape[1] == 2:
        return Projection(codes, ("z₁", "z₂"), np.zeros(2), np.eye(2))
    if method == "tsne":
        from sklearn.manifold import TSNE  # imported on request only: it is slow to import and to run

        perplexity = float(min(30, max(2, (len(codes) - 1) // 3)))
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(codes)
        return Projection(points, ("t-SNE 1", "t-SNE 2"))
    mean = codes.mean(axis=0)
    # The right singular vectors of the centred codes are the principal axes.
    _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    explained = singular**2 / max(float((singular**2).sum()), 1e-12)
    components = vt[:2].T
    titles = (f"PC 1 ({explained[0]:.0%} of variance)", f"PC 2 ({explained[1]:.0%} of variance)")
    return Projection((codes - mean) @ components, titles, mean, components)


def prior_samples(prior: Prior | None, n: int, seed: int = 0) -> np.ndarray | None:
    """n samples of the prior as an array, or None when the prior cannot be rebuilt or sampled."""
    if prior is None:
        return None
    import torch

    from aae_core.priors import PriorError

    try:
        return prior.sample(n, torch.Generator().manual_seed(seed)).numpy()
    except PriorError:
        return None


def prior_density_grid(
    prior: Prior | None, x_range: tuple[float, float], y_range: tuple[float, float], resolution: int = 120
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(xs, ys, density (resolution, resolution)) of a 2-D prior with a density; None when there is none."""
    if prior is None or prior.dim != 2 or not prior.has_density:
        return None
    import torch

    from aae_core.priors import PriorError

    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)
    grid = torch.tensor(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2), dtype=torch.float32)
    try:
        density = prior.log_prob(grid).exp().numpy().reshape(resolution, resolution)
    except PriorError:
        return None
    return xs, ys, density


def discriminator_grid(
    discriminate: Callable[[torch.Tensor], torch.Tensor],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    resolution: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, D(z) (resolution, resolution)) over a 2-D latent plane, given D as probabilities of (N, 2) codes."""
    import torch

    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)
    grid = torch.from_numpy(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32))
    with torch.no_grad():
        probability = discriminate(grid).float().cpu().numpy()
    return xs, ys, probability.reshape(resolution, resolution)


def symmetric_extent(*arrays: np.ndarray | None, floor: float = 1.0, margin: float = 1.1) -> float:
    """Half-width of a square view around 0 that holds almost all points of the given 2-D arrays."""
    largest = floor
    for points in arrays:
        if points is not None and len(points):
            largest = max(largest, float(np.percentile(np.abs(points), 99.5)))
    return _round_up(largest * margin)


def slider_limits(codes: np.ndarray | None, prior_scale: float) -> np.ndarray:
    """Per-dimension half-width for latent sliders: wide enough for the prior and for almost every code."""
    width = max(prior_scale * 1.5, 1.0)
    if codes is None or not len(codes):
        return np.full(1, _round_up(width))
    spread = np.percentile(np.abs(codes), 99.5, axis=0)
    return np.array([_round_up(max(width, float(s) * 1.1)) for s in spread])


def _round_up(value: float, step: float = 0.5) -> float:
    return math.ceil(value / step) * step


def grid_codes(
    base: np.ndarray,
    dims: tuple[int, int],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    resolution: int,
) -> np.ndarray:
    """Codes (resolution², latent_dim) on a grid over two dimensions, the others fixed at `base`.

    Row-major with the largest y first, so a tiled image of their decodes reads like the plot (y up).
    """
    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)[::-1]
    codes = np.repeat(np.asarray(base, dtype=np.float32)[None], resolution * resolution, axis=0)
    codes[:, dims[0]] = np.tile(xs, resolution)
    codes[:, dims[1]] = np.repeat(ys, resolution)
    return codes


def interpolate(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """`steps` codes on the straight line from start to end, both included: (steps, latent_dim)."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - t) * np.asarray(start, dtype=np.float32) + t * np.asarray(end, dtype=np.float32)).astype(np.float32)
