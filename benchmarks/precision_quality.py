"""Does bf16 autocast train as well as fp32? Same data, architecture, budget and seeds; only --precision differs.

    python -m benchmarks.precision_quality --dataset digits --epochs 40 --seeds 0 1 2
    python -m benchmarks.precision_quality --dataset mnist --data-dir /path/to/mnist --epochs 3 --seeds 0

Prints each run's final metrics and wall time, then per precision the mean and spread over seeds: bf16 changes
the arithmetic, not the update rule, so its metrics should fall within the fp32 runs' seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import load_dataset
from aae_core.priors import make_prior
from aae_core.trainer import train

METRICS = ("recon_nll", "prior_swd", "prior_mmd", "prior_gap", "knn_accuracy")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of IDX files (default: none)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per run (default: 40)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: 0 1 2)")
    parser.add_argument("--hidden", type=int, default=1000, help="units in each of the 2 hidden layers (default: 1000)")
    parser.add_argument("--prior", default="mixture", help="prior of the 2-D AAE (default: mixture)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=("fp32", "bf16", "fp32-loop-adam"),
        default=["fp32", "bf16"],
        help="fp32 / bf16 with fused Adam (the defaults' engine), fp32-loop-adam: per-tensor Adam (default: fp32 bf16)",
    )
    return parser.parse_args()


def run(args: argparse.Namespace, data, variant: str, seed: int, out: Path) -> tuple[dict[str, float], float]:
    """Train one AAE; returns its final metrics and its wall time in seconds."""
    precision, fused = variant.removesuffix("-loop-adam"), not variant.endswith("-loop-adam")
    hidden = (args.hidden, args.hidden)
    config = ModelConfig(
        kind="aae", input_dim=data.train.images.shape[1], latent_dim=2, hidden_dims=hidden, disc_hidden_dims=hidden
    )
    result = train(
        config,
        TrainConfig(epochs=args.epochs, seed=seed, precision=precision, fused_adam=fused, snapshots_per_epoch=0),
        make_prior(args.prior, 2),
        data,
        out / f"{variant}-{seed}.safetensors",
        device="cpu",
        progress=False,
    )
    return result.metrics, result.seconds


def main() -> None:
    args = parse_args()
    data = load_dataset(args.dataset, args.data_dir)
    print(
        f"{args.dataset}: {len(data.train)} train / {len(data.eval)} eval, AAE 2-D {args.prior} prior, "
        f"MLPs {args.hidden}-{args.hidden}, {args.epochs} epochs, batch 100, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in args.variants}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for variant in results:  # interleaved, so load from other processes hits all alike
                metrics, seconds = run(args, data, variant, seed, Path(tmp))
                results[variant].append({**metrics, "seconds": seconds})
                shown = "  ".join(f"{k} {metrics[k]:.4f}" for k in METRICS)
                print(f"seed {seed} {variant}: {shown}  ({seconds:.0f} s)", flush=True)
    print("\nmean ± std over seeds")
    for variant, runs in results.items():
        cells = []
        for key in (*METRICS, "seconds"):
            values = [r[key] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{key} {statistics.mean(values):.4f} ± {spread:.4f}")
        print(f"{variant}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
