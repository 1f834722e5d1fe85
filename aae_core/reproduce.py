"""Paper-versus-ours tables: train the paper's experiments over several seeds and compare with its numbers.

Reference: Makhzani et al., "Adversarial Autoencoders", arXiv 1511.05644 — Table 1 (Parzen window log-likelihood on
MNIST), Table 2 (semi-supervised test error), §6 (unsupervised clustering error), §7 (2-D dimensionality reduction).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .checkpoint import Checkpoint, load_checkpoint
from .config import SCHEDULE, ConfigError, ModelConfig, TrainConfig
from .data import DataSplits, ImageData, hold_out
from .evaluation import evaluate
from .inference import load_model
from .kinds import get_kind
from .metrics import choose_parzen_sigma, classification_error, clustering_error, encode_all, parzen_log_likelihood
from .models import AutoEncoder
from .priors import make_prior
from .state import TrainingState, reschedule
from .trainer import train


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
    # TrainConfig settings of this experiment beside the defaults (chosen on a validation split; docs/REPRODUCTION.md)
    settings: dict[str, Any] = field(default_factory=dict)
    encoder_norm: str = "none"  # ModelConfig.encoder_norm


# Denoising and a tenth of the learning rates after epoch 60, where the error stops falling (chosen on the 100-label
# validation split). The classifier side limits these rows, so the encoder also gets dropout, with the lighter mask
# that did best for a classifier alone: better on the validation split of every row (docs/REPRODUCTION.md).
SEMI_SUPERVISED = {"input_mask": 0.2, "lr_decay_epoch": 60, "hidden_dropout": 0.5}
EXPERIMENTS: dict[str, Experiment] = {
    "semi-supervised-100": Experiment(
        "semi-supervised", "classification_error", 1.90, "% error", 10, labels=100, settings=SEMI_SUPERVISED
    ),
    "semi-supervised-1000": Experiment(
        "semi-supervised", "classification_error", 1.60, "% error", 10, labels=1000, settings=SEMI_SUPERVISED
    ),
    "semi-supervised-all": Experiment(
        "semi-supervised", "classification_error", 0.85, "% error", 10, labels=-1, settings=SEMI_SUPERVISED
    ),
    # The paper's clustering AAE batch-normalizes its encoder (A.3). On the validation split that lowered the error
    # with 16 clusters and raised it with 30 (docs/REPRODUCTION.md), so only the 16-cluster row uses it.
    "clustering-16": Experiment(
        "cluster", "cluster_error_paper", 9.55, "% error", 5, {"clusters": 16}, encoder_norm="batch"
    ),
    "clustering-30": Experiment("cluster", "cluster_error_paper", 4.10, "% error", 5, {"clusters": 30}),
    "parzen": Experiment("aae", "parzen_ll", 340.0, "nats", 8),
    # §7, 2-D codes W·y + z: 20 cluster heads without labels, and 10 with 1000 labels. The paper's figures for these
    # could not be read here (docs/REPRODUCTION.md), so the table shows a dash beside ours.
    "dimred-20": Experiment("dimred", "cluster_error_paper", math.nan, "% error", 2, {"clusters": 20}),
    "dimred-1000": Experiment("dimred", "cluster_error_paper", math.nan, "% error", 2, labels=1000),
    # The VAE of the same size, through the same Parzen code: the paper's Table 1 has no VAE row.
    "parzen-vae": Experiment("vae", "parzen_ll", math.nan, "nats", 8),
}


def parse_settings(items: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs naming TrainConfig fields, each value read as that field's type (`--set input_mask=0.25`)."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    settings: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        fixed = ("epochs", "seed", "labels", "precision", "hold_out")  # hold_out: --validation says it
        if not sep or name not in defaults or name in fixed or type(defaults[name]) not in (bool, int, float, str):
            raise ConfigError(
                f"--set takes NAME=VALUE with NAME a single-valued training setting other than epochs, seed, labels, "
                f"precision and hold_out, got {item!r}"
            )
        kind = type(defaults[name])
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                settings[name] = text.lower() in ("true", "1")
            else:
                settings[name] = kind(text)
        except ValueError:
            raise ConfigError(f"--set {name}: {text!r} is not a {kind.__name__}") from None
    TrainConfig(**settings)  # the ranges and choices, checked before any training
    return settings


def model_config(
    experiment: Experiment, data: DataSplits, hidden: tuple[int, ...], encoder_norm: str | None = None
) -> ModelConfig:
    """The experiment's architecture at these hidden sizes (and encoder normalization, when given)."""
    classes = int(data.train.labels.max()) + 1
    sizes = get_kind(experiment.kind).sizes(classes, experiment.sizes.get("clusters", classes), experiment.labels)
    return ModelConfig(
        kind=experiment.kind,
        input_dim=data.train.images.shape[1],
        latent_dim=experiment.latent_dim,
        hidden_dims=hidden,
        disc_hidden_dims=hidden,
        encoder_norm=experiment.encoder_norm if encoder_norm is None else encoder_norm,
        **sizes,
    )


