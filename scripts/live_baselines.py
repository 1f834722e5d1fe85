"""The Train live page's WAE and AAE on the digits, scored on the last 300 training digits (held out; the test split
is not read): prior_gap, prior_swd and seconds for three seeds of each prior, and the AAE on the page's drawn
presets (ring, smiley, letter A, with the page's default blur). Numbers in docs/BASELINES.md.

    PYTHONPATH=. python scripts/live_baselines.py             # named priors, WAE and AAE
    PYTHONPATH=. python scripts/live_baselines.py --drawn     # the drawn presets, AAE
"""

import sys
import tempfile
from pathlib import Path

import torch

from aae_core.data import DataSplits, load_digits_dataset
from aae_core.trainer import train
from app import sketch
from app.training_panel import DRAWN_EXTENT, DRAWN_POINTS, TrainingRequest


def main() -> None:
    torch.set_num_threads(1)
    d = load_digits_dataset()
    # validation: last 300 training digits held out (the test split is not read)
    n = len(d.train) - 300
    splits = DataSplits(d.train.subset(torch.arange(n)), d.train.subset(torch.arange(n, len(d.train))))
    tmp = Path(tempfile.mkdtemp())
    if "--drawn" in sys.argv:
        runs = [("aae", name) for name in sketch.PRESETS]
    else:
        runs = [(kind, prior) for kind in ("wae", "aae") for prior in ("swissroll", "mixture", "gaussian")]
    for kind, prior in runs:
        gaps = []
        for seed in (0, 1, 2):
            if prior in sketch.PRESETS:  # as the page builds it: the preset's points, thinned, default blur
                points = sketch.thinned(sketch.drawing_points(sketch.preset_strokes(prior), DRAWN_EXTENT), DRAWN_POINTS)
                r = TrainingRequest(kind=kind, prior="drawn", seed=seed, points=tuple(map(tuple, points.tolist())))
            else:
                r = TrainingRequest(kind=kind, prior=prior, seed=seed)
            mc, tc = r.configs(64)
            out = tmp / f"{kind}{prior}{seed}.st"
            res = train(mc, tc, r.make_prior(), splits, out, device="cpu", progress=False)
            gaps.append((round(res.metrics["prior_gap"], 3), round(res.metrics["prior_swd"], 3), round(res.seconds, 1)))
        print(kind, prior, gaps, flush=True)


if __name__ == "__main__":
    main()
