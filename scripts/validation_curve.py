"""Per-epoch validation error of a semi-supervised or clustering AAE, on a split carved from the training set.

The test set stays untouched: the last VALIDATION training images are held out and scored after every epoch, so
settings (and any "best" epoch) are chosen on them, never on the test set. This is how the settings behind
docs/REPRODUCTION.md were compared.

    PYTHONPATH=. python scripts/validation_curve.py --data-dir ../shared/data/mnist --kind semi-supervised \
        --labels 100 --epochs 15 --instance-noise 0.3
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import load_dataset
from aae_core.kinds import KINDS
from aae_core.loop import train_epoch
from aae_core.metrics import clustering_error, encode_all
from aae_core.priors import make_prior
from aae_core.state import new_state


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder of the MNIST IDX files")
    p.add_argument("--kind", choices=("semi-supervised", "cluster"), default="semi-supervised")
    p.add_argument("--labels", type=int, default=100, help="semi-supervised: labelled training examples")
    p.add_argument("--clusters", type=int, default=16, help="cluster: number of clusters")
    p.add_argument("--latent-dim", type=int, default=None, help="style size (default: 10, or 5 for cluster)")
    p.add_argument("--hidden", type=int, default=1000, help="width of every hidden layer (two per network)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--validation", type=int, default=10000, help="training images held out for validation")
    p.add_argument("--instance-noise", type=float, default=TrainConfig.instance_noise)
    p.add_argument("--labelled-reconstruction", action="store_true")
    p.add_argument("--input-noise", type=float, default=TrainConfig.input_noise, help="denoising: pixel noise std")
    p.add_argument("--input-mask", type=float, default=TrainConfig.input_mask, help="denoising: share of pixels zeroed")
    p.add_argument("--categorical-adversarial", choices=("phases", "joint"), default="phases")
    p.add_argument("--adversarial-weight", type=float, default=TrainConfig.adversarial_weight)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    full = load_dataset("mnist", args.data_dir).train
    n_train = len(full) - args.validation
    train, val = full.subset(torch.arange(n_train)), full.subset(torch.arange(n_train, len(full)))
    kind = KINDS[args.kind]
    latent = args.latent_dim or (10 if args.kind == "semi-supervised" else 5)
    hidden = (args.hidden, args.hidden)
    labels = args.labels if args.kind == "semi-supervised" else 0
    config = ModelConfig(
        kind=args.kind,
        latent_dim=latent,
        hidden_dims=hidden,
        disc_hidden_dims=hidden,
        **kind.sizes(int(full.labels.max()) + 1, args.clusters, labels),
    )
    settings = TrainConfig(
        epochs=args.epochs,
        seed=args.seed,
        labels=labels,
        precision=args.precision,
        instance_noise=args.instance_noise,
        labelled_reconstruction=args.labelled_reconstruction,
        input_noise=args.input_noise,
        input_mask=args.input_mask,
        categorical_adversarial=args.categorical_adversarial,
        adversarial_weight=args.adversarial_weight,
        lr=args.lr,
        snapshots_per_epoch=0,
    )
    state = new_state(config, settings, torch.device("cpu"))
    labels, _ = kind.visible_labels(settings, train.labels)
    pool = (train.images[labels >= 0], labels[labels >= 0]) if "class" in kind.loss_names(settings) else None
    print(json.dumps(vars(args)), flush=True)
    prior = make_prior("gaussian", latent)
    started = time.perf_counter()
    for _ in range(args.epochs):
        losses = train_epoch(state, kind, prior, train.images, settings, val.images[:1], labels=labels, pool=pool)
        state.epoch += 1
        with torch.no_grad():
            probs = encode_all(state.model, val.images, part="y_logits").softmax(-1)
            if args.kind == "semi-supervised":
                scores = {"val_error": float((probs.argmax(1) != val.labels).float().mean())}
            else:
                fit = train.subset(torch.arange(min(10000, n_train)))
                fit_probs = encode_all(state.model, fit.images, part="y_logits").softmax(-1)
                scores = {
                    f"val_error_{protocol}": clustering_error(probs, val.labels, fit_probs, fit.labels, protocol)
                    for protocol in ("paper", "majority")
                }
                scores["clusters_used"] = int(probs.argmax(1).unique().numel())
        elapsed = time.perf_counter() - started
        shown = {**scores, **{k: round(v, 4) for k, v in losses.items()}}
        print(f"epoch {state.epoch} {elapsed:.0f}s " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()), flush=True)


if __name__ == "__main__":
    main()
