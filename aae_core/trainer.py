"""`train()`: a whole run — fresh or resumed, single-process or data-parallel under torchrun — with its checkpoint
cadence, progress bar and callbacks, ending in the evaluation whose metrics and atlas go into the final checkpoint.
Every checkpoint carries an atlas, so an interrupted run opens on the map; a run whose loss or weights become NaN
or infinite stops with TrainingDiverged and leaves the last good checkpoint as it was.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .acceleration import compile_modules, cuda_matmul_precision
from .anomaly import anomaly_scores
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import ConfigError, ModelConfig, TrainConfig
from .data import DataSplits, hold_out
from .devices import resolve_device
from .evaluation import atlas_tensors, encode_atlas, evaluate
from .kinds import check_prior, get_kind
from .loop import TrainingDiverged, examples_per_epoch, nonfinite_loss, nonfinite_weight, take_snapshot, train_epoch
from .models import AutoEncoder
from .optimizers import decay_learning_rates
from .priors import Prior
from .state import RunInfo, TrainingState, new_state, snapshot_index, state_from_checkpoint, state_to_checkpoint


@dataclass
class TrainResult:
    """Where the checkpoint went, the final metrics, the per-epoch losses and the wall time."""

    path: Path
    metrics: dict[str, float]
    history: list[dict[str, float]]
    seconds: float


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    prior: Prior,
    data: DataSplits,
    out: str | Path,
    *,
    device: str = "auto",
    resume: str | Path | Checkpoint | None = None,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable[[TrainingState], None] | None = None,
) -> TrainResult:
    """Train a model and write its checkpoint to `out` (periodically and at the end); resume from `resume` (a path,
    or a checkpoint already read), whose settings then replace `model_config`, `train_config` and `prior`.
    `on_epoch` sees the training state after every epoch (for example to score a validation split).

    Raises TrainingDiverged when a loss or a weight becomes NaN or infinite, without writing that state: the
    checkpoint at `out` keeps the last good epoch (the message says which).

    Launched by torchrun with several processes, it trains data-parallel (see `aae_core.distributed`): each rank
    trains on its shard and only rank 0 writes the checkpoint, shows progress and returns metrics.
    """
    if train_config.hold_out:  # a resumed run's own setting: the CLI passes the checkpoint's
        data, _ = hold_out(data, train_config.hold_out)
    dist_context = distributed.setup(device)
    torch_device = dist_context.device if dist_context is not None else resolve_device(device)
    is_main = dist_context is None or dist_context.is_main
    started = time.perf_counter()
    dataset_info = {
        "name": data.train.name,
        "image_shape": list(data.train.image_shape),
        "n_train": len(data.train),
        "n_eval": len(data.eval),
        "classes": list(data.train.classes),
    }
    if data.excluded:  # written only when set, so every other checkpoint stays byte for byte as it was
        dataset_info["excluded_classes"] = list(data.excluded)
    if resume is not None:
        checkpoint = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
        state, run = state_from_checkpoint(checkpoint, torch_device, epochs=train_config.epochs)
        if run.dataset.get("image_shape") != dataset_info["image_shape"]:
            raise ConfigError(
                f"the checkpoint was trained on {run.dataset.get('image_shape')} images, "
                f"the data has {dataset_info['image_shape']}"
            )
        model_config, train_config, prior = run.model_config, run.train_config, run.prior
    else:
        if model_config.input_dim != data.train.images.shape[1]:
            raise ConfigError(
                f"model input_dim {model_config.input_dim} does not match the data "
                f"({data.train.images.shape[1]} pixels)"
            )
        check_prior(model_config, prior)
        state = new_state(model_config, train_config, torch_device)
    run = RunInfo(model_config, train_config, prior, dataset_info)
    kind = get_kind(model_config.kind)
    if train_config.compile:
        compile_mlps(state.model, torch_device)
    if dist_context is not None and model_config.categories:
        # Their phases use the encoder's heads separately, which DistributedDataParallel's reducer rejects.
        raise ConfigError(f"data-parallel (torchrun) training of the {model_config.kind} model is not supported yet")
    update_model = distributed.wrap_model(state.model, dist_context)
    sharding = distributed.Sharding(dist_context, train_config.seed) if dist_context is not None else None

    images = data.train.images.to(torch_device)
    train_labels, labelled_index = kind.visible_labels(train_config, data.train.labels)
    train_labels = train_labels.to(torch_device)
    pool = None
    if "class" in kind.loss_names(train_config):
        known = train_labels >= 0
        pool = (images[known], train_labels[known])
    snapshot_images = data.eval.images[snapshot_index(len(data.eval), train_config.snapshot_size)].to(torch_device)
    if not state.snapshot_codes and train_config.snapshots_per_epoch:
        take_snapshot(state, snapshot_images)  # the codes before training: the first frame of the replay

    shard = distributed.shard_size(len(images), dist_context)
    steps_per_epoch = math.ceil(
        examples_per_epoch(shard, train_config.batch_size, state.model) / train_config.batch_size
    )
    bar = tqdm(
        total=train_config.epochs * steps_per_epoch,
        initial=state.epoch * steps_per_epoch,
        disable=not (progress and is_main),
        unit="step",
        dynamic_ncols=True,
        desc=f"{model_config.kind} {prior.name}",
        mininterval=0.5,
    )
    saved_epoch: int | None = None  # the epoch of the last checkpoint this run wrote
    with bar, cuda_matmul_precision(torch_device):
        while state.epoch < train_config.epochs:
            bar.set_description(f"{model_config.kind} {prior.name} epoch {state.epoch + 1}/{train_config.epochs}")
            decay_learning_rates(state.optimizers, train_config, state.epoch)
            try:
                epoch_losses = train_epoch(
                    state,
                    kind,
                    prior,
                    images,
                    train_config,
                    snapshot_images,
                    bar,
                    on_log,
                    model=update_model,
                    sharding=sharding,
                    labels=train_labels,
                    pool=pool,
                )
                state.epoch += 1
                epoch_losses = distributed.mean_over_ranks(epoch_losses, dist_context)
                # The epoch's mean losses are the same on every rank, and so are the weights: all ranks stop here.
                diverged = nonfinite_loss(epoch_losses) or nonfinite_weight(state.model)
                if diverged:
                    raise TrainingDiverged(state.epoch, diverged)
            except TrainingDiverged as err:
                distributed.teardown(dist_context)
                raise TrainingDiverged(err.epoch, err.detail, _kept(out, saved_epoch)) from None
            state.history.append({"epoch": state.epoch, "step": state.step, **epoch_losses})
            if on_epoch is not None and is_main:
                on_epoch(state)
            periodic = state.epoch % train_config.checkpoint_every == 0 and state.epoch < train_config.epochs
            if periodic and is_main:
                # The atlas of this epoch's codes, so that a run interrupted from here on opens on the map.
                atlas = _atlas_extra(encode_atlas(state.model, data.eval.images), data, labelled_index)
                save_checkpoint(out, state_to_checkpoint(state, run, atlas))
                saved_epoch = state.epoch

    if not is_main:  # rank 0 evaluates and writes; the others wait for it at the barrier
        distributed.teardown(dist_context)
        return TrainResult(Path(out), {}, state.history, time.perf_counter() - started)
    metrics, eval_codes = evaluate(state.model, prior, data, seed=train_config.seed)
    extra = _atlas_extra(eval_codes, data, labelled_index)
    extra["metadata"]["metrics"] = metrics
    if data.excluded:  # each evaluation image's anomaly scores, for the app's histograms (it has no images)
        for key, values in anomaly_scores(state.model, prior, data.eval.images).items():
            extra["tensors"][f"atlas.anomaly.{key}"] = torch.from_numpy(values).float()
    path = save_checkpoint(out, state_to_checkpoint(state, run, extra))
    distributed.teardown(dist_context)
    return TrainResult(path, metrics, state.history, time.perf_counter() - started)


def _atlas_extra(codes: torch.Tensor, data: DataSplits, labelled_index: torch.Tensor | None) -> dict[str, Any]:
    """The checkpoint's atlas (evaluation codes and labels) and the labelled-example index, as `extra`."""
    extra: dict[str, Any] = {
        "metadata": {"atlas": {"split": "eval", "size": len(codes)}},
        "tensors": atlas_tensors(codes, data.eval.labels),
    }
    if labelled_index is not None:
        extra["tensors"]["labels.index"] = labelled_index
    return extra


def _kept(out: str | Path, saved_epoch: int | None) -> str:
    """What the checkpoint file holds after a diverged run, and what to try."""
    name = Path(out).name
    if saved_epoch is not None:
        kept = f"the checkpoint {name} keeps epoch {saved_epoch}"
    elif Path(out).exists():
        kept = f"{name} was left as it was"
    else:
        kept = "no checkpoint was written"
    return f"{kept}; try a smaller --lr"


def compile_mlps(model: AutoEncoder, device: torch.device) -> bool:
    """`torch.compile` the model's MLPs in place on CUDA (see `acceleration.compile_modules`); eager elsewhere."""
    config = model.config
    if not hasattr(model.encoder, "net"):
        warnings.warn(f"--compile does not cover the {config.kind} model's encoder yet; training eagerly", stacklevel=2)
        return False
    modules = [model.encoder.net, model.decoder]
    inputs = [
        torch.zeros(2, config.input_dim + model.encoder.noise_dim, device=device),
        torch.zeros(2, config.latent_dim + config.num_classes, device=device),
    ]
    if hasattr(model, "discriminator"):
        modules.append(model.discriminator)
        inputs.append(torch.zeros(2, config.latent_dim, device=device))
    return compile_modules(modules, device, inputs)
