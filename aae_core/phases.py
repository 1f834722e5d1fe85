"""The paper's update steps, one function per training phase, in the order a minibatch meets them.

Each step takes the model, the minibatch, its optimizer(s), the random generator and the autocast context, does its
forward passes, one backward and one optimizer step, and returns its loss(es), detached, for the progress bar.
Which steps a model kind runs, and in what order, is its update function in `kinds.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from .acceleration import Autocast
from .losses import (
    discriminator_loss,
    gaussian_kl,
    generator_loss,
    head_separation_loss,
    mmd_penalty,
    reconstruction_loss,
    sampled_kl,
)
from .models import AutoEncoder
from .priors import GaussianPrior, Prior


@dataclass
class Batch:
    """One minibatch: images, their labels (-1 where hidden), and for the semi-supervised phase a minibatch drawn
    from the labelled pool."""

    x: torch.Tensor  # (B, D)
    y: torch.Tensor  # (B,)
    labelled_x: torch.Tensor | None = None
    labelled_y: torch.Tensor | None = None


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


def zero_pixels(x: torch.Tensor, share: float, generator: torch.Generator | None) -> torch.Tensor:
    """`x` with each pixel set to 0 with probability `share` (the denoising mask)."""
    return x * (torch.rand(x.shape, generator=generator, device=x.device) >= share).to(x.dtype)


@contextmanager
def corrupted_inputs(encoder: torch.nn.Module, noise: float, mask: float, generator: torch.Generator) -> Iterator[None]:
    """Inside the block, every training pass through `encoder` sees its images corrupted: Gaussian noise of std
    `noise` (clipped to 0-1), then a share `mask` of the pixels set to 0. Any kind becomes a denoising autoencoder.

    Every phase encodes through `model.encoder` and scores the reconstruction against its own clean `x`, so corrupting
    the encoder's input is all it takes. Only passes with gradients on are corrupted: the snapshots and metrics
    (under `torch.no_grad`) encode the clean images.
    """
    if noise == 0 and mask == 0:
        yield
        return

    def corrupt(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        if not torch.is_grad_enabled():
            return None
        x = args[0]
        if noise:
            x = (x + noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)).clamp(0, 1)
        if mask:
            x = zero_pixels(x, mask, generator)
        return (x, *args[1:]), kwargs

    handle = encoder.register_forward_pre_hook(corrupt, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def dropped_hidden_units(encoder: torch.nn.Module, share: float, generator: torch.Generator) -> Iterator[None]:
    """Inside the block, every training pass through `encoder` drops a `share` of each hidden ReLU's outputs and
    scales the rest by 1/(1 - share) (dropout). As in `corrupted_inputs`, passes without gradients (snapshots,
    metrics, scoring) see every unit."""
    if share == 0:
        yield
        return

    def drop(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled():
            return None
        keep = torch.rand(output.shape, generator=generator, device=output.device) >= share
        return output * keep.to(output.dtype) / (1 - share)

    handles = [m.register_forward_hook(drop) for m in encoder.modules() if isinstance(m, torch.nn.ReLU)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def labelled_prior_samples(
    model: AutoEncoder, batch: Batch, prior: Prior, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §2.3: a prior sample per example, from its class's own component where it has a label and from the
    whole prior elsewhere, and the discriminator slot of each (its label, or the last slot: "unlabelled")."""
    unlabelled = model.config.label_slots - 1
    slots = torch.where(batch.y >= 0, batch.y, torch.full_like(batch.y, unlabelled))
    any_z, _ = prior.sample_with_labels(batch.x.shape[0], generator)
    own_z = prior.sample_given_labels(batch.y.clamp_min(0), generator)
    return torch.where((batch.y >= 0)[:, None], own_z, any_z), slots


