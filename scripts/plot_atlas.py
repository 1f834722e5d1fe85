"""Draw the latent maps of 2-D checkpoints side by side as one PNG (prior samples in grey, codes by label).

Usage: python scripts/plot_atlas.py OUT.png CKPT [CKPT ...]
Reads only the checkpoints (their atlas), so it needs no dataset. Uses Pillow alone, no plotting library.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from aae_core.inference import load_model

# Tableau-10, the colours most plotting libraries use for labels 0-9.
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


def draw_panel(path: Path, size: int = 420, extent: float | None = None) -> Image.Image:
    """One checkpoint's map: the prior beneath, the atlas codes on top, title and metrics below."""
    model = load_model(path)
    if model.atlas is None or model.latent_dim != 2:
        raise SystemExit(f"{path}: needs a 2-D checkpoint with an atlas")
    codes, labels = model.atlas.codes, model.atlas.labels
    prior = model.sample_prior(5000, seed=0).numpy()
    extent = extent or float(np.abs(prior).max()) * 1.25
    margin, footer = 10, 44
    image = Image.new("RGB", (size, size + footer), "white")
    draw = ImageDraw.Draw(image)
    scale = (size - 2 * margin) / (2 * extent)

    def to_pixel(points: np.ndarray) -> np.ndarray:
        return np.stack([margin + (points[:, 0] + extent) * scale, margin + (extent - points[:, 1]) * scale], 1)

    draw.rectangle([margin, margin, size - margin, size - margin], outline=(180, 180, 180))
    for x, y in to_pixel(prior):
        draw.point((x, y), fill=(175, 175, 175))
    order = np.random.default_rng(0).permutation(len(codes))  # no class drawn wholly on top of another
    inside = np.all(np.abs(codes) <= extent, axis=1)
    for (x, y), label, keep in zip(to_pixel(codes[order]), labels[order], inside[order], strict=True):
        if keep:
            draw.ellipse((x - 1.2, y - 1.2, x + 1.2, y + 1.2), fill=PALETTE[int(label) % 10])
    m = model.metrics
    outside = 1 - inside.mean()
    draw.text((margin, size), f"{model.kind.upper()}  {path.stem}", fill="black")
    draw.text(
        (margin, size + 14),
        f"swd {m['prior_swd']:.2f}  mmd {m['prior_mmd']:.3f}  gap {m['prior_gap']:.2f}  knn {m['knn_accuracy']:.2f}",
        fill="black",
    )
    draw.text((margin, size + 28), f"{outside:.1%} of codes outside the frame", fill=(90, 90, 90))
    return image


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    panels = [draw_panel(Path(p)) for p in argv[1:]]
    sheet = Image.new("RGB", (sum(p.width for p in panels), panels[0].height), "white")
    x = 0
    for panel in panels:
        sheet.paste(panel, (x, 0))
        x += panel.width
    sheet.save(argv[0])
    print(f"wrote {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
