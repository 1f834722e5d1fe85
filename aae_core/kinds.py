"""Model kinds: one entry per kind, the only place a kind is described.

An entry (`Kind`) says which model class it builds, which optimizers and per-minibatch update (the phases of
`phases.py`, in order) train it, what it needs of labels and priors, the label-related sizes of its architecture,
the extra metrics it reports, and a title and one-line blurb that the app's training form and the model cards show.
The CLI's `--model` choices, `reproduce`, the app and the model cards all read `KINDS`; adding a kind is adding an
entry with `register` (see `tests/test_kinds.py` for a toy kind trained through the CLI this way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .acceleration import Autocast
from .config import ConfigError, ModelConfig, TrainConfig, adversarial_weight_for
from .data import labelled_subset
from .metrics import classification_error, clustering_error
from .models import (
    AdversarialAutoEncoder,
    AutoEncoder,
    ClusteringAAE,
    DimensionalityReductionAAE,
    LabelledPriorAAE,
    SemiSupervisedAAE,
    SupervisedAAE,
    VariationalAutoEncoder,
)
from .optimizers import Optimizers, aae_optimizers, autoencoder_optimizers, categorical_optimizers
from .phases import (
    Batch,
    categorical_joint_step,
    categorical_reconstruction_step,
    categorical_regularization_step,
    classification_step,
    elbo_step,
    joint_adversarial_step,
    labelled_prior_samples,
    labelled_regularization_step,
    mmd_step,
    reconstruction_step,
    regularization_step,
)
from .priors import Prior, UniformPrior

Update = Callable[[AutoEncoder, Batch, Prior, Optimizers, torch.Generator, Autocast, TrainConfig], dict[str, Any]]


# ---------------------------------------------------------------------------------------------------- updates


def ae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    return {"recon": reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)}


def aae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    """Paper §2: reconstruction and regularization of the code, jointly (default) or in the paper's two phases."""
    if config.adversarial == "joint":
        return joint_update(
            model, batch, prior.sample(batch.x.shape[0], generator), optimizers, generator, autocast, config
        )
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)
    disc, gen = regularization_step(
        model, batch.x, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def joint_update(model, batch, prior_z, optimizers, generator, autocast, config, labels=None, slots=None):
    """`phases.joint_adversarial_step` with this run's optimizers and weight, as a dict of losses."""
    recon, disc, gen = joint_adversarial_step(
        model,
        batch.x,
        prior_z,
        optimizers["autoencoder"],
        optimizers["discriminator"],
        generator,
        autocast,
        weight=adversarial_weight_for(config, model.config.input_dim),
        labels=labels,
        slots=slots,
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def vae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    recon, kl = elbo_step(model, batch.x, prior, optimizers["autoencoder"], generator, autocast)
    return {"recon": recon, "kl": kl}


def wae_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    """Tolstikhin et al. 2018: reconstruction + weight × MMD between the codes and prior samples, in one step."""
    weight = config.mmd_weight * model.config.input_dim / 784
    recon, mmd = mmd_step(model, batch.x, prior, optimizers["autoencoder"], generator, autocast, weight=weight)
    return {"recon": recon, "mmd": mmd}


def supervised_update(model, batch, prior, optimizers, generator, autocast, config) -> dict[str, torch.Tensor]:
    """Paper §4: reconstruction from (z, one-hot label), and the usual regularization of z."""
    if config.adversarial == "joint":
        prior_z = prior.sample(batch.x.shape[0], generator)
        return joint_update(model, batch, prior_z, optimizers, generator, autocast, config, labels=batch.y)
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast, labels=batch.y)
    disc, gen = regularization_step(
        model, batch.x, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def labelled_prior_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §2.3: reconstruction, and regularization with the label beside each code and each prior sample."""
    if config.adversarial == "joint":
        prior_z, slots = labelled_prior_samples(model, batch, prior, generator)
        return joint_update(model, batch, prior_z, optimizers, generator, autocast, config, slots=slots)
    recon = reconstruction_step(model, batch.x, optimizers["autoencoder"], generator, autocast)
    disc, gen = labelled_regularization_step(
        model, batch, prior, optimizers["discriminator"], optimizers["generator"], generator, autocast
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def categorical_phases(model, batch, prior, optimizers, generator, autocast, config, margin=0.0, labelled=None):
    """Phases 1 and 2 of the semi-supervised family: reconstruction, then regularization of y and z, in the paper's
    separate steps or as one objective (`--categorical-adversarial joint`). Returns the losses as a dict."""
    if config.categorical_adversarial == "joint":
        recon, disc, gen = categorical_joint_step(
            model,
            batch.x,
            prior,
            optimizers["autoencoder"],
            optimizers["discriminator"],
            generator,
            autocast,
            noise=config.instance_noise,
            weight=adversarial_weight_for(config, model.config.input_dim),
            margin=margin,
        )
        return {"recon": recon, "disc": disc, "gen": gen}
    recon = categorical_reconstruction_step(
        model, batch.x, optimizers["autoencoder"], autocast, margin=margin, labelled=labelled
    )
    disc, gen = categorical_regularization_step(
        model,
        batch.x,
        prior,
        optimizers["discriminator"],
        optimizers["generator"],
        generator,
        autocast,
        config.instance_noise,
    )
    return {"recon": recon, "disc": disc, "gen": gen}


def classify_labelled(model, batch, optimizer, generator, autocast, config):
    """Phase 3 with the run's settings of it."""
    smoothing, mask = config.label_smoothing, config.labelled_input_mask
    return classification_step(model, batch, optimizer, autocast, smoothing, mask, generator)


def semi_supervised_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §5: reconstruction, regularization of y and z, then the semi-supervised classification phase."""
    labelled = (batch.labelled_x, batch.labelled_y) if config.labelled_reconstruction else None
    losses = categorical_phases(model, batch, prior, optimizers, generator, autocast, config, labelled=labelled)
    losses["class"] = classify_labelled(model, batch, optimizers["classifier"], generator, autocast, config)
    return losses


def cluster_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §6: reconstruction and regularization of y and z; no labels anywhere."""
    return categorical_phases(model, batch, prior, optimizers, generator, autocast, config)


def dimred_update(model, batch, prior, optimizers, generator, autocast, config):
    """Paper §7: as clustering, decoding W·y + z with the heads held apart; plus the classification phase when
    some labels are given."""
    margin = model.config.head_margin
    losses = categorical_phases(model, batch, prior, optimizers, generator, autocast, config, margin=margin)
    if "classifier" in optimizers:
        losses["class"] = classify_labelled(model, batch, optimizers["classifier"], generator, autocast, config)
    return losses


def needs_density(config: ModelConfig, prior: Prior) -> str | None:
    """The VAE's rule: its KL term needs the prior's density, and a finite one."""
    if not prior.has_density:
        return (
            f"the VAE needs the prior's density for its KL term, and the {prior.title} has none; "
            "the AAE needs only samples"
        )
    if isinstance(prior, UniformPrior):
        return (
            "the VAE's KL to a uniform prior is infinite (its Gaussian posterior has mass outside the box); "
            "the AAE needs only samples"
        )
    return None


def needs_one_component_per_class(config: ModelConfig, prior: Prior) -> str | None:
    """The labelled-prior AAE's rule: each class needs its own mixture component or swiss-roll segment."""
    if not hasattr(prior, "sample_given_labels") or prior.num_labels != config.label_slots - 1:
        return (
            f"the labelled-prior AAE needs a prior with one component per class ({config.label_slots - 1}): "
            "--prior mixture or swissroll with --components equal to the number of classes"
        )
    return None


# ---------------------------------------------------------------------------------------------------- metrics


def classification_metrics(probs: Callable[[str], torch.Tensor], eval_labels, train_labels) -> dict[str, float]:
    """The semi-supervised AAE's test error: q(y|x)'s most likely class against the label."""
    return {"classification_error": classification_error(probs("eval").argmax(1), eval_labels)}


def clustering_metrics(probs: Callable[[str], torch.Tensor], eval_labels, train_labels) -> dict[str, float]:
    """Clusters get their names from the training set (paper §6), by two protocols."""
    eval_probs, train_probs = probs("eval"), probs("train")
    return {
        f"cluster_error_{protocol}": clustering_error(eval_probs, eval_labels, train_probs, train_labels, protocol)
        for protocol in ("paper", "majority")
    }


# ---------------------------------------------------------------------------------------------------- the registry


def no_sizes(classes: int, clusters: int, labels: int) -> dict[str, int]:
    return {}


@dataclass(frozen=True)
class Kind:
    """How one model kind is built, trained, checked and described.

    `labels` says what the kind needs: "none"; "all" (every training label); "some" (every, or a labelled
    subset, the rest hidden); "optional" (trains without labels, uses any that are given).
    """

    name: str
    model: type[AutoEncoder]
    make_optimizers: Callable[[AutoEncoder, TrainConfig], Optimizers]
    update: Update
    losses: tuple[str, ...]
    title: str  # a few words for pickers, e.g. "AAE (adversarial)"
    blurb: str  # one sentence for model cards and the app
    paper: str = ""  # where the paper describes it
    labels: str = "none"
    default_labels: int = 0  # TrainConfig.labels when the user gives none: -1 every label, 0 none
    # The label-related ModelConfig sizes for data with `classes` classes, `--clusters` and `--labels`.
    sizes: Callable[[int, int, int], dict[str, int]] = no_sizes
    prior_rule: Callable[[ModelConfig, Prior], str | None] | None = None  # why a prior cannot be used, or None
    prior_part: str = "z"  # the EncoderOutput field the prior regularizes (dimred: "style", the Gaussian part)
    # Extra metrics from q(y|x): fn(probs("eval" | "train"), eval labels, train labels) -> {name: value}.
    extra_metrics: Callable[..., dict[str, float]] | None = None

    def loss_names(self, config: TrainConfig) -> tuple[str, ...]:
        """The losses one update reports (the classification phase only runs when labels are given)."""
        return self.losses + (("class",) if self.labels == "optional" and config.labels != 0 else ())

    def prior_problem(self, config: ModelConfig, prior: Prior) -> str | None:
        """Why this model cannot train against `prior`, in one sentence, or None."""
        if prior.dim != config.latent_dim:
            return f"the prior is {prior.dim}-D but --latent-dim is {config.latent_dim}"
        return self.prior_rule(config, prior) if self.prior_rule else None

    def visible_labels(self, config: TrainConfig, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training labels a run may see (hidden ones set to -1) and the labelled indices when only some
        are used."""
        hidden = torch.full_like(labels, -1)
        if self.labels == "none" or (self.labels == "optional" and config.labels == 0):
            return hidden, None
        if config.labels == 0:
            raise ConfigError(f"the {self.name} model needs labels: give --labels N, or -1 for all of them")
        if self.labels == "all" and config.labels != -1:
            raise ConfigError(f"the {self.name} model needs every training label (--labels -1)")
        if (labels < 0).any():
            raise ConfigError(f"the {self.name} model needs labels, and this dataset has unlabelled examples")
        if config.labels == -1:
            return labels, None
        index = labelled_subset(labels, config.labels, seed=config.seed)
        return hidden.index_put((index,), labels[index]), index


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind to the registry (a new name, or a replacement of the entry of that name)."""
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> Kind:
    """The registered kind, or a ConfigError that lists the valid names."""
    if name not in KINDS:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(KINDS)}")
    return KINDS[name]


def build_model(config: ModelConfig) -> AutoEncoder:
    """Instantiate the model class of `config.kind`."""
    return get_kind(config.kind).model(config)


def check_prior(config: ModelConfig, prior: Prior) -> None:
    """Refuse a prior the model cannot use, with the reason (for the VAE: it needs a density)."""
    problem = get_kind(config.kind).prior_problem(config, prior)
    if problem:
        raise ConfigError(problem)


ADVERSARIAL = ("recon", "disc", "gen")


def _categorical(classify: Callable[[TrainConfig], bool]) -> Callable[[AutoEncoder, TrainConfig], Optimizers]:
    return lambda model, config: categorical_optimizers(model, config, classify=classify(config))


for _kind in (
    Kind(
        "ae",
        AutoEncoder,
        autoencoder_optimizers,
        ae_update,
        ("recon",),
        "Plain autoencoder (no prior)",
        "Plain autoencoder: no regularizer, so its codes leave gaps and spill past the prior (the baseline).",
    ),
    Kind(
        "aae",
        AdversarialAutoEncoder,
        aae_optimizers,
        aae_update,
        ADVERSARIAL,
        "AAE (adversarial)",
        "Adversarial autoencoder: a discriminator pushes the codes to fill the prior.",
        "§2",
    ),
    Kind(
        "vae",
        VariationalAutoEncoder,
        autoencoder_optimizers,
        vae_update,
        ("recon", "kl"),
        "VAE (KL to the prior)",
        "VAE baseline: the same MLPs and budget, a KL term (estimated by sampling for the mixture prior).",
        prior_rule=needs_density,
    ),
    Kind(
        "wae",
        AutoEncoder,
        autoencoder_optimizers,
        wae_update,
        ("recon", "mmd"),
        "WAE (MMD to the prior)",
        "Wasserstein autoencoder (WAE-MMD): the same MLPs, the codes pulled to the prior by a kernel distance "
        "between minibatches of codes and prior samples, with no discriminator.",
    ),
    Kind(
        "supervised",
        SupervisedAAE,
        aae_optimizers,
        supervised_update,
        ADVERSARIAL,
        "Supervised AAE (label to the decoder)",
        "Supervised AAE: the label goes to the decoder, z keeps the style (style × class grid).",
        "§4, Fig. 6",
        labels="all",
        default_labels=-1,
        sizes=lambda classes, clusters, labels: {"num_classes": classes},
    ),
    Kind(
        "labelled-prior",
        LabelledPriorAAE,
        aae_optimizers,
        labelled_prior_update,
        ADVERSARIAL,
        "AAE with labels in the adversarial part",
        "AAE with labels in the adversarial part (paper §2.3, Fig. 4): each class is pushed onto its own mixture "
        "component or swiss-roll segment.",
        "§2.3, Fig. 3-4",
        labels="some",
        default_labels=-1,
        sizes=lambda classes, clusters, labels: {"label_slots": classes + 1},
        prior_rule=needs_one_component_per_class,
    ),
    Kind(
        "semi-supervised",
        SemiSupervisedAAE,
        _categorical(lambda config: True),
        semi_supervised_update,
        (*ADVERSARIAL, "class"),
        "Semi-supervised AAE",
        "Semi-supervised AAE: categorical y and Gaussian z, two discriminators, a classification phase on the "
        "labelled examples.",
        "§5, Fig. 8",
        labels="some",
        default_labels=-1,
        sizes=lambda classes, clusters, labels: {"categories": classes, "num_classes": classes},
        extra_metrics=classification_metrics,
    ),
    Kind(
        "cluster",
        ClusteringAAE,
        _categorical(lambda config: False),
        cluster_update,
        ADVERSARIAL,
        "Clustering AAE",
        "Unsupervised clustering AAE: the semi-supervised architecture with K clusters and no labels; clusters are "
        "named by the paper's protocol (the label of its most confident training example) and by majority.",
        "§6",
        sizes=lambda classes, clusters, labels: {"categories": clusters, "num_classes": clusters},
        extra_metrics=clustering_metrics,
    ),
    Kind(
        "dimred",
        DimensionalityReductionAAE,
        _categorical(lambda config: config.labels != 0),
        dimred_update,
        ADVERSARIAL,
        "Dimensionality-reduction AAE",
        "Dimensionality-reduction AAE: the code is W·y + z, learned cluster heads plus a Gaussian style offset.",
        "§7, Fig. 10",
        labels="optional",
        # With labels its categorical head is the classifier, so one head per class.
        sizes=lambda classes, clusters, labels: {"categories": classes if labels != 0 else clusters},
        prior_part="style",
        extra_metrics=clustering_metrics,
    ),
):
    register(_kind)
