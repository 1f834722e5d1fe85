"""The Train live page's WAE and AAE on the digits, scored on the last 300 training digits (held out; the test split
is not read): prior_gap, prior_swd and seconds for three seeds of each prior. Numbers in docs/BASELINES.md.

    PYTHONPATH=. python scripts/live_baselines.py
"""

import tempfile
from pathlib import Path

import torch

from aae_core.data import DataSplits, load_digits_dataset
from aae_core.priors import make_prior
from aae_core.trainer import train
from app.training_panel import TrainingRequest


def main() -> None:
    torch.set_num_threads(1)
    d = load_digits_dataset()
    # validation: last 300 training digits held out (the test split is not read)
    n = len(d.train) - 300
    splits = DataSplits(d.train.subset(torch.arange(n)), d.train.subset(torch.arange(n, len(d.train))))
    tmp = Path(tempfile.mkdtemp())
    for kind in ("wae", "aae"):
        for prior in ("swissroll", "mixture", "gaussian"):
            gaps = []
            for seed in (0, 1, 2):
                r = TrainingRequest(kind=kind, prior=prior, seed=seed)
                mc, tc = r.configs(64)
                out = tmp / f"{kind}{prior}{seed}.st"
                res = train(mc, tc, make_prior(prior, 2), splits, out, device="cpu", progress=False)
                gaps.append(
                    (round(res.metrics["prior_gap"], 3), round(res.metrics["prior_swd"], 3), round(res.seconds, 1))
                )
            print(kind, prior, gaps, flush=True)


if __name__ == "__main__":
    main()
