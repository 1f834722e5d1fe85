"""Architectures: encoders, decoder, discriminators, and the eight models built from them (AE, AAE, VAE and the
paper's supervised, labelled-prior, semi-supervised, clustering and dimensionality-reduction AAEs).

This file holds architecture only: losses live in `losses.py`, training phases in `phases.py`, and which model a
kind name builds in `kinds.py`. Default sizes follow the paper (Makhzani et al. 2015, appendix): two hidden layers
of 1000 ReLU units.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .config import ConfigError, ModelConfig


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, norm: str = "none") -> nn.Sequential:
    """Linear-ReLU stack ending in a linear layer; `norm="batch"` puts batch normalization before each ReLU."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), *normalization(norm, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def normalization(norm: str, width: int) -> list[nn.Module]:
    """The layers `norm` (ModelConfig.encoder_norm) puts after a hidden linear layer of `width` units."""
    return [nn.BatchNorm1d(width)] if norm == "batch" else []


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block (batch normalization uses its running statistics), restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@dataclass
class EncoderOutput:
    """z: the code the decoder reads (beside a label, for conditional models); mean/logvar: the Gaussian
    posterior's parameters (None otherwise)."""

    z: torch.Tensor
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    y_logits: torch.Tensor | None = None  # q(y|x) logits of models with a categorical head
    style: torch.Tensor | None = None  # the Gaussian part of a dimensionality-reduction code


class Encoder(nn.Module):
    """q(z|x) as one MLP; `kind` names the posterior (paper §2.1). Subclasses say how the MLP's output becomes z."""

    kind: ClassVar[str] = "deterministic"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.noise_dim = self.noise_inputs(config)
        self.net = mlp(config.input_dim + self.noise_dim, config.hidden_dims, self.out_dim(config), config.encoder_norm)

    @staticmethod
    def noise_inputs(config: ModelConfig) -> int:
        """Noise values the MLP sees beside the pixels."""
        return 0

    @staticmethod
    def out_dim(config: ModelConfig) -> int:
        """Outputs of the MLP."""
        return config.latent_dim

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        """The code of flat images x (B, input_dim); deterministic: the same with or without `sample`."""
        return EncoderOutput(self.net(x))


class UniversalEncoder(Encoder):
    """Universal approximator posterior: the MLP sees x and fresh noise, so one input has a distribution of codes."""

    kind = "universal"

    @staticmethod
    def noise_inputs(config: ModelConfig) -> int:
        return config.noise_dim

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        # Without sampling the noise is held at its mean (0), giving one repeatable code per input.
        shape = (x.shape[0], self.noise_dim)
        noise = torch.randn(shape, generator=generator, device=x.device) if sample else x.new_zeros(shape)
        return EncoderOutput(self.net(torch.cat([x, noise], dim=1)))


class GaussianEncoder(Encoder):
    """Gaussian posterior N(mean, exp(logvar)), sampled by reparameterization (also the VAE's encoder)."""

    kind = "gaussian"

    @staticmethod
    def out_dim(config: ModelConfig) -> int:
        return 2 * config.latent_dim

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        mean, logvar = self.net(x).chunk(2, dim=1)  # (B, z) each
        logvar = logvar.clamp(-12.0, 8.0)  # keeps exp() finite early in training
        if not sample:
            return EncoderOutput(mean, mean, logvar)
        eps = torch.randn(mean.shape, generator=generator, device=x.device)
        return EncoderOutput(mean + eps * (0.5 * logvar).exp(), mean, logvar)


ENCODERS: dict[str, type[Encoder]] = {cls.kind: cls for cls in (Encoder, GaussianEncoder, UniversalEncoder)}


