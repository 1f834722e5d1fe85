"""Train AE, VAE, AAE and WAE on MNIST without some classes, then tabulate the anomaly ROC AUCs `evaluate` reports.

Each run is a plain `python -m aae_core train ... --exclude-classes` (skipped when its checkpoint is already at the
asked epochs, so the script can be re-run after an interruption), then `evaluate --json` on the test set.

    PYTHONPATH=. python scripts/anomaly_table.py --data-dir ../shared/data/mnist --exclude 9 --seeds 0 1 2 \
        --epochs 10 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

KINDS = ("ae", "vae", "aae", "wae")
SCORES = ("recon", "prior", "disc")


def run(command: list[str]) -> str:
    result = subprocess.run([sys.executable, "-m", "aae_core", *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def train_and_evaluate(args: argparse.Namespace, kind: str, seed: int) -> dict:
    out = args.out / f"{kind}-no{'-'.join(args.exclude)}-seed{seed}.safetensors"
    started = time.perf_counter()
    common = ["--epochs", str(args.epochs), "--threads", "1", "--quiet", "--data-dir", str(args.data_dir)]
    if out.exists():
        message = run(["train", "--resume", str(out), *common])
    else:
        flags = ["--model", kind, "--prior", "gaussian", "--latent-dim", str(args.latent_dim), "--dataset", "mnist"]
        message = run(
            ["train", *flags, "--seed", str(seed), "--exclude-classes", *args.exclude, "--out", str(out), *common]
        )
    seconds = time.perf_counter() - started
    report = json.loads(run(["evaluate", str(out), "--data-dir", str(args.data_dir), "--json"]))
    landing = where_they_land(out, [int(c) for c in args.exclude])
    print(f"{out.name}: {seconds:.0f} s ({message.splitlines()[0] if message else ''}); {landing}", flush=True)
    return {"kind": kind, "seed": seed, "seconds": seconds, **report}


def where_they_land(path: Path, held_out: list[int]) -> str:
    """Which known class the held-out test codes land among (a 10-nearest-neighbour vote over a third of the known
    codes), and how far from the origin they lie against the known ones (median |z|)."""
    import numpy as np

    from aae_core.inference import load_model

    atlas = load_model(path).atlas
    held = np.isin(atlas.labels, held_out)
    codes, known, labels = atlas.codes[held], atlas.codes[~held][::3], atlas.labels[~held][::3]
    nearest = labels[np.argsort(((codes[:, None, :] - known[None]) ** 2).sum(-1), axis=1)[:, :10]]
    votes = np.bincount([np.bincount(row, minlength=10).argmax() for row in nearest], minlength=10) / len(codes)
    top = ", ".join(f"{label}: {share:.0%}" for label, share in sorted(enumerate(votes), key=lambda x: -x[1])[:3])
    norms = np.median(np.linalg.norm(codes, axis=1)), np.median(np.linalg.norm(atlas.codes[~held], axis=1))
    return f"held-out codes land among {top}; median |z| {norms[0]:.2f} (known {norms[1]:.2f})"


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--exclude", nargs="+", default=["9"])
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one CPU thread each")
    p.add_argument("--out", type=Path, default=Path("runs/anomaly"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(train_and_evaluate, args, kind, seed) for seed in args.seeds for kind in args.kinds]
        results = [job.result() for job in jobs]
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(
        f"\nMNIST test set, held out: {', '.join(args.exclude)}; {args.latent_dim}-D Gaussian prior; "
        f"{args.epochs} epochs; seeds {', '.join(map(str, args.seeds))}: mean ± std (min–max)\n"
    )
    print("| model | AUC recon error | AUC -log p(z) | AUC -logit D(z) | recon_nll (known) | wall time per run |")
    print("|---|---|---|---|---|---|")
    for kind in args.kinds:
        mine = [r for r in results if r["kind"] == kind]
        aucs = [cell([r["anomaly"]["pooled"][s] for r in mine if s in r["anomaly"]["pooled"]]) for s in SCORES]
        recon = cell([r["metrics"]["recon_nll"] for r in mine]).split(" (")[0]
        seconds = statistics.mean(r["seconds"] for r in mine)
        print(f"| {kind} | {' | '.join(aucs)} | {recon} | {seconds / 60:.1f} min |")


if __name__ == "__main__":
    main()
