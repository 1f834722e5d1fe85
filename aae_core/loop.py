"""One epoch of training: shuffled minibatches through a kind's update, losses kept on the device, latent snapshots.

The loop is written for speed: the dataset lives on the device as one tensor, batches are shuffled index slices,
losses are summed on the device and read back once per log interval (the only host syncs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .acceleration import make_autocast
from .config import TrainConfig
from .kinds import Kind
from .models import evaluating
from .phases import Batch, corrupted_inputs, dropped_hidden_units
from .priors import Prior
from .state import TrainingState


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or infinite; the message says when, and what the checkpoint on disk keeps."""

    def __init__(self, epoch: int, detail: str, note: str = "") -> None:
        self.epoch, self.detail = epoch, detail
        message = f"training diverged at epoch {epoch} ({detail})"
        super().__init__(f"{message}; {note}" if note else message)


def nonfinite_loss(values: dict[str, float]) -> str | None:
    """'loss NAME VALUE' for the first loss that is NaN or infinite, or None."""
    bad = next(((k, v) for k, v in values.items() if not math.isfinite(v)), None)
    return None if bad is None else f"loss {bad[0]} {bad[1]}"


@torch.no_grad()
def nonfinite_weight(model: torch.nn.Module) -> str | None:
    """'weight NAME' for the first floating-point weight holding NaN or infinite values, or None (one host sync)."""
    named = [(k, v) for k, v in model.state_dict().items() if v.is_floating_point()]
    if not named:
        return None
    finite = torch.stack([torch.isfinite(v).all() for _, v in named])
    if bool(finite.all()):
        return None
    return f"weight {named[int((~finite).nonzero()[0])][0]} is not finite"


def examples_per_epoch(n: int, batch_size: int, model: torch.nn.Module) -> int:
    """How many of `n` shuffled examples an epoch trains on: all, unless batch normalization would meet a last
    minibatch of one image, which it cannot train on; that image is then left out of the epoch."""
    batch_norm = any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    return n - 1 if batch_norm and n % batch_size == 1 else n


def train_epoch(
    state: TrainingState,
    kind: Kind,
    prior: Prior,
    images: torch.Tensor,
    config: TrainConfig,
    snapshot_images: torch.Tensor,
    progress: tqdm | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    *,
    model: torch.nn.Module | None = None,
    sharding: distributed.Sharding | None = None,
    labels: torch.Tensor | None = None,
    pool: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over `images` (already on the device) in shuffled minibatches, each through `kind`'s update;
    returns the epoch's mean losses.

    `model` is what the updates run through (default `state.model`; under torchrun its DDP-wrapped view) and
    `sharding` picks this rank's part of the epoch (default: all of it, shuffled by `state.generator`).
    `labels` are the training labels with hidden ones at -1; `pool` the labelled examples the semi-supervised
    phase draws a minibatch from at every step.

    Raises TrainingDiverged as soon as a logged loss is NaN or infinite (single-process runs; under torchrun the
    trainer checks the epoch's losses, the same on every rank, so that all ranks stop together).
    """
    if labels is None:
        labels = torch.full((images.shape[0],), -1, dtype=torch.long, device=images.device)
    loss_names = kind.loss_names(config)
    model = state.model if model is None else model
    autocast = make_autocast(images.device, config.precision)
    if sharding is None:
        order = torch.randperm(images.shape[0], generator=state.generator, device=images.device)
    else:
        order = sharding.order(images.shape[0], state.epoch, images.device)
        sharding.reseed(state.generator, state.epoch)
    n = examples_per_epoch(order.shape[0], config.batch_size, state.model)
    steps = math.ceil(n / config.batch_size)
    snapshot_every = max(1, steps // config.snapshots_per_epoch) if config.snapshots_per_epoch else 0
    totals = torch.zeros(len(loss_names), device=images.device)  # summed on the device: no per-step sync
    window = torch.zeros_like(totals)
    window_steps = 0
    # Denoising and dropout: the encoder's training passes see corrupted images and lose hidden units (nothing
    # changes when all three are 0).
    encoder = state.model.encoder
    with (
        corrupted_inputs(encoder, config.input_noise, config.input_mask, state.generator),
        dropped_hidden_units(encoder, config.hidden_dropout, state.generator),
    ):
        for i in range(steps):
            index = order[i * config.batch_size : (i + 1) * config.batch_size]
            batch = Batch(images[index], labels[index])
            if pool is not None:
                pick = torch.randint(len(pool[0]), (len(index),), generator=state.generator, device=images.device)
                batch.labelled_x, batch.labelled_y = pool[0][pick], pool[1][pick]
            losses = kind.update(model, batch, prior, state.optimizers, state.generator, autocast, config)
            step_losses = torch.stack([losses[name] for name in loss_names])
            totals += step_losses
            window += step_losses
            window_steps += 1
            state.step += 1
            if snapshot_every and state.step % snapshot_every == 0:
                take_snapshot(state, snapshot_images)
            if window_steps == config.log_every or i == steps - 1:
                values = dict(zip(loss_names, (window / window_steps).tolist(), strict=True))  # the one host sync
                diverged = nonfinite_loss(values) if sharding is None else None
                if diverged:
                    raise TrainingDiverged(state.epoch + 1, diverged)
                if progress is not None:
                    progress.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
                    progress.update(window_steps)
                if on_log is not None:
                    on_log({"epoch": state.epoch + 1, "step": state.step, **values})
                window.zero_()
                window_steps = 0
    return dict(zip(loss_names, (totals / steps).tolist(), strict=True))


@torch.no_grad()
def take_snapshot(state: TrainingState, snapshot_images: torch.Tensor) -> None:
    """Record the codes of the snapshot subset now (a frame of the app's training replay)."""
    with evaluating(state.model):
        state.snapshot_codes.append(state.model.encode(snapshot_images, sample=False).z)
    state.snapshot_steps.append(state.step)