def joint_adversarial_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior_z: torch.Tensor,
    autoencoder_optimizer: torch.optim.Optimizer,
    disc_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    *,
    weight: float = 1.0,
    labels: torch.Tensor | None = None,
    slots: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One AAE minibatch with the encoder's two goals in one objective (the default, `--adversarial joint`).

    1. The discriminator learns `prior_z` from the codes of x (with `slots` beside both, for the labelled prior).
    2. Encoder and decoder take one Adam step on reconstruction + `weight` × the generator loss against the updated
       discriminator (decoding with `labels`, for the supervised AAE).

    The paper's separate phases (`reconstruction_step`, then `regularization_step`) give the encoder two Adam
    optimizers; each rescales its own gradient, so near equilibrium the small, noisy adversarial gradient becomes
    full-size steps that reconstruction keeps undoing, and codes and reconstructions drift (docs/PRIOR_MATCH.md).
    With plain SGD, as in the paper, the two phases add up to this one gradient. Returns (recon, disc, gen).
    """
    extra = () if slots is None else (slots,)
    # One encoder forward serves all three losses: the encoder's weights do not change before step 2.
    with autocast():
        z = model.encode(x, generator=generator).z
        prior_logits, code_logits = model.discriminate(prior_z, *extra), model.discriminate(z.detach(), *extra)
    disc_loss = discriminator_loss(prior_logits.float(), code_logits.float())
    optimizer_step(disc_optimizer, disc_loss)
    with frozen(model.discriminator):
        with autocast():
            logits = model.decode_logits(z, labels)
            gen_loss = generator_loss(model.discriminate(z, *extra).float())
        recon = reconstruction_loss(logits.float(), x)
        optimizer_step(autoencoder_optimizer, recon + weight * gen_loss)
    return recon.detach(), disc_loss.detach(), gen_loss.detach()


def mmd_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior: Prior,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    *,
    weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The WAE's one step: encoder and decoder on reconstruction + `weight` × MMD(codes, prior samples), the
    penalty that matches the codes' distribution to the prior without a discriminator. Returns (recon, mmd)."""
    with autocast():
        z = model.encode(x, generator=generator).z
        logits = model.decode_logits(z)
    recon = reconstruction_loss(logits.float(), x)
    penalty = mmd_penalty(z.float(), prior.sample(x.shape[0], generator), prior.scale())
    optimizer_step(optimizer, recon + weight * penalty)
    return recon.detach(), penalty.detach()


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
    prior_z, slots = labelled_prior_samples(model, batch, prior, generator)
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


