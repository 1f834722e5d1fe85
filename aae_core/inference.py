"""The small inference API the app (and any notebook) uses: load a checkpoint, encode, decode, sample the prior."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import (
    Checkpoint,
    load_checkpoint,
    nonfinite_weights,
    rebuild_model,
    stored_model_config,
    stored_prior,
)
from .config import ModelConfig
from .devices import resolve_device
from .models import AutoEncoder
from .priors import Prior, PriorError


@dataclass(frozen=True)
class Atlas:
    """Codes (N, latent_dim) and labels (N,) of a checkpoint's evaluation set."""

    codes: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Snapshots:
    """Codes of a fixed evaluation subset during training: codes (S, n, latent_dim) at steps (S,)."""

    steps: np.ndarray
    codes: np.ndarray
    labels: np.ndarray


class LatentModel:
    """A trained model ready for inference; read-only, so one copy can serve many app sessions.

    Weights holding NaN or infinite values are refused (NonFiniteWeightsError) unless `allow_nonfinite`, which
    opens them anyway (for `info` to say what the file is); `broken_weights` then names them.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        device: str | torch.device = "cpu",
        source: str = "",
        *,
        allow_nonfinite: bool = False,
    ) -> None:
        self.source = source
        self.metadata = checkpoint.metadata
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.config: ModelConfig = stored_model_config(checkpoint, source)
        try:
            self.prior: Prior | None = stored_prior(checkpoint)
            self.prior_problem = ""
        except (ValueError, TypeError, KeyError) as err:
            self.prior, self.prior_problem = None, str(err)
        model = rebuild_model(
            checkpoint, self.device, source=source, inference_only=True, allow_nonfinite=allow_nonfinite
        )
        self.broken_weights: list[str] = nonfinite_weights(checkpoint) if allow_nonfinite else []
        self.model: AutoEncoder = model.eval().requires_grad_(False)
        self._checkpoint_tensors = checkpoint.tensors

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def name(self) -> str:
        """The checkpoint's file name without its suffix (what the app's model picker shows)."""
        return Path(self.source).stem or "model"

    @property
    def prior_name(self) -> str:
        """The stored prior's name (also when it cannot be rebuilt here)."""
        return str(_section(self.metadata, "prior").get("name", "?"))

    @property
    def dataset_name(self) -> str:
        return str(_section(self.metadata, "dataset").get("name", "?"))

    @property
    def class_names(self) -> list[str]:
        """A name per class the model knows (its dataset's classes, and at least one per decoder class)."""
        names = _section(self.metadata, "dataset").get("classes") or []
        count = max(self.num_classes, len(names))
        return [str(names[i]) if i < len(names) else str(i) for i in range(count)]

    @property
    def step(self) -> int | None:
        """Minibatch updates trained so far (tells apart two versions of one file); None if not recorded."""
        return _section(self.metadata, "training").get("step")

    @property
    def training_seed(self) -> int:
        """The seed the run trained with (0 if not recorded); metrics are recomputed with it."""
        return int(_section(_section(self.metadata, "training"), "config").get("seed", 0))

    @property
    def epochs(self) -> int | None:
        """Epochs trained; None if not recorded."""
        return _section(self.metadata, "training").get("epoch")

    @property
    def has_discriminator(self) -> bool:
        """Whether the code discriminator's weights were loaded (adversarial models not exported without them)."""
        return any(k.startswith("model.discriminator.") for k in self._checkpoint_tensors)

    @property
    def can_discriminate(self) -> bool:
        """Whether `discriminate` works: an adversarial model on codes whose discriminator was kept."""
        return self.has_discriminator and hasattr(self.model, "discriminate")

    @torch.no_grad()
    def discriminate(self, z: torch.Tensor | np.ndarray) -> torch.Tensor:
        """D(z): the discriminator's probability (N,) that each code was drawn from the prior, not by the encoder.

        For the label-regularized AAE it is the discriminator's view of unlabelled codes (against the whole prior).
        """
        if not self.can_discriminate:
            raise ValueError(f"this {self.kind} checkpoint has no code discriminator (a VAE, an AE or a slim export)")
        codes = _tensor(z, torch.float32, self.device).reshape(-1, self.latent_dim)
        return torch.sigmoid(self.model.discriminate(codes))

    @property
    def inference_only(self) -> bool:
        """Whether this is a slim copy written by `export` (no discriminators or optimizer state: not resumable)."""
        return bool(self.metadata.get("inference_only", False))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int]:
        h, w = self.metadata["dataset"]["image_shape"]
        return int(h), int(w)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.metadata.get("metrics", {}))

    @property
    def history(self) -> list[dict[str, float]]:
        return list(self.metadata.get("history", []))

    def describe(self) -> dict[str, Any]:
        """A short, JSON-able summary of what this checkpoint is."""
        return {
            "source": self.source,
            "kind": self.kind,
            "encoder": self.model.encoder.kind,
            "latent_dim": self.latent_dim,
            "hidden_dims": list(self.config.hidden_dims),
            "prior": self.metadata["prior"],
            "dataset": self.metadata["dataset"],
            "epochs": self.epochs,
            "inference_only": self.inference_only,
            "stored_weights": self.metadata.get("stored_weights"),  # a slim copy's: fp32, fp16 or int8 (None: unsaid)
            "has_atlas": self.atlas is not None,
            "snapshots": 0 if self.snapshots is None else len(self.snapshots.steps),
            "metrics": self.metrics,
            "broken_weights": self.broken_weights,
        }

    @torch.no_grad()
    def encode(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Deterministic codes (N, latent_dim) of images in [0, 1], given as (N, H, W) or (N, H*W)."""
        x = _tensor(images, torch.float32, self.device).reshape(-1, self.config.input_dim)
        return self.model.encode(x, sample=False).z

    @property
    def num_classes(self) -> int:
        """Classes the decoder is conditioned on (0 for an unconditional model)."""
        return self.config.num_classes

    @property
    def categories(self) -> int:
        """Size of the encoder's class/cluster head q(y|x) (0 for models without one)."""
        return self.config.categories

    @torch.no_grad()
    def classify(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """q(y|x): class or cluster probabilities (N, categories) of images in [0, 1]."""
        if not self.categories:
            raise ValueError(f"this {self.kind} model has no class head")
        x = _tensor(images, torch.float32, self.device).reshape(-1, self.config.input_dim)
        return self.model.encode(x, sample=False).y_logits.softmax(-1)

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | list[int] | None = None
    ) -> torch.Tensor:
        """Images (N, H, W) in [0, 1] for codes (N, latent_dim); conditional models also take labels (N,)."""
        z = _tensor(z, torch.float32, self.device).reshape(-1, self.latent_dim)
        if self.num_classes and labels is None:
            raise ValueError(f"this {self.kind} model decodes a code together with a class label: pass labels")
        y = None if labels is None or not self.num_classes else _tensor(labels, None, self.device).reshape(-1)
        return self.model.decode(z, y).reshape(-1, *self.image_shape)

    def sample_prior(self, n: int, seed: int = 0) -> torch.Tensor:
        """n codes from the model's prior (CPU tensor); raises PriorError when the prior cannot be rebuilt."""
        if self.prior is None:
            raise PriorError(self.prior_problem)
        return self.prior.sample(n, torch.Generator().manual_seed(seed))

    # Built once per model and read-only: the app shares one LatentModel between all sessions, and every page run
    # reads these (converting the fp16 codes on each access was a tenth of a slider press's server time).
    @functools.cached_property
    def atlas(self) -> Atlas | None:
        codes = self._checkpoint_tensors.get("atlas.codes")
        labels = self._checkpoint_tensors.get("atlas.labels")
        if codes is None or labels is None:
            return None
        return Atlas(_read_only(codes.float().numpy()), _read_only(labels.numpy()))

    @functools.cached_property
    def cluster_heads(self) -> np.ndarray | None:
        """The dimensionality-reduction AAE's learned cluster heads W (K, latent_dim), or None for other kinds."""
        heads = getattr(self.model, "cluster_heads", None)
        return None if heads is None else _read_only(heads.detach().float().cpu().numpy())

    @property
    def held_out_classes(self) -> tuple[int, ...]:
        """The classes this model was trained without (`train --exclude-classes`); empty for most models."""
        return tuple(int(c) for c in self.metadata["dataset"].get("excluded_classes", []))

    @functools.cached_property
    def atlas_anomaly_scores(self) -> dict[str, np.ndarray]:
        """Each anomaly score of every atlas image (models trained with held-out classes), by score name."""
        start = "atlas.anomaly."
        t = self._checkpoint_tensors
        return {k[len(start) :]: _read_only(v.double().numpy()) for k, v in t.items() if k.startswith(start)}

    @torch.no_grad()
    def anomaly_scores(self, images: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """The anomaly scores (higher: more unusual) of images in [0, 1], those the atlas has, by score name."""
        from .anomaly import anomaly_scores  # the atlas's scores need no model pass; new images do

        x = _tensor(images, torch.float32, self.device).reshape(-1, self.config.input_dim)
        scores = anomaly_scores(self.model, self.prior, x)
        return {key: scores[key] for key in self.atlas_anomaly_scores if key in scores}

    @functools.cached_property
    def snapshots(self) -> Snapshots | None:
        t = self._checkpoint_tensors
        if "snapshots.codes" not in t:
            return None
        index = t.get("snapshots.index")
        labels = t["atlas.labels"][index].numpy() if index is not None and "atlas.labels" in t else np.array([])
        steps, codes = t["snapshots.steps"].numpy(), t["snapshots.codes"].float().numpy()
        return Snapshots(_read_only(steps), _read_only(codes), _read_only(labels))


def _tensor(values: Any, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    """`values` as a tensor; a read-only array (the atlas's) is copied, since torch cannot share its memory."""
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values, dtype=dtype, device=device)


def _read_only(array: np.ndarray) -> np.ndarray:
    """A copy of `array` that cannot be written to (shared between sessions)."""
    array = np.array(array)
    array.flags.writeable = False
    return array


def _section(metadata: dict[str, Any], key: str) -> dict[str, Any]:
    """A metadata section as a dict (empty when missing or not a dict)."""
    value = metadata.get(key)
    return value if isinstance(value, dict) else {}


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", *, allow_nonfinite: bool = False
) -> LatentModel:
    """Open a checkpoint for inference on `device` (a model trained on GPU opens on CPU and vice versa).

    Raises CheckpointError for a file that is not a usable checkpoint, NonFiniteWeightsError (one) for weights
    holding NaN or infinite values unless `allow_nonfinite`.
    """
    return LatentModel(load_checkpoint(path), device=device, source=str(Path(path)), allow_nonfinite=allow_nonfinite)
