"""Optimizers: Adam, one per training phase, over the parameters that phase updates."""

from __future__ import annotations

from typing import Any

import torch

from .config import TrainConfig
from .models import AutoEncoder

Optimizers = dict[str, torch.optim.Optimizer]


def adam(params: list[torch.nn.Parameter] | list[dict], config: TrainConfig, **settings: Any) -> torch.optim.Adam:
    """Adam over parameters (or param groups), fused into one kernel per step where the parameters' device supports
    it and the config asks for it."""
    first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
    fused = config.fused_adam and first.device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, fused=fused or None, **settings)


def autoencoder_optimizers(model: AutoEncoder, config: TrainConfig) -> Optimizers:
    """One optimizer over encoder and decoder (the AE's and the VAE's only one)."""
    return {"autoencoder": adam([*model.encoder.parameters(), *model.decoder.parameters()], config, lr=config.lr)}


def aae_optimizers(model: AutoEncoder, config: TrainConfig) -> Optimizers:
    """Autoencoder and discriminator, and in `phases` mode the encoder as generator: one optimizer per phase."""
    betas = config.adversarial_betas
    optimizers = {
        **autoencoder_optimizers(model, config),
        "discriminator": adam(list(model.discriminator.parameters()), config, lr=config.disc_lr, betas=betas),
    }
    if config.adversarial == "phases":
        optimizers["generator"] = adam(list(model.encoder.parameters()), config, lr=config.gen_lr, betas=betas)
    return optimizers


def categorical_optimizers(model: AutoEncoder, config: TrainConfig, classify: bool) -> Optimizers:
    """The semi-supervised family's optimizers: autoencoder (with the dimred cluster heads), both discriminators
    together, the encoder as generator, and the encoder as classifier when labels are used."""
    betas = config.categorical_betas
    discriminators = list(model.discriminator.parameters()) + list(model.y_discriminator.parameters())
    networks, heads = [], []
    for name, p in model.named_parameters():
        if name.startswith("heads."):
            heads.append(p)
        elif not name.startswith(("discriminator.", "y_discriminator.")):
            networks.append(p)
    # dimred's heads W get their own rate (`head_lr`): at the networks' rate the hinge could not part them.
    autoencoder_groups = [{"params": networks}] + ([{"params": heads, "lr": config.head_lr}] if heads else [])
    optimizers = {
        "autoencoder": adam(autoencoder_groups, config, lr=config.lr),
        "discriminator": adam(discriminators, config, lr=config.disc_lr, betas=betas),
        "generator": adam(list(model.encoder.parameters()), config, lr=config.gen_lr, betas=betas),
    }
    if classify:
        optimizers["classifier"] = adam(list(model.encoder.parameters()), config, lr=config.lr)
    return optimizers


def decay_learning_rates(optimizers: Optimizers, config: TrainConfig, epochs_done: int) -> None:
    """At the epoch the step schedule names (`lr_decay_epoch`), multiply every optimizer's rate by `lr_decay`. The
    rates live in the optimizers' state, which checkpoints keep, so a resumed run goes on at the rates it had."""
    if config.lr_decay_epoch and epochs_done == config.lr_decay_epoch:
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= config.lr_decay
