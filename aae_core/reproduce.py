"""Paper-versus-ours tables: train the paper's experiments over several seeds and compare with its numbers.

Reference: Makhzani et al., "Adversarial Autoencoders", arXiv 1511.05644 — Table 1 (Parzen window log-likelihood on
MNIST), Table 2 (semi-supervised test error), §6 (unsupervised clustering error).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import DataSplits
from .metrics import choose_parzen_sigma, parzen_log_likelihood
from .models import ModelConfig
from .priors import make_prior
from .training import TrainConfig, train


@dataclass(frozen=True)
class Experiment:
    """One row of the paper: which model to train, which metric to read, and the paper's value."""

    kind: str
    metric: str  # a key of the checkpoint's metrics, or "parzen_ll"
    paper: float
    unit: str  # how the paper reports it: "% error" or "nats"
    latent_dim: int
    sizes: dict[str, int] = field(default_factory=dict)
    labels: int = 0  # TrainConfig.labels
    prior: str = "gaussian"


EXPERIMENTS: dict[str, Experiment] = {
    "semi-supervised-100": Experiment("semi-supervised", "classification_error", 1.90, "% error", 10, labels=100),
    "semi-supervised-1000": Experiment("semi-supervised", "classification_error", 1.60, "% error", 10, labels=1000),
    "semi-supervised-all": Experiment("semi-supervised", "classification_error", 0.85, "% error", 10, labels=-1),
    "clustering-16": Experiment("cluster", "cluster_error_paper", 9.55, "% error", 5, {"clusters": 16}),
    "clustering-30": Experiment("cluster", "cluster_error_paper", 4.10, "% error", 5, {"clusters": 30}),
    "parzen": Experiment("aae", "parzen_ll", 340.0, "nats", 8),
}


def model_config(experiment: Experiment, data: DataSplits, hidden: tuple[int, ...]) -> ModelConfig:
    classes = int(data.train.labels.max()) + 1
    k = experiment.sizes.get("clusters", classes)
    categorical = {"categories": k, "num_classes": k} if experiment.kind in ("semi-supervised", "cluster") else {}
    return ModelConfig(
        kind=experiment.kind,
        input_dim=data.train.images.shape[1],
        latent_dim=experiment.latent_dim,
        hidden_dims=hidden,
        disc_hidden_dims=hidden,
        **categorical,
    )


def parzen_score(checkpoint: Path, data: DataSplits, seed: int, samples: int = 10000) -> float:
    """The paper's protocol (§3): a Parzen window on decoded prior samples, σ chosen on a validation split of
    the training set, the mean log-likelihood of the test set (in nats, pixels in [0, 1])."""
    from .inference import load_model

    model = load_model(checkpoint)
    generated = model.decode(model.sample_prior(samples, seed=seed)).reshape(samples, -1)
    validation = data.train.images[-min(1000, len(data.train) // 5) :]
    sigma = choose_parzen_sigma(generated, validation)
    return parzen_log_likelihood(generated, data.eval.images, sigma)


def run(
    names: list[str],
    data: DataSplits,
    *,
    seeds: int,
    epochs: int,
    out_dir: Path,
    hidden: tuple[int, ...] = (1000, 1000),
    device: str = "auto",
    progress: bool = True,
    precision: str = "fp32",
    first_seed: int = 0,
) -> list[dict[str, Any]]:
    """Train every experiment over `seeds` seeds from `first_seed` on; returns one row per experiment (paper value,
    ours per seed). Separate processes can run different seeds at once."""
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment {unknown[0]!r}; choose from: {', '.join(EXPERIMENTS)}")
    rows = []
    for name in names:
        experiment = EXPERIMENTS[name]
        values, started = [], time.perf_counter()
        seed_ids = list(range(first_seed, first_seed + seeds))
        for seed in seed_ids:
            config = model_config(experiment, data, hidden)
            prior = make_prior(experiment.prior, experiment.latent_dim)
            path = out_dir / f"{name}-seed{seed}.safetensors"
            result = train(
                config,
                TrainConfig(epochs=epochs, seed=seed, labels=experiment.labels, precision=precision),
                prior,
                data,
                path,
                device=device,
                progress=progress,
            )
            if experiment.metric == "parzen_ll":
                values.append(parzen_score(path, data, seed))
            else:
                values.append(100 * result.metrics[experiment.metric])  # the paper reports percent
        rows.append(
            {
                "experiment": name,
                "unit": experiment.unit,
                "paper": experiment.paper,
                "ours": values,
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "epochs": epochs,
                "seeds": seeds,
                "seed_ids": seed_ids,
                "dataset": data.train.name,
                "minutes": (time.perf_counter() - started) / 60,
            }
        )
    return rows


def seed_list(row: dict[str, Any]) -> str:
    """The seeds of a row, as "0, 1, 2" (rows written before seed ids were recorded: their count)."""
    return ", ".join(map(str, row["seed_ids"])) if "seed_ids" in row else str(row["seeds"])


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Paper versus ours, one line per experiment."""
    lines = [
        "| experiment | unit | paper | ours (mean ± std) | seeds | epochs | dataset | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = f"{row['mean']:.2f} ± {row['std']:.2f}" if math.isfinite(row["mean"]) else "n/a"
        lines.append(
            f"| {row['experiment']} | {row['unit']} | {row['paper']:.2f} | {ours} | {seed_list(row)} | "
            f"{row['epochs']} | {row['dataset']} | {row['minutes']:.1f} |"
        )
    return "\n".join(lines)


def write_tables(rows: list[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "reproduction.md", out_dir / "reproduction.json"
    md.write_text(markdown_table(rows) + "\n")
    js.write_text(json.dumps(rows, indent=2) + "\n")
    return md, js
