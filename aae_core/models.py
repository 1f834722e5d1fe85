"""Architectures: encoders, decoder, discriminator, and the three models built from them (AE, AAE, VAE).

A model file holds architecture only; losses live in `losses.py` and training phases in `training.py`.
Default sizes follow the paper (Makhzani et al. 2015, appendix): two hidden layers of 1000 ReLU units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn

ENCODER_KINDS = ("deterministic", "gaussian", "universal")


class ConfigError(ValueError):
    """A configuration that cannot work (bad sizes, unknown kinds, a prior a model cannot use)."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture; saved inside every checkpoint."""

    kind: str = "aae"  # registry name: ae | aae | vae
    input_dim: int = 784  # flattened image size, H*W
    latent_dim: int = 2  # size of the code z
    hidden_dims: tuple[int, ...] = (1000, 1000)  # encoder and decoder hidden layers (decoder mirrored)
    disc_hidden_dims: tuple[int, ...] = (1000, 1000)  # discriminator hidden layers (AAE only)
    encoder: str = "deterministic"  # deterministic | gaussian | universal (paper §2.1); VAE forces gaussian
    noise_dim: int = 16  # extra noise inputs of the universal-approximator encoder
    num_classes: int = 0  # one-hot label fed to the decoder beside z (supervised AAE, paper §4); 0 = none

    def __post_init__(self) -> None:
        # Accept lists from JSON and the CLI but keep the frozen config hashable.
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        object.__setattr__(self, "disc_hidden_dims", tuple(int(h) for h in self.disc_hidden_dims))
        if self.kind not in MODELS:
            raise ConfigError(f"unknown model {self.kind!r}; choose one of: {', '.join(MODELS)}")
        if self.encoder not in ENCODER_KINDS:
            raise ConfigError(f"unknown encoder {self.encoder!r}; choose one of: {', '.join(ENCODER_KINDS)}")
        if self.input_dim < 1 or self.latent_dim < 1 or self.noise_dim < 1 or self.num_classes < 0:
            raise ConfigError("input, latent and noise sizes must be >= 1 (num_classes >= 0)")
        if not self.hidden_dims or min(self.hidden_dims + self.disc_hidden_dims) < 1:
            raise ConfigError("hidden layer sizes must be >= 1 (and the encoder needs at least one)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """Linear-ReLU stack ending in a linear layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


@dataclass
class EncoderOutput:
    """z: the code used downstream; mean/logvar: the Gaussian posterior's parameters (None otherwise)."""

    z: torch.Tensor
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


class Encoder(nn.Module):
    """q(z|x): deterministic, Gaussian posterior, or universal approximator (x plus noise), paper §2.1."""

    def __init__(self, config: ModelConfig, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.noise_dim = config.noise_dim if kind == "universal" else 0
        out_dim = 2 * config.latent_dim if kind == "gaussian" else config.latent_dim
        self.net = mlp(config.input_dim + self.noise_dim, config.hidden_dims, out_dim)

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        if self.kind == "deterministic":
            return EncoderOutput(self.net(x))
        if self.kind == "universal":
            # Without sampling the noise is held at its mean (0), giving one repeatable code per input.
            shape = (x.shape[0], self.noise_dim)
            noise = torch.randn(shape, generator=generator, device=x.device) if sample else x.new_zeros(shape)
            return EncoderOutput(self.net(torch.cat([x, noise], dim=1)))
        mean, logvar = self.net(x).chunk(2, dim=1)  # (B, z) each
        logvar = logvar.clamp(-12.0, 8.0)  # keeps exp() finite early in training
        if not sample:
            return EncoderOutput(mean, mean, logvar)
        eps = torch.randn(mean.shape, generator=generator, device=x.device)
        return EncoderOutput(mean + eps * (0.5 * logvar).exp(), mean, logvar)


class AutoEncoder(nn.Module):
    """Plain autoencoder: the unregularized baseline whose latent space has gaps."""

    kind: ClassVar[str] = "ae"
    uses_prior: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, self.encoder_kind(config))
        self.decoder = mlp(
            config.latent_dim + config.num_classes, tuple(reversed(config.hidden_dims)), config.input_dim
        )

    @staticmethod
    def encoder_kind(config: ModelConfig) -> str:
        return config.encoder

    def encode(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> EncoderOutput:
        """Codes of flat images x (B, input_dim); `sample=False` gives the posterior mean / noise-free code."""
        return self.encoder(x, sample=sample, generator=generator)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel logits (B, input_dim) for codes z (B, latent_dim), and class labels (B,) if conditional."""
        if self.config.num_classes:
            if labels is None:
                raise ValueError("this model's decoder is conditioned on a class label: pass labels")
            z = torch.cat([z, nn.functional.one_hot(labels.long(), self.config.num_classes).to(z.dtype)], dim=1)
        return self.decoder(z)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1], shape (B, input_dim)."""
        return torch.sigmoid(self.decode_logits(z, labels))


class AdversarialAutoEncoder(AutoEncoder):
    """AAE (paper §2): an autoencoder whose codes a discriminator tries to tell from prior samples."""

    kind = "aae"
    uses_prior = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.discriminator = mlp(config.latent_dim, config.disc_hidden_dims, 1)

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        """Logit (B,) that each code was drawn from the prior rather than produced by the encoder."""
        return self.discriminator(z).squeeze(-1)


class VariationalAutoEncoder(AutoEncoder):
    """VAE baseline (Kingma & Welling 2014) with the same MLPs; the encoder is always Gaussian."""

    kind = "vae"
    uses_prior = True

    @staticmethod
    def encoder_kind(config: ModelConfig) -> str:
        return "gaussian"


MODELS: dict[str, type[AutoEncoder]] = {
    cls.kind: cls for cls in (AutoEncoder, AdversarialAutoEncoder, VariationalAutoEncoder)
}


def build_model(config: ModelConfig) -> AutoEncoder:
    """Instantiate the registered model for `config.kind`."""
    return MODELS[config.kind](config)


def inference_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights needed to encode and decode (no discriminator)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("discriminator.")}