def parzen_score(checkpoint: Path, data: DataSplits, seed: int, samples: int = 10000) -> float:
    """The paper's protocol (§3): a Parzen window on decoded prior samples, σ chosen on a validation split of
    the training set, the mean log-likelihood of the test set (in nats, pixels in [0, 1])."""
    model = load_model(checkpoint)
    generated = model.decode(model.sample_prior(samples, seed=seed)).reshape(samples, -1)
    validation = data.train.images[-min(1000, len(data.train) // 5) :]
    sigma = choose_parzen_sigma(generated, validation)
    return parzen_log_likelihood(generated, data.eval.images, sigma)


@dataclass
class BestEpoch:
    """The epoch with the lowest validation error so far, and a copy of its weights. With a `record` path, every
    epoch's scores are written there and the best weights beside it, so that `--resume` can continue the run."""

    error: float = math.inf
    epoch: int = 0
    weights: dict[str, torch.Tensor] | None = None
    history: list[float] = field(default_factory=list)  # every epoch's validation error, in %
    test_error: float | None = None  # the best epoch's test error in %, once measured
    record: Path | None = None

    def update(self, state: TrainingState, error: float) -> None:
        self.history.append(100 * error)
        if error < self.error:
            self.error, self.epoch, self.test_error = error, state.epoch, None
            self.weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
            if self.record is not None:
                weights = {k: v.to("cpu").contiguous() for k, v in self.weights.items()}
                _write_atomically(self.weights_path, lambda tmp: save_file(weights, tmp))
        self.save()

    @property
    def weights_path(self) -> Path:
        assert self.record is not None
        return self.record.with_name(self.record.name.removesuffix(".validation.json") + ".best.safetensors")

    def save(self) -> None:
        if self.record is None:
            return
        saved = {"history": self.history, "best_epoch": self.epoch, "best_test": self.test_error}
        text = json.dumps(saved, indent=1) + "\n"
        _write_atomically(self.record, lambda tmp: Path(tmp).write_text(text))


def _write_atomically(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(str(tmp))
    tmp.replace(path)


def record_path(out_dir: Path, name: str, seed: int) -> Path:
    """Where a run's per-epoch validation scores are kept (its best weights go beside, as .best.safetensors)."""
    return out_dir / f"{name}-seed{seed}.validation.json"


def earlier_scores(out_dir: Path, name: str, seed: int, epochs_done: int) -> BestEpoch:
    """The validation record of a run that `--resume` continues, cut to the `epochs_done` its checkpoint holds: its
    own record, or for a folder written before records existed, the seed's row in the folder's reproduction.json
    (whose best epoch then keeps the test error measured then, as its weights were not kept)."""
    record = record_path(out_dir, name, seed)
    saved = json.loads(record.read_text()) if record.exists() else _scores_from_table(out_dir, name, seed)
    where = f"--resume: {name} seed {seed}"
    if saved is None:
        raise ConfigError(f"{where} has a checkpoint but no validation record ({record.name}) to continue from")
    if len(saved["history"]) < epochs_done or saved["best_epoch"] > epochs_done:
        raise ConfigError(
            f"{where}: the validation record scores {len(saved['history'])} epochs (best: {saved['best_epoch']}), "
            f"the checkpoint holds {epochs_done}; run it again without --resume"
        )
    history, epoch = saved["history"][:epochs_done], saved["best_epoch"]
    best = BestEpoch(history[epoch - 1] / 100, epoch, None, history)
    best.test_error, best.record = saved.get("best_test"), record
    if best.weights_path.exists():
        best.weights = load_file(best.weights_path)
    elif best.test_error is None:
        raise ConfigError(f"{where}: the best epoch's weights ({best.weights_path.name}) are missing")
    return best


def _scores_from_table(out_dir: Path, name: str, seed: int) -> dict[str, Any] | None:
    table = out_dir / "reproduction.json"
    rows = json.loads(table.read_text()) if table.exists() else []
    for row in rows:
        if row.get("experiment") == name and seed in row.get("seed_ids", []) and "validation_errors" in row:
            i = row["seed_ids"].index(seed)
            return {
                "history": row["validation_errors"][i],
                "best_epoch": row["best_epochs"][i],
                "best_test": row["ours_best"][i],
            }
    return None


def resumable(path: Path, settings: dict[str, Any], config: ModelConfig, n_train: int) -> Checkpoint:
    """A seed's checkpoint, to continue, after checking that it was trained as this call would train it; a
    learning-rate schedule in `settings` is taken from its current epoch on (`state.reschedule`)."""
    checkpoint = load_checkpoint(path)
    meta = checkpoint.metadata
    stored = TrainConfig.from_dict(meta["training"]["config"])
    differs = [k for k, v in settings.items() if k not in SCHEDULE and getattr(stored, k) != v]
    stored_model = ModelConfig.from_dict(meta["model"]["config"])
    if stored_model.hidden_dims != config.hidden_dims:
        differs.append("hidden")
    if stored_model.encoder_norm != config.encoder_norm:
        differs.append("encoder-norm")
    if meta["dataset"]["n_train"] != n_train:
        differs.append("validation")
    if differs:
        raise ConfigError(f"--resume: {path.name} was trained with other {', '.join(differs)} than this call's")
    try:
        reschedule(checkpoint, {k: v for k, v in settings.items() if k in SCHEDULE})
    except ConfigError as err:
        raise ConfigError(f"--resume: {path.name}: {err}") from None
    return checkpoint


def validation_error(model: AutoEncoder, metric: str, val: ImageData, fit: ImageData) -> float:
    """The experiment's error on the validation images (clusters named on `fit`, as for the test set)."""
    probs = encode_all(model, val.images, part="y_logits").softmax(-1).cpu()
    if metric == "classification_error":
        return classification_error(probs.argmax(1), val.labels)
    fit_probs = encode_all(model, fit.images, part="y_logits").softmax(-1).cpu()
    return clustering_error(probs, val.labels, fit_probs, fit.labels, protocol=metric.removeprefix("cluster_error_"))


def score_epoch(state: TrainingState, best: BestEpoch, metric: str, val: ImageData, fit: ImageData) -> None:
    """After an epoch: its validation error, kept with the weights when it is the best so far."""
    best.update(state, validation_error(state.model, metric, val, fit))


def run(
    names: list[str],
    data: DataSplits,
    *,
    seeds: int,
    epochs: int,
    out_dir: Path,
    hidden: tuple[int, ...] = (1000, 1000),
    encoder_norm: str | None = None,
    device: str = "auto",
    progress: bool = True,
    precision: str = "fp32",
    first_seed: int = 0,
    validation: int = 0,
    settings: dict[str, Any] | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Train every experiment over `seeds` seeds from `first_seed` on; returns one row per experiment (paper value,
    ours per seed). Separate processes can run different seeds at once.

    `ours` is the test error after the last epoch. With `validation` > 0 the last that many training images are held
    out, scored after every epoch, and `ours_best` is the test error of the epoch that scored best on them (the
    test set never picks an epoch); Parzen rows ignore it. `settings` (TrainConfig fields) and `encoder_norm`
    override each experiment's own. With `resume`, a seed whose checkpoint is in `out_dir` continues from it to
    `epochs` in all, with its validation record (long runs go in pieces); `minutes` then counts this piece only.
    """
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment {unknown[0]!r}; choose from: {', '.join(EXPERIMENTS)}")
    if not 0 <= validation < len(data.train):  # checked before any training, so no run is lost to it
        raise ConfigError(f"--validation must be between 0 and {len(data.train) - 1}, got {validation}")
    rows = []
    for name in names:
        experiment = EXPERIMENTS[name]
        selects = validation > 0 and experiment.metric != "parzen_ll"
        train_data, val = hold_out(data, validation) if selects else (data, None)
        values, best_values, best_epochs, curves, started = [], [], [], [], time.perf_counter()
        seed_ids = list(range(first_seed, first_seed + seeds))
        run_settings = {**experiment.settings, **(settings or {})}
        for seed in seed_ids:
            config = model_config(experiment, data, hidden, encoder_norm)
            prior = make_prior(experiment.prior, experiment.latent_dim)
            path = out_dir / f"{name}-seed{seed}.safetensors"
            checkpoint = (
                resumable(path, run_settings, config, len(train_data.train)) if resume and path.exists() else None
            )
            best = BestEpoch(record=record_path(out_dir, name, seed))
            if checkpoint is not None and selects:
                best = earlier_scores(out_dir, name, seed, int(checkpoint.metadata["training"]["epoch"]))
            fit = train_data.train.subset(torch.arange(min(10000, len(train_data.train))))
            score = partial(score_epoch, best=best, metric=experiment.metric, val=val, fit=fit)
            result = train(
                config,
                TrainConfig(**run_settings, epochs=epochs, seed=seed, labels=experiment.labels, precision=precision),
                prior,
                train_data,
                path,
                device=device,
                progress=progress,
                resume=checkpoint,
                on_epoch=score if selects else None,
            )
            if experiment.metric == "parzen_ll":
                values.append(parzen_score(path, data, seed))
                continue
            values.append(100 * result.metrics[experiment.metric])  # the paper reports percent
            if selects:
                if best.weights is not None:  # else the best epoch is an earlier piece's, its test error measured
                    model = load_model(path).model
                    model.load_state_dict(best.weights)
                    metrics, _ = evaluate(model, prior, train_data, seed=seed)
                    best.test_error = 100 * metrics[experiment.metric]
                    best.save()
                best_values.append(best.test_error)
                best_epochs.append(best.epoch)
                curves.append([round(e, 3) for e in best.history])
        row = {
            "experiment": name,
            "unit": experiment.unit,
            "paper": experiment.paper if math.isfinite(experiment.paper) else None,
            "ours": values,
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "epochs": epochs,
            "seeds": seeds,
            "seed_ids": seed_ids,
            "dataset": data.train.name,
            "minutes": (time.perf_counter() - started) / 60,
            "settings": run_settings,
            "encoder_norm": config.encoder_norm,
        }
        if best_values:
            row.update(
                validation=validation,
                ours_best=best_values,
                best_epochs=best_epochs,
                best_mean=statistics.fmean(best_values),
                best_std=statistics.stdev(best_values) if len(best_values) > 1 else 0.0,
                validation_errors=curves,  # per seed, per epoch: what settings are compared by
            )
        rows.append(row)
    return rows


def seed_list(row: dict[str, Any]) -> str:
    """The seeds of a row, as "0, 1, 2" (rows written before seed ids were recorded: their count)."""
    return ", ".join(map(str, row["seed_ids"])) if "seed_ids" in row else str(row["seeds"])


def paper_cell(value: float | None) -> str:
    """The paper's figure, or a dash where the paper has none (a baseline measured beside it)."""
    return f"{value:.2f}" if value is not None and math.isfinite(value) else "–"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Paper versus ours, one line per experiment: after the last epoch, and at the best validation epoch."""
    lines = [
        "| experiment | unit | paper | ours, last epoch (mean ± std) | ours, best validation epoch | seeds | epochs "
        "| dataset | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = f"{row['mean']:.2f} ± {row['std']:.2f}" if math.isfinite(row["mean"]) else "n/a"
        best = "–"
        if "ours_best" in row:
            epochs = ", ".join(map(str, row["best_epochs"]))
            best = f"{row['best_mean']:.2f} ± {row['best_std']:.2f} (epoch {epochs}; {row['validation']} held out)"
        lines.append(
            f"| {row['experiment']} | {row['unit']} | {paper_cell(row['paper'])} | {ours} | {best} | "
            f"{seed_list(row)} | {row['epochs']} | {row['dataset']} | {row['minutes']:.1f} |"
        )
    return "\n".join(lines)


def write_tables(rows: list[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "reproduction.md", out_dir / "reproduction.json"
    md.write_text(markdown_table(rows) + "\n")
    js.write_text(json.dumps(rows, indent=2) + "\n")
    return md, js
