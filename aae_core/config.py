"""Settings: `ModelConfig` (the architecture) and `TrainConfig` (the optimisation), both saved in every checkpoint.

Each field that a user may set from the command line carries its flag's help text (and, where needed, its flag name,
argparse type or choices) in its metadata; `add_config_arguments` builds the `train` command's flags from them and
`config_values` reads them back, so a setting is written once, here.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

PRECISIONS = ("fp32", "bf16")
ADVERSARIAL_MODES = ("joint", "phases")
ENCODER_KINDS = ("deterministic", "gaussian", "universal")
ENCODER_NORMS = ("none", "batch")  # "batch": batch normalization in the encoder's hidden layers (paper A.3)


class ConfigError(ValueError):
    """A configuration that cannot work (bad sizes, unknown kinds, a prior a model cannot use)."""


# ---------------------------------------------------------------------------------------------------- flag types


# Ceilings on what a flag can ask for: a layer width, code size, cluster or component count of at most MAX_SIZE,
# and at most MAX_LAYERS hidden layers. A 10,000-wide layer is ten times the paper's and already holds 400 MB of
# weights (1.6 GB with gradients and Adam state); beyond that a typo (--clusters 100000000) only ends in an
# allocation failure.
MAX_SIZE = 10_000
MAX_LAYERS = 100
# Adam moves every weight by about the learning rate per step whatever the gradient's scale, so above 1 each step
# is larger than the weights themselves (initialised ~1/sqrt(fan-in)); the paper's rates are 1e-4 to 1e-3.
MAX_LEARNING_RATE = 1.0
MAX_SEED = 2**32 - 1  # numpy's seed range; torch's is wider, but the seed must work for both


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def size_int(text: str) -> int:
    """argparse type: a size from 1 to MAX_SIZE (code size, clusters, mixture components)."""
    value = positive_int(text)
    if value > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_SIZE:,}, got {value:,}")
    return value


def seed_int(text: str) -> int:
    """argparse type: a random seed, an integer from 0 to 2**32-1."""
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def learning_rate(text: str) -> float:
    """argparse type: a learning rate, a number > 0 and <= MAX_LEARNING_RATE."""
    value = float(text)
    if not 0 < value <= MAX_LEARNING_RATE:
        raise argparse.ArgumentTypeError(f"must be a number > 0 and <= {MAX_LEARNING_RATE:g}, got {text}")
    return value


def layer_sizes(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated layer sizes such as 1000,1000 (each 1 to MAX_SIZE, at most MAX_LAYERS)."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 1000,1000, got {text!r}") from None
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_SIZE or len(sizes) > MAX_LAYERS:
        raise argparse.ArgumentTypeError(
            f"layer sizes must be 1 to {MAX_SIZE:,}, at most {MAX_LAYERS} layers, got {text!r}"
        )
    return sizes


def _kind_names() -> tuple[str, ...]:
    from .kinds import KINDS  # the registry imports the models, which import this module

    return tuple(KINDS)


_NO_CLI_DEFAULT = object()


def flag(
    default: Any,
    help: str,
    *,
    name: str | None = None,
    type: Callable[[str], Any] | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    cli_default: Any = _NO_CLI_DEFAULT,
) -> Any:
    """A dataclass field that is also a `train` flag (`--field-name` unless `name` is given)."""
    metadata = {"help": help, "flag": name, "type": type, "choices": choices}
    if cli_default is not _NO_CLI_DEFAULT:
        metadata["cli_default"] = cli_default
    return field(default=default, metadata=metadata)


# ---------------------------------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture; saved inside every checkpoint."""

    kind: str = flag("aae", "model kind", name="--model", choices=_kind_names)  # a name in kinds.KINDS
    input_dim: int = 784  # flattened image size, H*W
    latent_dim: int = flag(2, "size of the code z", type=size_int)
    # encoder and decoder hidden layers (decoder mirrored)
    hidden_dims: tuple[int, ...] = flag((1000, 1000), "encoder/decoder hidden sizes", name="--hidden", type=layer_sizes)
    disc_hidden_dims: tuple[int, ...] = flag(
        (1000, 1000), "discriminator hidden sizes", name="--disc-hidden", type=layer_sizes
    )
    # VAE forces gaussian
    encoder: str = flag("deterministic", "posterior q(z|x) of the AAE (paper §2.1)", choices=ENCODER_KINDS)
    noise_dim: int = 16  # extra noise inputs of the universal-approximator encoder
    num_classes: int = 0  # one-hot label fed to the decoder beside z (supervised AAE, paper §4); 0 = none
    categories: int = 0  # size of the encoder's categorical head y: classes (§5), clusters (§6), cluster heads (§7)
    label_slots: int = 0  # labels shown to the discriminator, plus one "unlabelled" slot (paper §2.3, Fig. 3)
    # dimred: cluster heads closer than this are pushed apart (paper §7's η)
    head_margin: float = flag(4.0, "dimred: least distance of cluster heads", type=float)
    # The paper's clustering AAE batch-normalizes its encoder's hidden layers (appendix A.3)
    encoder_norm: str = flag("none", "normalization in the encoder's hidden layers", choices=ENCODER_NORMS)

    def __post_init__(self) -> None:
        from .kinds import KINDS  # the registry imports the models, which import this module

        # Accept lists from JSON and the CLI but keep the frozen config hashable.
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        object.__setattr__(self, "disc_hidden_dims", tuple(int(h) for h in self.disc_hidden_dims))
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if self.encoder not in ENCODER_KINDS:
            raise ConfigError(f"unknown encoder {self.encoder!r}; choose one of: {', '.join(ENCODER_KINDS)}")
        if self.encoder_norm not in ENCODER_NORMS:
            raise ConfigError(
                f"unknown encoder normalization {self.encoder_norm!r}; choose one of: {', '.join(ENCODER_NORMS)}"
            )
        if self.input_dim < 1 or self.latent_dim < 1 or self.noise_dim < 1:
            raise ConfigError("input, latent and noise sizes must be >= 1")
        if min(self.num_classes, self.categories, self.label_slots) < 0:
            raise ConfigError("num_classes, categories and label_slots must be >= 0")
        if max(self.latent_dim, self.categories, *self.hidden_dims, *self.disc_hidden_dims) > MAX_SIZE:
            raise ConfigError(f"code size, layer widths and cluster counts must be <= {MAX_SIZE:,}")
        if not (self.head_margin >= 0 and math.isfinite(self.head_margin)):
            raise ConfigError(f"--head-margin must be a number >= 0, got {self.head_margin}")
        # Paper §7 reduces to two or more dimensions (cluster heads spread over a plane, Fig. 10). This rule belongs
        # in DimensionalityReductionAAE.check_config (models.py); it sits here until it moves there.
        if self.kind == "dimred" and self.latent_dim < 2:
            raise ConfigError(f"the dimensionality-reduction AAE needs --latent-dim >= 2, got {self.latent_dim}")
        KINDS[self.kind].model.check_config(self)
        if not self.hidden_dims or min(self.hidden_dims + self.disc_hidden_dims) < 1:
            raise ConfigError("hidden layer sizes must be >= 1 (and the encoder needs at least one)")

    def to_dict(self) -> dict[str, Any]:
        """The settings a checkpoint stores (those added later only when set)."""
        return stored_fields(self, LATER_MODEL_SETTINGS)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved inside every checkpoint."""

    epochs: int = flag(
        20,
        "total epochs to train to; with --resume, the epoch to continue to (not given: the resumed run's own target)",
        type=positive_int,
    )
    batch_size: int = flag(100, "minibatch size", type=positive_int)  # the paper's minibatch size
    # The AAE needs its three players in balance (docs/TRAINING_NOTES.md). With reconstruction at 1e-3 and the
    # adversarial pair at 1e-4 the discriminator wins and reconstruction drags the codes off the prior; with the
    # generator faster than the discriminator the codes run away where the discriminator extrapolates "prior".
    lr: float = flag(2e-4, "Adam learning rate, reconstruction phase", type=learning_rate)  # the whole AE / VAE
    disc_lr: float = flag(2e-4, "Adam learning rate, discriminator", type=learning_rate)
    gen_lr: float = flag(2e-4, "Adam learning rate, encoder as generator", type=learning_rate)
    # dimred's cluster heads W: at the networks' rate Adam moves a head about 0.1 per epoch and the hinge never
    # parts them (they stayed 0.7 apart against a margin of 4); this rate parts them by epoch 7 on MNIST.
    head_lr: float = flag(6e-3, "dimred: Adam learning rate of the cluster heads W", type=learning_rate)
    # A step schedule. At a constant rate the adversarial phases keep the validation error jumping by a few tenths
    # of a percent from epoch to epoch; a tenth of the rate after the plateau settles it lower (docs/REPRODUCTION.md).
    lr_decay_epoch: int = flag(
        0, "after this many epochs, multiply every learning rate by --lr-decay (0: never)", type=nonnegative_int
    )
    lr_decay: float = flag(0.1, "the factor of --lr-decay-epoch (0-1)", type=positive_float)
    # Adam betas of the AAE kinds' adversarial optimizers. A long second-moment memory (0.999) keeps Adam from turning
    # the small, noisy adversarial gradients near equilibrium into full-size steps (docs/PRIOR_MATCH.md).
    adversarial_betas: tuple[float, float] = (0.5, 0.999)
    categorical_betas: tuple[float, float] = (0.5, 0.9)  # the same for the semi-supervised family (§5-7)
    # How the AAE's encoder (aae, supervised, labelled-prior) meets its two goals; docs/PRIOR_MATCH.md has the runs.
    adversarial: str = flag(
        "joint",
        "AAE, supervised, labelled-prior: joint = one Adam step of encoder and decoder on reconstruction + "
        "--adversarial-weight x generator loss (holds the prior); phases = the paper's separate reconstruction and "
        "generator steps, each with its own Adam (drifts off the prior with training)",
        choices=ADVERSARIAL_MODES,
    )
    # The reconstruction loss is summed over pixels, so the generator loss is weighted by image size: this weight
    # for a 28×28 image, times pixels / 784 for other sizes (`adversarial_weight_for`).
    adversarial_weight: float = flag(
        30.0,
        "joint: weight of the generator loss beside the reconstruction loss of a 28x28 image (scaled by pixel count)",
        type=positive_float,
    )
    # Semi-supervised family (paper §5-7) only. Gaussian noise of this std on both discriminators' inputs, real and
    # fake alike: without it the y discriminator tells an exact one-hot from any softmax output and its gradient
    # to the encoder vanishes, so the clusters collapse (docs/REPRODUCTION.md has the runs).
    instance_noise: float = flag(
        0.3, "semi-supervised, cluster, dimred: std of the noise on both discriminators' inputs (0: none)", type=float
    )
    # Semi-supervised: also reconstruct the labelled minibatch from its true one-hot label and its z (not in the
    # paper; off by default: on MNIST with 100 labels it trained slower, docs/REPRODUCTION.md).
    labelled_reconstruction: bool = flag(
        False, "semi-supervised: also reconstruct the labelled minibatch from its true label (not in the paper)"
    )
    # The same choice for the semi-supervised family (§5-7): its categorical models keep the paper's phases unless
    # told otherwise (docs/REPRODUCTION.md compares the two on a validation split).
    categorical_adversarial: str = flag(
        "phases",
        "semi-supervised, cluster, dimred: phases = separate reconstruction and generator steps (the paper); joint = "
        "one Adam step on reconstruction + --adversarial-weight x both generator losses",
        choices=ADVERSARIAL_MODES,
    )
    # Denoising (any kind): the encoder sees corrupted images and the reconstruction target stays the clean one.
    input_noise: float = flag(
        0.0, "denoising: std of Gaussian noise on the encoder's input pixels, clipped to 0-1 (0: none)", type=float
    )
    input_mask: float = flag(0.0, "denoising: share of each input image's pixels set to 0 (0: none)", type=float)
    # Dropout in the encoder: a regularizer of q(y|x) that a plain MLP classifier also uses (not in the paper).
    hidden_dropout: float = flag(
        0.0, "share of the encoder's hidden units dropped on every training pass (0: none)", type=float
    )
    # With 100 labels the classification phase's cross-entropy falls to about 1e-6 (the images are memorized);
    # smoothing its targets keeps a signal there (not in the paper).
    label_smoothing: float = flag(
        0.0, "semi-supervised, dimred: label smoothing of the classification phase's targets (0: none)", type=float
    )
    # The same memorized labelled images, seen more corrupted in the classification phase only (not in the paper).
    labelled_input_mask: float = flag(
        0.0, "semi-supervised, dimred: share of labelled pixels also zeroed in the classification phase", type=float
    )
    # The split `reproduce --validation N` scores: a model shipped at the epoch a validation run chose is that run's
    # weights, not a retrain on more images whose epochs swing differently.
    hold_out: int = flag(0, "train on all but the last N training images (0: all)", type=nonnegative_int)
    # WAE (Tolstikhin et al. 2018): weight of the MMD between codes and prior samples beside the reconstruction loss
    # of a 28×28 image (scaled by pixel count, as --adversarial-weight is).
    mmd_weight: float = flag(
        100.0, "wae: weight of MMD(codes, prior) beside the reconstruction loss of a 28x28 image", type=positive_float
    )
    # init, shuffling, noise
    seed: int = flag(0, "random seed (0 to 2**32-1): same seed, same CPU run, same checkpoint", type=seed_int)
    # labelled training examples (balanced, seeded): -1 every one, 0 none, N that many
    labels: int = flag(
        -1,
        "labelled training examples, balanced and seeded: -1 all, 0 none, N that many "
        "(default: all for supervised, labelled-prior and semi-supervised; none for dimred)",
        type=int,
        cli_default=None,  # the model kind's default (kinds.Kind.default_labels)
    )
    # fp32 | bf16 (autocast forwards; weights, optimizers, losses stay fp32; not bitwise)
    precision: str = flag(
        "fp32",
        "bf16: autocast the forward passes to bfloat16 (faster on CPUs with AVX512-BF16/AMX and on Ampere+ "
        "GPUs; weights and optimizers stay fp32); fp32 keeps CPU runs bit-reproducible",
        choices=PRECISIONS,
    )
    # CUDA only: torch.compile the MLPs, falling back to eager if compilation fails
    compile: bool = flag(False, "CUDA only: torch.compile the MLPs (falls back to eager if it fails)")
    checkpoint_every: int = flag(1, "epochs between checkpoints", type=positive_int)  # (always one at the end)
    # latent snapshots of a fixed evaluation subset, for replay in the app
    snapshots_per_epoch: int = flag(4, "latent snapshots per epoch (0: none)", type=int)
    # steps between progress updates; the loop reads losses from the device only then
    log_every: int = flag(50, "steps between progress updates", type=positive_int)
    snapshot_size: int = 500  # examples in the snapshot subset
    # Adam as one fused kernel per step (CPU and CUDA): the same update rule as the per-tensor loop, several times
    # less memory traffic; its rounding differs in the last bits, so runs repeat exactly only against the same setting.
    fused_adam: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "adversarial_betas", tuple(float(b) for b in self.adversarial_betas))
        object.__setattr__(self, "categorical_betas", tuple(float(b) for b in self.categorical_betas))
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if min(self.lr, self.disc_lr, self.gen_lr) <= 0 or not all(
            map(math.isfinite, (self.lr, self.disc_lr, self.gen_lr))
        ):
            raise ConfigError("learning rates must be positive numbers")
        if max(self.lr, self.disc_lr, self.gen_lr) > MAX_LEARNING_RATE:
            raise ConfigError(f"learning rates must be <= {MAX_LEARNING_RATE:g} (Adam's step per weight)")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        if self.log_every < 1 or self.checkpoint_every < 1 or self.snapshots_per_epoch < 0 or self.snapshot_size < 1:
            raise ConfigError("--log-every and --checkpoint-every must be >= 1, snapshot settings >= 0")
        if self.labels < -1:
            raise ConfigError(f"--labels must be -1 (all), 0 (none) or a count, got {self.labels}")
        if not (self.instance_noise >= 0 and math.isfinite(self.instance_noise)):
            raise ConfigError(f"--instance-noise must be a number >= 0, got {self.instance_noise}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        for name in ("adversarial", "categorical_adversarial"):
            if getattr(self, name) not in ADVERSARIAL_MODES:
                raise ConfigError(
                    f"unknown --{name.replace('_', '-')} {getattr(self, name)!r}; "
                    f"choose one of: {', '.join(ADVERSARIAL_MODES)}"
                )
        if not (0 <= self.input_noise <= 10 and math.isfinite(self.input_noise)):
            raise ConfigError(
                f"--input-noise must be a number from 0 to 10 (a pixel spans 0-1), got {self.input_noise}"
            )
        if self.labelled_reconstruction and self.categorical_adversarial == "joint":
            raise ConfigError("--labelled-reconstruction works with --categorical-adversarial phases only")
        if self.hold_out < 0:
            raise ConfigError(f"--hold-out must be >= 0, got {self.hold_out}")
        for name in ("input_mask", "hidden_dropout", "label_smoothing", "labelled_input_mask"):
            if not 0 <= getattr(self, name) < 1:
                flag_name = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag_name} must be a share from 0 to below 1, got {getattr(self, name)}")
        if not (self.mmd_weight > 0 and math.isfinite(self.mmd_weight)):
            raise ConfigError(f"--mmd-weight must be a positive number, got {self.mmd_weight}")
        if self.lr_decay_epoch < 0 or not 0 < self.lr_decay <= 1:
            raise ConfigError(
                "--lr-decay-epoch must be >= 0 and --lr-decay from 0 to 1, "
                f"got {self.lr_decay_epoch} and {self.lr_decay}"
            )
        if not (self.adversarial_weight > 0 and math.isfinite(self.adversarial_weight)):
            raise ConfigError(f"--adversarial-weight must be a positive number, got {self.adversarial_weight}")

    def to_dict(self) -> dict[str, Any]:
        """The settings a checkpoint stores (those added later only when set)."""
        return stored_fields(self, LATER_SETTINGS)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        # Checkpoints from before these settings trained in phases, with one set of betas for every kind.
        values.setdefault("adversarial", "phases")
        values.setdefault("categorical_betas", values.get("adversarial_betas", (0.5, 0.9)))
        return cls(**values)


def stored_fields(config: ModelConfig | TrainConfig, later: tuple[str, ...]) -> dict[str, Any]:
    """A config's fields, less those named in `later` that are at their defaults: settings added after checkpoints
    existed are stored only when used, so a config that does not use them writes the same bytes as before."""
    values = asdict(config)
    for name in later:
        if values[name] == getattr(type(config), name):
            del values[name]
    return values


# ModelConfig.to_dict and TrainConfig.to_dict omit these at their defaults
LATER_MODEL_SETTINGS = ("encoder_norm",)
LATER_SETTINGS = (
    "input_noise",
    "input_mask",
    "mmd_weight",
    "categorical_adversarial",
    "lr_decay_epoch",
    "lr_decay",
    "hold_out",
    "hidden_dropout",
    "head_lr",
    "label_smoothing",
    "labelled_input_mask",
)
# The settings of the learning-rate schedule, which a resumed run may change from its current epoch on
SCHEDULE = ("lr_decay_epoch", "lr_decay")


def adversarial_weight_for(config: TrainConfig, input_dim: int) -> float:
    """The generator loss's weight for images of `input_dim` pixels (TrainConfig.adversarial_weight is a 28×28's)."""
    return config.adversarial_weight * input_dim / 784


# ---------------------------------------------------------------------------------------------------- flags


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add a flag for every field of `config_class` (a dataclass above) that declares one."""
    for f in fields(config_class):
        if "help" not in f.metadata:
            continue
        meta = f.metadata
        default = meta.get("cli_default", f.default if f.default is not MISSING else None)
        names = [flag_names(config_class)[f.name]]
        if isinstance(f.default, bool):
            parser.add_argument(*names, dest=f.name, action="store_true", help=meta["help"])
            continue
        choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
        parser.add_argument(*names, dest=f.name, type=meta["type"], choices=choices, default=default, help=meta["help"])


def flag_names(config_class: type) -> dict[str, str]:
    """The `train` flag of each field of `config_class` that declares one, by field name (`hidden_dims`: `--hidden`)."""
    flagged = (f for f in fields(config_class) if "help" in f.metadata)
    return {f.name: f.metadata["flag"] or "--" + f.name.replace("_", "-") for f in flagged}


def config_values(args: argparse.Namespace, config_class: type) -> dict[str, Any]:
    """The parsed flags of `config_class`'s fields, by field name (flags left at a `None` default are omitted)."""
    values = {}
    for f in fields(config_class):
        if "help" in f.metadata and getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
    return values