def categorical_reconstruction_loss(
    model: AutoEncoder, out, x: torch.Tensor, autocast: Autocast = nullcontext, margin: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """x's reconstruction loss from the encoder's output `out`: from q(y|x) and q(z|x), or for dimred from W·y + z;
    and that loss plus the hinge that keeps the heads `margin` apart (the same when `margin` is 0)."""
    with autocast():
        if model.config.num_classes:
            logits = model.decode_logits(out.z, y=out.y_logits.softmax(-1))
        else:
            logits = model.decode_logits(out.z)
    loss = reconstruction_loss(logits.float(), x)
    return loss, loss + head_separation_loss(model.cluster_heads, margin) if margin > 0 else loss


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
    loss, total = categorical_reconstruction_loss(model, out, x, autocast, margin)
    if labelled is not None:
        labelled_x, labelled_y = labelled
        with autocast():
            one_hot = torch.nn.functional.one_hot(labelled_y, model.config.num_classes).to(labelled_x.dtype)
            labelled_logits = model.decode_logits(model.encode(labelled_x).z, y=one_hot)
        total = total + reconstruction_loss(labelled_logits.float(), labelled_x)
    optimizer_step(optimizer, total)
    return loss.detach()


def categorical_discriminator_step(
    model: AutoEncoder,
    out,
    prior: Prior,
    disc_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    noise: float = 0.0,
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """Paper §5, phase 2a: one discriminator tells one-hot samples from q(y|x), another Gaussian samples from
    q(z|x) (the style part, for dimred), both seeing their inputs, real and fake, through Gaussian noise of std
    `noise`. `out` is the encoder's output for the minibatch. Returns the discriminators' loss and the encoder's
    generator loss against the updated discriminators (a function: call it where they are frozen)."""
    categories, n = model.config.categories, out.z.shape[0]

    def noisy(t: torch.Tensor) -> torch.Tensor:
        return t + instance_noise(t, noise, generator)

    one_hot = torch.nn.functional.one_hot(
        torch.randint(categories, (n,), generator=generator, device=out.z.device), categories
    ).float()
    prior_z = prior.sample(n, generator)
    with autocast():
        y, z = out.y_logits.softmax(-1).float(), (out.style if out.style is not None else out.z).float()
        # The fakes' noise is drawn once and reused by the generator loss, which sees the same noisy inputs.
        y_noise, z_noise = instance_noise(y, noise, generator), instance_noise(z, noise, generator)
        disc_loss = discriminator_loss(
            model.discriminate_y(noisy(one_hot)).float(), model.discriminate_y(y.detach() + y_noise).float()
        ) + discriminator_loss(
            model.discriminate(noisy(prior_z)).float(), model.discriminate(z.detach() + z_noise).float()
        )
    optimizer_step(disc_optimizer, disc_loss)

    def gen_loss() -> torch.Tensor:
        with autocast():
            return generator_loss(model.discriminate_y(y + y_noise).float()) + generator_loss(
                model.discriminate(z + z_noise).float()
            )

    return disc_loss.detach(), gen_loss


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
    """Paper §5, phase 2: the discriminators of y and z learn (`categorical_discriminator_step`), then the encoder
    learns to fool both, with its own optimizer."""
    with autocast():
        out = model.encode(x)
    disc_loss, gen_loss = categorical_discriminator_step(model, out, prior, disc_optimizer, generator, autocast, noise)
    with frozen(model.discriminator), frozen(model.y_discriminator):
        loss = gen_loss()
        optimizer_step(gen_optimizer, loss)
    return disc_loss, loss.detach()


def categorical_joint_step(
    model: AutoEncoder,
    x: torch.Tensor,
    prior: Prior,
    autoencoder_optimizer: torch.optim.Optimizer,
    disc_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    autocast: Autocast = nullcontext,
    *,
    noise: float = 0.0,
    weight: float = 1.0,
    margin: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Phases 1 and 2 of §5-7 as one objective (`--categorical-adversarial joint`), as `joint_adversarial_step`
    does for the AAE: the discriminators learn, then encoder and decoder take one Adam step on the reconstruction
    (from q(y|x) and q(z|x), or W·y + z with the heads `margin` apart) + `weight` × both generator losses.
    Returns (recon, disc, gen)."""
    with autocast():
        out = model.encode(x)
    disc_loss, gen_loss = categorical_discriminator_step(model, out, prior, disc_optimizer, generator, autocast, noise)
    with frozen(model.discriminator), frozen(model.y_discriminator):
        adversarial = gen_loss()
        recon, total = categorical_reconstruction_loss(model, out, x, autocast, margin)
        optimizer_step(autoencoder_optimizer, total + weight * adversarial)
    return recon.detach(), disc_loss, adversarial.detach()


def classification_step(
    model: AutoEncoder,
    batch: Batch,
    optimizer: torch.optim.Optimizer,
    autocast: Autocast = nullcontext,
    label_smoothing: float = 0.0,
    labelled_mask: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Paper §5, phase 3: cross-entropy of q(y|x) on a labelled minibatch (targets smoothed by `label_smoothing`;
    a share `labelled_mask` of its pixels set to 0 first), updating the encoder."""
    x = zero_pixels(batch.labelled_x, labelled_mask, generator) if labelled_mask else batch.labelled_x
    with autocast():
        y_logits = model.encode(x).y_logits
    loss = torch.nn.functional.cross_entropy(y_logits.float(), batch.labelled_y, label_smoothing=label_smoothing)
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
