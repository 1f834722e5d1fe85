"""How much of a mixture-prior model's prior_swd is the share of codes each component gets, not their shape?

    python scripts/mixture_mass.py --data-dir ../shared/data/mnist CKPT [CKPT ...]

For each 2-D checkpoint with a mixture prior: the codes of the evaluation images are assigned to their most likely
component; the script prints each component's share of codes, the sliced Wasserstein distance of the codes to prior
samples (`prior_swd`, as `evaluate` computes it), and the same distance for prior samples drawn with the codes'
component shares but the prior's own shape within each component. When the two distances agree, the mismatch is
all in how the mass is shared out between the components.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from aae_core.data import load_dataset
from aae_core.inference import load_model
from aae_core.metrics import prior_match
from aae_core.priors import MixturePrior


def mass_report(path: Path, images: torch.Tensor, max_points: int = 10000) -> str:
    """One checkpoint's line: component shares, prior_swd, the swd of prior samples with those shares, the floor."""
    model = load_model(path)
    prior = model.prior
    if not isinstance(prior, MixturePrior):
        return f"{path.name}: not a mixture prior ({model.prior_name}); skipped"
    codes = model.encode(images[:max_points]).float()
    components = prior.component_log_prob(codes).argmax(dim=1)
    shares = torch.bincount(components, minlength=prior.components).float() / len(codes)
    # The seed evaluate used (the run's), so prior_swd and its floor are the stored metrics.
    seed = model.training_seed
    measured = prior_match(codes, prior, seed=seed)
    reshaped = prior.sample_given_labels(components, torch.Generator().manual_seed(12345))
    same_shares = prior_match(reshaped, prior, seed=seed)["prior_swd"]
    return (
        f"{path.name}: prior_swd {measured['prior_swd']:.3f}, prior samples with the codes' shares "
        f"{same_shares:.3f}, floor {measured['prior_swd_floor']:.3f}; shares "
        + " ".join(f"{s:.3f}" for s in shares.tolist())
        + f" (min {shares.min():.3f}, max {shares.max():.3f}, uniform {1 / prior.components:.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images = load_dataset(args.dataset, args.data_dir).eval.images
    for path in args.checkpoints:
        print(mass_report(path, images), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
