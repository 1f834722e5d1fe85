"""What a run carries from step to step and across a resume: the training state, and its packing into a checkpoint.

`state_to_checkpoint` and `state_from_checkpoint` are inverses: a run resumed from a checkpoint continues with the
same weights, optimizer moments, random-generator state, history and snapshots, so it ends byte-identical to an
unbroken run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    check_finite,
    check_weights,
    load_weights,
    pack_optimizer,
    stored_model_config,
    stored_prior,
    unpack_optimizer,
)
from .config import SCHEDULE, ConfigError, ModelConfig, TrainConfig
from .kinds import Optimizers, build_model, get_kind
from .models import AutoEncoder
from .priors import Prior


@dataclass
class TrainingState:
    """Everything a run needs to continue exactly where it stopped."""

    model: AutoEncoder
    optimizers: Optimizers
    generator: torch.Generator
    epoch: int = 0  # completed epochs
    step: int = 0  # completed minibatch updates
    history: list[dict[str, float]] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    snapshot_codes: list[torch.Tensor] = field(default_factory=list)


@dataclass
class RunInfo:
    """What the checkpoint says about where the model came from."""

    model_config: ModelConfig
    train_config: TrainConfig
    prior: Prior
    dataset: dict[str, Any]


def snapshot_index(n_eval: int, size: int) -> torch.Tensor:
    """The fixed evaluation subset whose codes are snapshotted (independent of the training seed)."""
    return torch.randperm(n_eval, generator=torch.Generator().manual_seed(0))[:size]


def new_state(model_config: ModelConfig, train_config: TrainConfig, device: torch.device) -> TrainingState:
    torch.manual_seed(train_config.seed)  # initial weights
    model = build_model(model_config).to(device)
    optimizers = get_kind(model_config.kind).make_optimizers(model, train_config)
    generator = torch.Generator(device=device).manual_seed(train_config.seed)
    return TrainingState(model, optimizers, generator)


def state_to_checkpoint(state: TrainingState, run: RunInfo, extra: dict[str, Any] | None = None) -> Checkpoint:
    """Pack the state (weights, optimizers, RNG, history, snapshots) into a checkpoint."""
    tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
    optim_meta = {}
    for name, optimizer in state.optimizers.items():
        packed, settings = pack_optimizer(name, optimizer)
        tensors.update(packed)
        optim_meta[name] = settings
    tensors["rng.generator"] = state.generator.get_state()
    if state.snapshot_codes:
        tensors["snapshots.codes"] = torch.stack(state.snapshot_codes)  # (S, n, z)
        tensors["snapshots.steps"] = torch.tensor(state.snapshot_steps)
        tensors["snapshots.index"] = snapshot_index(run.dataset["n_eval"], run.train_config.snapshot_size)
    metadata = {
        "model": {"kind": run.model_config.kind, "config": run.model_config.to_dict()},
        "prior": run.prior.to_config(),
        "dataset": run.dataset,
        "training": {
            "config": run.train_config.to_dict(),
            "epoch": state.epoch,
            "step": state.step,
            "generator_device": state.generator.device.type,
        },
        "optimizers": optim_meta,
        "history": state.history,
    }
    checkpoint = Checkpoint(metadata, tensors)
    if extra:
        checkpoint.metadata.update(extra.get("metadata", {}))
        checkpoint.tensors.update(extra.get("tensors", {}))
    return checkpoint


def state_from_checkpoint(
    checkpoint: Checkpoint, device: torch.device, epochs: int | None = None
) -> tuple[TrainingState, RunInfo]:
    """Rebuild a training state from a checkpoint written by `state_to_checkpoint` (to train up to `epochs`).

    A checkpoint whose weights hold NaN or infinite values is refused (NonFiniteWeightsError): training on from
    it could only produce NaN.
    """
    meta = checkpoint.metadata
    if "training" not in meta or "optimizers" not in meta:
        raise ConfigError("this checkpoint holds inference weights only (no optimizer state), so it cannot be resumed")
    training = meta["training"]
    if not isinstance(training, dict) or not all(k in training for k in ("config", "epoch", "step")):
        raise CheckpointError("this checkpoint's 'training' section lacks its config, epoch or step: it cannot resume")
    model_config = stored_model_config(checkpoint)
    train_values = dict(training["config"])
    if epochs is not None:
        train_values["epochs"] = epochs
    train_config = TrainConfig.from_dict(train_values)
    with torch.device("meta"):  # refuse a mismatched architecture before allocating it
        check_weights(build_model(model_config), checkpoint.group("model"))
    check_finite(checkpoint)
    state = new_state(model_config, train_config, device)
    load_weights(state.model, checkpoint.group("model"))
    for name, optimizer in state.optimizers.items():
        unpack_optimizer(name, optimizer, checkpoint, meta["optimizers"][name])
    rng = checkpoint.tensors.get("rng.generator")
    if rng is not None and meta["training"].get("generator_device") == device.type:
        try:
            state.generator.set_state(rng)
        except (RuntimeError, TypeError) as err:
            raise CheckpointError(
                f"this checkpoint's random-generator state 'rng.generator' is unusable ({err})"
            ) from None
    state.epoch, state.step = int(meta["training"]["epoch"]), int(meta["training"]["step"])
    state.history = list(meta.get("history", []))
    if "snapshots.codes" in checkpoint.tensors:
        state.snapshot_codes = [c.to(device) for c in checkpoint.tensors["snapshots.codes"]]
        state.snapshot_steps = checkpoint.tensors["snapshots.steps"].tolist()
    run = RunInfo(model_config, train_config, stored_prior(checkpoint), meta["dataset"])
    return state, run


def reschedule(checkpoint: Checkpoint, schedule: dict[str, Any]) -> None:
    """Give a run about to be resumed another learning-rate schedule (`lr_decay_epoch`, `lr_decay`), written into its
    settings. Only a schedule that leaves the epochs already trained as they were is taken: neither the old decay nor
    the new one may fall before the run's current epoch, so the pieces still make one run with the new schedule."""
    training = checkpoint.metadata["training"]
    done = int(training["epoch"])
    old = TrainConfig.from_dict(training["config"])
    new = TrainConfig.from_dict({**training["config"], **schedule})  # checks the values
    if all(getattr(old, k) == getattr(new, k) for k in SCHEDULE):
        return
    for config in (old, new):
        if 0 < config.lr_decay_epoch < done:
            raise ConfigError(
                f"the run is at epoch {done}: a learning-rate decay at epoch {config.lr_decay_epoch} would change "
                "epochs already trained; --lr-decay-epoch must be 0 or at least the current epoch"
            )
    training["config"] = {**training["config"], **{k: getattr(new, k) for k in SCHEDULE}}
