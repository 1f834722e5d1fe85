"""Training: named phases, one update recipe per model kind, and the epoch loop.

The loop is written for speed: the dataset lives on the device as one tensor, batches are shuffled index slices,
losses are summed on the device and read back once per log interval (the only host syncs), and the AAE's
regularization phase runs the encoder once for both the discriminator and the generator update.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import distributed
from .acceleration import PRECISIONS, Autocast, compile_modules, cuda_matmul_precision, make_autocast
from .checkpoint import (
    Checkpoint,
    check_weights,
    load_checkpoint,
    load_weights,
    pack_optimizer,
    save_checkpoint,
    unpack_optimizer,
)
from .data import DataSplits, labelled_subset
from .devices import resolve_device
from .losses import discriminator_loss, gaussian_kl, generator_loss, reconstruction_loss, sampled_kl
from .metrics import (
    classification_error,
    clustering_error,
    component_purity,
    encode_all,
    knn_accuracy,
    prior_match,
    reconstruction_error,
)
from .models import AutoEncoder, ConfigError, ModelConfig, build_model
from .priors import GaussianPrior, Prior, UniformPrior, prior_from_config


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved inside every checkpoint."""

    epochs: int = 20  # total epochs (a resumed run continues up to this many)
    batch_size: int = 100  # the paper's minibatch size
    # The AAE needs its three players in balance (docs/TRAINING_NOTES.md). With reconstruction at 1e-3 and the
    # adversarial pair at 1e-4 the discriminator wins and reconstruction drags the codes off the prior; with the
    # generator faster than the discriminator the codes run away where the discriminator extrapolates "prior".
    lr: float = 2e-4  # Adam, reconstruction phase (the whole model for AE and VAE)
    disc_lr: float = 2e-4  # Adam, discriminator (AAE)
    gen_lr: float = 2e-4  # Adam, encoder in the generator role (AAE)
    adversarial_betas: tuple[float, float] = (0.5, 0.9)  # Adam betas of both adversarial optimisers
    seed: int = 0  # seeds initialisation, shuffling, noise and prior samples
    log_every: int = 50  # steps between progress updates; the loop reads losses from the device only then
    checkpoint_every: int = 1  # epochs between checkpoints (always one at the end)
    snapshots_per_epoch: int = 4  # latent snapshots of a fixed evaluation subset, for replay in the app
    snapshot_size: int = 500  # examples in that subset
    labels: int = -1  # labelled training examples (balanced, seeded): -1 every one, 0 none, N that many
    precision: str = "fp32"  # fp32 | bf16 (autocast forwards; weights, optimizers, losses stay fp32; not bitwise)
    compile: bool = False  # CUDA only: torch.compile the MLPs, falling back to eager if compilation fails
    # Adam as one fused kernel per step (CPU and CUDA): the same update rule as the per-tensor loop, several times
    # less memory traffic; its rounding differs in the last bits, so runs repeat exactly only against the same setting.
    fused_adam: bool = True
    # Semi-supervised family (paper §5-7) only. Gaussian noise of this std on both discriminators' inputs, real and
    # fake alike: without it the y discriminator tells an exact one-hot from any softmax output and its gradient
    # to the encoder vanishes, so the clusters collapse (docs/REPRODUCTION.md has the runs).
    instance_noise: float = 0.3
    # Semi-supervised: also reconstruct the labelled minibatch from its true one-hot label and its z (not in the
    # paper; off by default: on MNIST with 100 labels it trained slower, docs/REPRODUCTION.md).
    labelled_reconstruction: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "adversarial_betas", tuple(float(b) for b in self.adversarial_betas))
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if min(self.lr, self.disc_lr, self.gen_lr) <= 0 or not all(
            map(math.isfinite, (self.lr, self.disc_lr, self.gen_lr))
        ):
            raise ConfigError("learning rates must be positive numbers")
        if self.log_every < 1 or self.checkpoint_every < 1 or self.snapshots_per_epoch < 0 or self.snapshot_size < 1:
            raise ConfigError("--log-every and --checkpoint-every must be >= 1, snapshot settings >= 0")
        if self.labels < -1:
            raise ConfigError(f"--labels must be -1 (all), 0 (none) or a count, got {self.labels}")
        if not (self.instance_noise >= 0 and math.isfinite(self.instance_noise)):
            raise ConfigError(f"--instance-noise must be a number >= 0, got {self.instance_noise}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def check_prior(config: ModelConfig, prior: Prior) -> None:
    """Refuse a prior the model cannot use, with the reason (for the VAE: it needs a density)."""
    if prior.dim != config.latent_dim:
        raise ConfigError(f"the prior is {prior.dim}-D but --latent-dim is {config.latent_dim}")
    if config.kind == "labelled-prior":
        if not hasattr(prior, "sample_given_labels") or prior.num_labels != config.label_slots - 1:
            raise ConfigError(
                f"the labelled-prior AAE needs a prior with one component per class ({config.label_slots - 1}): "
                "--prior mixture or swissroll with --components equal to the number of classes"
            )
    if config.kind == "vae":
        if not prior.has_density:
            raise ConfigError(
                f"the VAE needs the prior's density for its KL term, and the {prior.name} prior has none; "
                "the AAE needs only samples: use --model aae"
            )
        if isinstance(prior, UniformPrior):
            raise ConfigError(
                "the VAE's KL to a uniform prior is infinite (its Gaussian posterior has mass outside the box); "
                "use --model aae, which needs only samples"
            )


# ---------------------------------------------------------------------------------------------------- phases


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One gradient step of `optimizer` on `loss`."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def reconstruction_step(
    model: AutoEncoder,
    x: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Paper §2, phase 1: update encoder and decoder to reconstruct x (from z and, if conditional, the labels)."""
    with autocast():
        logits = model.decode_logits(model.encode(x, generator=generator).z, labels)
    loss = reconstruction_loss(logits.float(), x)  # .float(): the loss in fp32 under bf16 autocast (no-op in fp32)
    optimizer_step(optimizer, loss)
    return loss.detach()


def regularization_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior: Prior,
    disc_optimizer: torch.optim.Optimizer,
    gen_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §2, phase 2: the discriminator learns prior samples from codes, then the encoder learns to fool it."""
    # 1. One encoder forward serves both updates: the encoder's weights do not change between them.
    with autocast():
        z = model.encode(x, generator=generator).z
        prior_z = prior.sample(x.shape[0], generator)
        prior_logits, code_logits = model.discriminate(prior_z), model.discriminate(z.detach())
    disc_loss = discriminator_loss(prior_logits.float(), code_logits.float())
    optimizer_step(disc_optimizer, disc_loss)
    # 2. The encoder as generator, against the updated discriminator (whose weights get no gradient here).
    with frozen(model.discriminator):
        with autocast():
            code_logits = model.discriminate(z)
        gen_loss = generator_loss(code_logits.float())
        optimizer_step(gen_optimizer, gen_loss)
    return disc_loss.detach(), gen_loss.detach()


def instance_noise(like: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of `std` shaped like `like`, for a discriminator's inputs (zeros when `std` is 0)."""
    if std == 0:
        return torch.zeros_like(like)
    return std * torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """No gradient into `module`'s weights inside the block (under DDP: no gradient sync expected from it either)."""
    module.requires_grad_(False)
    try:
        with module.no_sync() if hasattr(module, "no_sync") else nullcontext():
            yield
    finally:
        module.requires_grad_(True)


def labelled_regularization_step(
    model: AutoEncoder,
    batch: Batch,
    prior: Prior,
    disc_optimizer: torch.optim.Optimizer,
    gen_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §2.3: like `regularization_step`, but a labelled example's code is compared with samples from its
    class's own component (the label in a one-hot slot beside both); unlabelled ones use the last slot and the
    whole prior."""
    unlabelled = model.config.label_slots - 1
    slots = torch.where(batch.y >= 0, batch.y, torch.full_like(batch.y, unlabelled))
    # 1. Prior samples: from the labelled component where there is a label, from the whole prior elsewhere.
    any_z, _ = prior.sample_with_labels(batch.x.shape[0], generator)
    own_z = prior.sample_given_labels(batch.y.clamp_min(0), generator)
    prior_z = torch.where((batch.y >= 0)[:, None], own_z, any_z)
    with autocast():
        z = model.encode(batch.x, generator=generator).z
        prior_logits, code_logits = model.discriminate(prior_z, slots), model.discriminate(z.detach(), slots)
    disc_loss = discriminator_loss(prior_logits.float(), code_logits.float())
    optimizer_step(disc_optimizer, disc_loss)
    # 2. The encoder as generator, against the updated discriminator.
    with frozen(model.discriminator):
        with autocast():
            code_logits = model.discriminate(z, slots)
        gen_loss = generator_loss(code_logits.float())
        optimizer_step(gen_optimizer, gen_loss)
    return disc_loss.detach(), gen_loss.detach()


def head_separation_loss(heads: torch.Tensor, margin: float) -> torch.Tensor:
    """Paper §7: a hinge on the distance between every two cluster heads, zero once they are `margin` apart."""
    distances = torch.pdist(heads)  # (K(K-1)/2,)
    return torch.relu(margin - distances).sum()


def categorical_reconstruction_step(
    model: AutoEncoder,
    x: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    autocast: Autocast = nullcontext,
    margin: float = 0.0,
    labelled: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Paper §5-7, phase 1: reconstruct x from q(y|x) and q(z|x) (or, for dimred, from W·y + z, with the heads
    kept `margin` apart). `labelled` (images, labels) are reconstructed as well, from their true one-hot label.
    Returns the loss on x."""
    with autocast():
        out = model.encode(x)
        if model.config.num_classes:
            logits = model.decode_logits(out.z, y=out.y_logits.softmax(-1))
        else:
            logits = model.decode_logits(out.z)
    loss = reconstruction_loss(logits.float(), x)
    total = loss + head_separation_loss(model.cluster_heads, margin) if margin > 0 else loss
    if labelled is not None:
        labelled_x, labelled_y = labelled
        with autocast():
            one_hot = torch.nn.functional.one_hot(labelled_y, model.config.num_classes).to(labelled_x.dtype)
            labelled_logits = model.decode_logits(model.encode(labelled_x).z, y=one_hot)
        total = total + reconstruction_loss(labelled_logits.float(), labelled_x)
    optimizer_step(optimizer, total)
    return loss.detach()


def categorical_regularization_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior: Prior,
    disc_optimizer: torch.optim.Optimizer,
    gen_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    noise: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §5, phase 2: one discriminator tells one-hot samples from q(y|x), another Gaussian samples from
    q(z|x) (the style part, for dimred); then the encoder learns to fool both. Both discriminators see their
    inputs, real and fake, through Gaussian noise of std `noise`."""
    categories, n = model.config.categories, x.shape[0]

    def noisy(t: torch.Tensor) -> torch.Tensor:
        return t + instance_noise(t, noise, generator)

    one_hot = torch.nn.functional.one_hot(
        torch.randint(categories, (n,), generator=generator, device=x.device), categories
    ).float()
    prior_z = prior.sample(n, generator)
    with autocast():
        out = model.encode(x)
        y, z = out.y_logits.softmax(-1).float(), (out.style if out.style is not None else out.z).float()
        # The fakes' noise is drawn once and reused by the generator step, which sees the same noisy inputs.
        y_noise, z_noise = instance_noise(y, noise, generator), instance_noise(z, noise, generator)
        disc_loss = discriminator_loss(
            model.discriminate_y(noisy(one_hot)).float(), model.discriminate_y(y.detach() + y_noise).float()
        ) + discriminator_loss(
            model.discriminate(noisy(prior_z)).float(), model.discriminate(z.detach() + z_noise).float()
        )
    optimizer_step(disc_optimizer, disc_loss)
    with frozen(model.discriminator), frozen(model.y_discriminator):
        with autocast():
            gen_loss = generator_loss(model.discriminate_y(y + y_noise).float()) + generator_loss(
                model.discriminate(z + z_noise).float()
            )
        optimizer_step(gen_optimizer, gen_loss)
    return disc_loss.detach(), gen_loss.detach()


def classification_step(
    model: AutoEncoder, batch: Batch, optimizer: torch.optim.Optimizer, autocast: Autocast = nullcontext
) -> torch.Tensor:
    """Paper §5, phase 3: cross-entropy of q(y|x) on a labelled minibatch, updating the encoder."""
    with autocast():
        y_logits = model.encode(batch.labelled_x).y_logits
    loss = torch.nn.functional.cross_entropy(y_logits.float(), batch.labelled_y)
    optimizer_step(optimizer, loss)
    return loss.detach()


def elbo_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior: Prior,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """VAE: maximise the ELBO; closed-form KL for a Gaussian prior, one-sample estimate otherwise."""
    with autocast():
        out = model.encode(x, generator=generator)
        logits = model.decode_logits(out.z)
    z, mean, logvar = out.z.float(), out.mean.float(), out.logvar.float()  # the losses in fp32 (no-op in fp32)
    recon = reconstruction_loss(logits.float(), x)
    if isinstance(prior, GaussianPrior):
        kl = gaussian_kl(mean, logvar, prior.std)
    else:
        kl = sampled_kl(z, mean, logvar, prior)
    optimizer_step(optimizer, recon + kl)
    return recon.detach(), kl.detach()


# ---------------------------------------------------------------------------------------------------- recipes


@dataclass
class Batch:
    """One minibatch: images, their labels (-1 where hidden), and for the semi-supervised phase a minibatch drawn
    from the labelled pool."""

    x: torch.Tensor  # (B, D)
    y: torch.Tensor  # (B,)
    labelled_x: torch.Tensor | None = None
    labelled_y: torch.Tensor | None = None


Optimizers = dict[str, torch.optim.Optimizer]


def adam(params: list[torch.nn.Parameter], config: TrainConfig, **settings: Any) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where the parameters' device supports it and the config asks for it."""
    fused = config.fused_adam and params[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, fused=fused or None, **settings)


def autoencoder_optimizers(model: AutoEncoder, config: TrainConfig) -> Optimizers:
    return {"autoencoder": adam([*model.encoder.parameters(), *model.decoder.parameters()], config, lr=config.lr)}


def aae_optimizers(model: AutoEncoder, config: TrainConfig) -> Optimizers:
    betas = config.adversarial_betas
    return {
        **autoencoder_optimizers(model, config),
        "discriminator": adam(list(model.discriminator.parameters()), config, lr=config.disc_lr, betas=betas),
        "generator": adam(list(model.encoder.parameters()), config, lr=config.gen_lr, betas=betas),
    }


def ae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    return {"recon": reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)}


def aae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)
    disc, gen = regularization_step(
        model, batch.x, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def vae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    recon, kl = elbo_step(model, batch.x, prior, optimizers["autoencoder"], generator, autocast)
    return {"recon": recon, "kl": kl}


def supervised_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    """Paper §4: reconstruction from (z, one-hot label), then the usual regularization of z."""
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast, labels=batch.y)
    disc, gen = regularization_step(
        model, batch.x, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def labelled_prior_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §2.3: reconstruction, then regularization with the label beside each code and each prior sample."""
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)
    disc, gen = labelled_regularization_step(
        model, batch, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def categorical_regularization(model, batch, prior, optimizers, generator, autocast, config):
    """Phase 2 of the semi-supervised family, with this run's optimizers and instance noise."""
    return categorical_regularization_step(
        model,
        batch.x,
        prior,
        optimizers["discriminator"],
        optimizers["generator"],
        generator,
        autocast,
        config.instance_noise,
    )


def semi_supervised_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §5: reconstruction, regularization of y and z, then the semi-supervised classification phase."""
    labelled = (batch.labelled_x, batch.labelled_y) if config.labelled_reconstruction else None
    recon = categorical_reconstruction_step(model, batch.x, optimizers["autoencoder"], autocast, labelled=labelled)
    disc, gen = categorical_regularization(model, batch, prior, optimizers, generator, autocast, config)
    class_loss = classification_step(model, batch, optimizers["classifier"], autocast)
    return {"recon": recon, "disc": disc, "gen": gen, "class": class_loss}


def cluster_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §6: reconstruction and regularization of y and z; no labels anywhere."""
    recon = categorical_reconstruction_step(model, batch.x, optimizers["autoencoder"], autocast)
    disc, gen = categorical_regularization(model, batch, prior, optimizers, generator, autocast, config)
    return {"recon": recon, "disc": disc, "gen": gen}


def dimred_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §7: as clustering, decoding W·y + z with the heads held apart; plus the classification phase when
    some labels are given."""
    margin = model.config.head_margin
    recon = categorical_reconstruction_step(model, batch.x, optimizers["autoencoder"], autocast, margin=margin)
    disc, gen = categorical_regularization(model, batch, prior, optimizers, generator, autocast, config)
    losses = {"recon": recon, "disc": disc, "gen": gen}
    if "classifier" in optimizers:
        losses["class"] = classification_step(model, batch, optimizers["classifier"], autocast)
    return losses


def categorical_optimizers(model: AutoEncoder, config: TrainConfig, classify: bool) -> Optimizers:
    """The semi-supervised family's optimizers: autoencoder (with the dimred cluster heads), both discriminators
    together, the encoder as generator, and the encoder as classifier when labels are used."""
    betas = config.adversarial_betas
    discriminators = list(model.discriminator.parameters()) + list(model.y_discriminator.parameters())
    optimizers = {
        "autoencoder": adam(
            [p for name, p in model.named_parameters() if not name.startswith(("discriminator.", "y_discriminator."))],
            config,
            lr=config.lr,
        ),
        "discriminator": adam(discriminators, config, lr=config.disc_lr, betas=betas),
        "generator": adam(list(model.encoder.parameters()), config, lr=config.gen_lr, betas=betas),
    }
    if classify:
        optimizers["classifier"] = adam(list(model.encoder.parameters()), config, lr=config.lr)
    return optimizers


@dataclass(frozen=True)
class Recipe:
    """How one model kind is trained: its optimizers and its per-minibatch update (the phases, in order).

    `labels` says what the kind needs: "none"; "all" (every training label); "some" (every, or a labelled
    subset, the rest hidden); "optional" (trains without labels, uses any that are given).
    """

    make_optimizers: Callable[[AutoEncoder, TrainConfig], Optimizers]
    update: Callable[..., dict[str, torch.Tensor]]
    losses: tuple[str, ...]
    labels: str = "none"
    default_labels: int = 0  # TrainConfig.labels when the user gives none: -1 every label, 0 none

    def loss_names(self, config: TrainConfig) -> tuple[str, ...]:
        """The losses one update reports (the classification phase only runs when labels are given)."""
        return self.losses + (("class",) if self.labels == "optional" and config.labels != 0 else ())


RECIPES: dict[str, Recipe] = {
    "ae": Recipe(autoencoder_optimizers, ae_update, ("recon",)),
    "aae": Recipe(aae_optimizers, aae_update, ("recon", "disc", "gen")),
    "vae": Recipe(autoencoder_optimizers, vae_update, ("recon", "kl")),
    "supervised": Recipe(aae_optimizers, supervised_update, ("recon", "disc", "gen"), "all", -1),
    "labelled-prior": Recipe(aae_optimizers, labelled_prior_update, ("recon", "disc", "gen"), "some", -1),
    "semi-supervised": Recipe(
        lambda m, c: categorical_optimizers(m, c, classify=True),
        semi_supervised_update,
        ("recon", "disc", "gen", "class"),
        "some",
        -1,
    ),
    "cluster": Recipe(
        lambda m, c: categorical_optimizers(m, c, classify=False), cluster_update, ("recon", "disc", "gen")
    ),
    "dimred": Recipe(
        lambda m, c: categorical_optimizers(m, c, classify=c.labels != 0),
        dimred_update,
        ("recon", "disc", "gen"),
        "optional",
        0,
    ),
}


# ---------------------------------------------------------------------------------------------------- state


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
    optimizers = RECIPES[model_config.kind].make_optimizers(model, train_config)
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
            "config": asdict(run.train_config),
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
    """Rebuild a training state from a checkpoint written by `state_to_checkpoint`."""
    meta = checkpoint.metadata
    if "training" not in meta or "optimizers" not in meta:
        raise ConfigError("this checkpoint holds inference weights only (no optimizer state), so it cannot be resumed")
    model_config = ModelConfig.from_dict(meta["model"]["config"])
    train_values = dict(meta["training"]["config"])
    if epochs is not None:
        train_values["epochs"] = epochs
    train_config = TrainConfig.from_dict(train_values)
    with torch.device("meta"):  # refuse a mismatched architecture before allocating it
        check_weights(build_model(model_config), checkpoint.group("model"))
    state = new_state(model_config, train_config, device)
    load_weights(state.model, checkpoint.group("model"))
    for name, optimizer in state.optimizers.items():
        unpack_optimizer(name, optimizer, checkpoint, meta["optimizers"][name])
    rng = checkpoint.tensors.get("rng.generator")
    if rng is not None and meta["training"].get("generator_device") == device.type:
        state.generator.set_state(rng)
    state.epoch, state.step = int(meta["training"]["epoch"]), int(meta["training"]["step"])
    state.history = list(meta.get("history", []))
    if "snapshots.codes" in checkpoint.tensors:
        state.snapshot_codes = [c.to(device) for c in checkpoint.tensors["snapshots.codes"]]
        state.snapshot_steps = checkpoint.tensors["snapshots.steps"].tolist()
    run = RunInfo(model_config, train_config, prior_from_config(meta["prior"]), meta["dataset"])
    return state, run


# ---------------------------------------------------------------------------------------------------- labels


def visible_labels(kind: str, config: TrainConfig, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The training labels a run may see (hidden ones set to -1) and the labelled indices when only some are used."""
    need = RECIPES[kind].labels
    hidden = torch.full_like(labels, -1)
    if need == "none" or (need == "optional" and config.labels == 0):
        return hidden, None
    if config.labels == 0:
        raise ConfigError(f"the {kind} model needs labels: give --labels N, or -1 for all of them")
    if need == "all" and config.labels != -1:
        raise ConfigError(f"the {kind} model needs every training label (--labels -1)")
    if (labels < 0).any():
        raise ConfigError(f"the {kind} model needs labels, and this dataset has unlabelled examples")
    if config.labels == -1:
        return labels, None
    index = labelled_subset(labels, config.labels, seed=config.seed)
    return hidden.index_put((index,), labels[index]), index


# ---------------------------------------------------------------------------------------------------- loop


def train_epoch(
    state: TrainingState,
    recipe: Recipe,
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
    """One pass over `images` (already on the device) in shuffled minibatches; returns the epoch's mean losses.

    `model` is what the updates run through (default `state.model`; under torchrun its DDP-wrapped view) and
    `sharding` picks this rank's part of the epoch (default: all of it, shuffled by `state.generator`).
    `labels` are the training labels with hidden ones at -1; `pool` the labelled examples the semi-supervised
    phase draws a minibatch from at every step.
    """
    if labels is None:
        labels = torch.full((images.shape[0],), -1, dtype=torch.long, device=images.device)
    loss_names = recipe.loss_names(config)
    model = state.model if model is None else model
    autocast = make_autocast(images.device, config.precision)
    if sharding is None:
        order = torch.randperm(images.shape[0], generator=state.generator, device=images.device)
    else:
        order = sharding.order(images.shape[0], state.epoch, images.device)
        sharding.reseed(state.generator, state.epoch)
    n = order.shape[0]
    steps = math.ceil(n / config.batch_size)
    snapshot_every = max(1, steps // config.snapshots_per_epoch) if config.snapshots_per_epoch else 0
    totals = torch.zeros(len(loss_names), device=images.device)  # summed on the device: no per-step sync
    window = torch.zeros_like(totals)
    window_steps = 0
    for i in range(steps):
        index = order[i * config.batch_size : (i + 1) * config.batch_size]
        batch = Batch(images[index], labels[index])
        if pool is not None:
            pick = torch.randint(len(pool[0]), (len(index),), generator=state.generator, device=images.device)
            batch.labelled_x, batch.labelled_y = pool[0][pick], pool[1][pick]
        losses = recipe.update(model, batch, prior, state.optimizers, state.generator, autocast, config)
        step_losses = torch.stack([losses[name] for name in loss_names])
        totals += step_losses
        window += step_losses
        window_steps += 1
        state.step += 1
        if snapshot_every and state.step % snapshot_every == 0:
            take_snapshot(state, snapshot_images)
        if window_steps == config.log_every or i == steps - 1:
            values = dict(zip(loss_names, (window / window_steps).tolist(), strict=True))  # the one host sync
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
    state.snapshot_codes.append(state.model.encode(snapshot_images, sample=False).z)
    state.snapshot_steps.append(state.step)


def evaluate(
    model: AutoEncoder, prior: Prior, data: DataSplits, seed: int = 0
) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics on the evaluation split, and its codes (the atlas)."""
    config = model.config
    eval_codes = encode_all(model, data.eval.images).cpu()
    knn_train = data.train.subset(torch.arange(min(len(data.train), 10000)))
    train_codes = encode_all(model, knn_train.images).cpu()
    supervised_decoder = config.num_classes and not config.categories
    # The prior regularizes the Gaussian part of a dimensionality-reduction code, not the whole W·y + z.
    prior_codes = encode_all(model, data.eval.images, part="style").cpu() if config.kind == "dimred" else eval_codes
    metrics = {
        **reconstruction_error(model, data.eval.images, data.eval.labels if supervised_decoder else None),
        **prior_match(prior_codes, prior, seed=seed),
        "knn_accuracy": knn_accuracy(train_codes, knn_train.labels, eval_codes, data.eval.labels),
    }
    if getattr(prior, "num_labels", 0) and config.kind != "dimred" and (data.eval.labels >= 0).any():
        metrics["component_purity"] = component_purity(eval_codes, data.eval.labels, prior, seed=seed)
    if config.categories:
        eval_probs = encode_all(model, data.eval.images, part="y_logits").softmax(-1).cpu()
        if config.kind == "semi-supervised":
            metrics["classification_error"] = classification_error(eval_probs.argmax(1), data.eval.labels)
        else:  # clusters get their names from the training set (paper §6), by two protocols
            train_probs = encode_all(model, knn_train.images, part="y_logits").softmax(-1).cpu()
            for protocol in ("paper", "majority"):
                metrics[f"cluster_error_{protocol}"] = clustering_error(
                    eval_probs, data.eval.labels, train_probs, knn_train.labels, protocol=protocol
                )
    return metrics, eval_codes


def atlas_tensors(codes: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"atlas.codes": codes.float().cpu(), "atlas.labels": labels.cpu()}


@dataclass
class TrainResult:
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
    resume: str | Path | None = None,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable[[TrainingState], None] | None = None,
) -> TrainResult:
    """Train a model and write its checkpoint to `out` (periodically and at the end); resume from `resume`.
    `on_epoch` sees the training state after every epoch (for example to score a validation split).

    Launched by torchrun with several processes, it trains data-parallel (see `aae_core.distributed`): each rank
    trains on its shard and only rank 0 writes the checkpoint, shows progress and returns metrics.
    """
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
    if resume is not None:
        state, run = state_from_checkpoint(load_checkpoint(resume), torch_device, epochs=train_config.epochs)
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
    recipe = RECIPES[model_config.kind]
    if train_config.compile:
        compile_mlps(state.model, torch_device)
    if dist_context is not None and model_config.categories:
        # Their phases use the encoder's heads separately, which DistributedDataParallel's reducer rejects.
        raise ConfigError(f"data-parallel (torchrun) training of the {model_config.kind} model is not supported yet")
    update_model = distributed.wrap_model(state.model, dist_context)
    sharding = distributed.Sharding(dist_context, train_config.seed) if dist_context is not None else None

    images = data.train.images.to(torch_device)
    train_labels, labelled_index = visible_labels(model_config.kind, train_config, data.train.labels)
    train_labels = train_labels.to(torch_device)
    pool = None
    if "class" in recipe.loss_names(train_config):
        known = train_labels >= 0
        pool = (images[known], train_labels[known])
    snapshot_images = data.eval.images[snapshot_index(len(data.eval), train_config.snapshot_size)].to(torch_device)
    if not state.snapshot_codes and train_config.snapshots_per_epoch:
        take_snapshot(state, snapshot_images)  # the codes before training: the first frame of the replay

    steps_per_epoch = math.ceil(distributed.shard_size(len(images), dist_context) / train_config.batch_size)
    bar = tqdm(
        total=train_config.epochs * steps_per_epoch,
        initial=state.epoch * steps_per_epoch,
        disable=not (progress and is_main),
        unit="step",
        dynamic_ncols=True,
        desc=f"{model_config.kind} {prior.name}",
        mininterval=0.5,
    )
    with bar, cuda_matmul_precision(torch_device):
        while state.epoch < train_config.epochs:
            bar.set_description(f"{model_config.kind} {prior.name} epoch {state.epoch + 1}/{train_config.epochs}")
            epoch_losses = train_epoch(
                state,
                recipe,
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
            state.history.append({"epoch": state.epoch, "step": state.step, **epoch_losses})
            if on_epoch is not None and is_main:
                on_epoch(state)
            periodic = state.epoch % train_config.checkpoint_every == 0 and state.epoch < train_config.epochs
            if periodic and is_main:
                save_checkpoint(out, state_to_checkpoint(state, run))

    if not is_main:  # rank 0 evaluates and writes; the others wait for it at the barrier
        distributed.teardown(dist_context)
        return TrainResult(Path(out), {}, state.history, time.perf_counter() - started)
    metrics, eval_codes = evaluate(state.model, prior, data, seed=train_config.seed)
    extra = {
        "metadata": {"metrics": metrics, "atlas": {"split": "eval", "size": len(eval_codes)}},
        "tensors": atlas_tensors(eval_codes, data.eval.labels),
    }
    if labelled_index is not None:
        extra["tensors"]["labels.index"] = labelled_index
    path = save_checkpoint(out, state_to_checkpoint(state, run, extra))
    distributed.teardown(dist_context)
    return TrainResult(path, metrics, state.history, time.perf_counter() - started)


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