class AutoEncoder(nn.Module):
    """Plain autoencoder: the unregularized baseline whose latent space has gaps."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ENCODERS[self.encoder_kind(config)](config)
        self.decoder = mlp(
            config.latent_dim + config.num_classes, tuple(reversed(config.hidden_dims)), config.input_dim
        )

    @staticmethod
    def encoder_kind(config: ModelConfig) -> str:
        return config.encoder

    @staticmethod
    def check_config(config: ModelConfig) -> None:
        """Raise ConfigError for settings this kind cannot use."""

    def encode(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        """Codes of flat images x (B, input_dim); `sample=False` gives the posterior mean / noise-free code."""
        return self.encoder(x, sample=sample, generator=generator)

    def decode_logits(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pixel logits (B, input_dim) for codes z (B, latent_dim); a conditional decoder also takes class labels
        (B,) or a soft class vector y (B, num_classes), as the semi-supervised AAE feeds its q(y|x)."""
        if self.config.num_classes:
            if y is None:
                if labels is None:
                    raise ValueError("this model's decoder is conditioned on a class label: pass labels")
                y = nn.functional.one_hot(labels.long(), self.config.num_classes).to(z.dtype)
            z = torch.cat([z, y.to(z.dtype)], dim=1)
        return self.decoder(z)

    def reconstruct_logits(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel logits of x through the deterministic code: a model with a class head decodes its own q(y|x),
        a supervised one the given labels."""
        out = self.encode(x, sample=False)
        if self.config.num_classes and out.y_logits is not None:
            return self.decode_logits(out.z, y=out.y_logits.softmax(-1))
        return self.decode_logits(out.z, labels)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1], shape (B, input_dim)."""
        return torch.sigmoid(self.decode_logits(z, labels))


class AdversarialAutoEncoder(AutoEncoder):
    """AAE (paper §2): an autoencoder whose codes a discriminator tries to tell from prior samples."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.discriminator = mlp(config.latent_dim, config.disc_hidden_dims, 1)

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        """Logit (B,) that each code was drawn from the prior rather than produced by the encoder."""
        return self.discriminator(z).squeeze(-1)


class VariationalAutoEncoder(AutoEncoder):
    """VAE baseline (Kingma & Welling 2014) with the same MLPs; the encoder is always Gaussian."""

    @staticmethod
    def encoder_kind(config: ModelConfig) -> str:
        return "gaussian"


class SupervisedAAE(AdversarialAutoEncoder):
    """Supervised AAE (paper §4, Fig. 6): the label goes to the decoder as a one-hot vector, so z keeps only style."""

    @staticmethod
    def check_config(config: ModelConfig) -> None:
        if config.num_classes < 2:
            raise ConfigError("the supervised AAE needs num_classes >= 2 (the labels given to its decoder)")


class LabelledPriorAAE(AdversarialAutoEncoder):
    """AAE with labels in the adversarial part (paper §2.3, Fig. 3): the discriminator sees a one-hot label beside
    each code, and each class's codes are pushed onto that class's own component of the prior; unlabelled examples
    use an extra slot and the whole prior."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.discriminator = mlp(config.latent_dim + config.label_slots, config.disc_hidden_dims, 1)

    @staticmethod
    def check_config(config: ModelConfig) -> None:
        if config.label_slots < 2:
            raise ConfigError("the labelled-prior AAE needs label_slots >= 2 (the classes plus an unlabelled slot)")

    def discriminate(self, z: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        """Logit (B,) that (code, slot) came from the prior; slot label_slots-1 means "unlabelled"."""
        if slots is None:
            slots = torch.full((z.shape[0],), self.config.label_slots - 1, device=z.device)
        one_hot = nn.functional.one_hot(slots.long(), self.config.label_slots).to(z.dtype)
        return self.discriminator(torch.cat([z, one_hot], dim=1)).squeeze(-1)


class CategoricalEncoder(nn.Module):
    """q(y|x) and q(z|x) from one trunk (paper §5, Fig. 8): a softmax head over `categories` and a linear z head."""

    kind: ClassVar[str] = "deterministic"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        *trunk, last = config.hidden_dims
        norm = config.encoder_norm
        self.trunk = nn.Sequential(
            mlp(config.input_dim, tuple(trunk), last, norm), *normalization(norm, last), nn.ReLU()
        )
        self.y_head = nn.Linear(last, config.categories)
        self.z_head = nn.Linear(last, config.latent_dim)

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        h = self.trunk(x)
        return EncoderOutput(self.z_head(h), y_logits=self.y_head(h))


class SemiSupervisedAAE(AutoEncoder):
    """Semi-supervised AAE (paper §5): categorical y and Gaussian z from the encoder, each with its own
    discriminator; the decoder reconstructs from (y, z). With no labelled phase it is the clustering AAE (§6)."""

    def __init__(self, config: ModelConfig) -> None:
        nn.Module.__init__(self)
        self.config = config
        self.encoder = CategoricalEncoder(config)
        self.decoder = mlp(
            config.latent_dim + config.num_classes, tuple(reversed(config.hidden_dims)), config.input_dim
        )
        self.discriminator = mlp(config.latent_dim, config.disc_hidden_dims, 1)  # on z, against the Gaussian
        self.y_discriminator = mlp(config.categories, config.disc_hidden_dims, 1)  # on y, against one-hot samples

    @staticmethod
    def check_config(config: ModelConfig) -> None:
        if config.categories < 2 or config.num_classes != config.categories:
            raise ConfigError("semi-supervised/cluster AAEs need categories >= 2 and num_classes == categories")

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        return self.discriminator(z).squeeze(-1)

    def discriminate_y(self, y: torch.Tensor) -> torch.Tensor:
        """Logit (B,) that the class vector y (B, categories) is a one-hot prior sample."""
        return self.y_discriminator(y).squeeze(-1)


class ClusteringAAE(SemiSupervisedAAE):
    """Unsupervised clustering AAE (paper §6): the semi-supervised architecture with K clusters and no labels."""


class DimensionalityReductionAAE(SemiSupervisedAAE):
    """Dimensionality-reduction AAE (paper §7, Fig. 10): the code is W·y + z, a learned cluster head per category
    plus a Gaussian style offset, decoded without the label; trained with or without labels."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        # W as a bias-free linear map y → W·y: a submodule, so data-parallel training wraps and syncs it too.
        self.heads = nn.Linear(config.categories, config.latent_dim, bias=False)
        nn.init.normal_(self.heads.weight)

    @staticmethod
    def check_config(config: ModelConfig) -> None:
        if config.categories < 2 or config.num_classes != 0:
            raise ConfigError("the dimensionality-reduction AAE needs categories >= 2 and an unconditional decoder")

    @property
    def cluster_heads(self) -> torch.Tensor:
        """W, one row per category: (K, d)."""
        heads = getattr(self.heads, "module", self.heads)  # under DistributedDataParallel, the wrapped Linear
        return heads.weight.T

    def encode(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        """z of the output is the representation W·softmax(y) + style; `style` holds the Gaussian part."""
        out = self.encoder(x, sample=sample, generator=generator)
        representation = self.heads(out.y_logits.softmax(-1)) + out.z
        return EncoderOutput(representation, y_logits=out.y_logits, style=out.z)


def inference_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights needed to encode and decode (no discriminators)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(("discriminator.", "y_discriminator."))}
