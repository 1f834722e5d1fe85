"""Choose the WAE's MMD weight on a validation split carved from MNIST's training set (the test set is not read).

For each prior and weight it trains a 2-D WAE on the first 50,000 training images and scores the last 10,000:
reconstruction, and the prior match (swd, mmd, gap) that `evaluate` reports. Prints one row per run.

    PYTHONPATH=. python scripts/wae_weight.py --data-dir ../shared/data/mnist --weights 10 30 100 300 1000 \
        --priors gaussian mixture --epochs 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import DataSplits, load_dataset
from aae_core.evaluation import evaluate
from aae_core.kinds import KINDS
from aae_core.loop import train_epoch
from aae_core.priors import make_prior
from aae_core.reproduce import hold_out
from aae_core.state import new_state


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--weights", type=float, nargs="+", default=[10, 30, 100, 300, 1000])
    p.add_argument("--priors", nargs="+", default=["gaussian", "mixture"])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", type=int, default=10000)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rest, validation = hold_out(load_dataset("mnist", args.data_dir), args.validation)
    scored = DataSplits(rest.train, validation)
    for prior_name in args.priors:
        for weight in args.weights:
            started = time.perf_counter()
            prior = make_prior(prior_name, 2)
            model_config = ModelConfig(kind="wae", input_dim=784, latent_dim=2)
            train_config = TrainConfig(epochs=args.epochs, seed=args.seed, mmd_weight=weight)
            state = new_state(model_config, train_config, torch.device("cpu"))
            images = rest.train.images
            for _ in range(args.epochs):
                train_epoch(state, KINDS["wae"], prior, images, train_config, images[:10])
                state.epoch += 1
            metrics, _ = evaluate(state.model, prior, scored, seed=args.seed)
            keep = ("recon_nll", "prior_swd", "prior_swd_floor", "prior_mmd", "prior_gap", "knn_accuracy")
            row = {"prior": prior_name, "weight": weight, "epochs": args.epochs, "seed": args.seed}
            row |= {k: round(metrics[k], 4) for k in keep} | {"seconds": round(time.perf_counter() - started)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
