"""The checkpoint metadata schema: what every field the loader, the CLI and the app read must look like.

`validate_checkpoint` checks a checkpoint's metadata (types, ranges, sizes) and the shapes of its non-weight
tensors (atlas, snapshots, labelled index) against each other and against the architecture the metadata describes,
before anything is built from them. The weights themselves are checked against the model the configuration builds
by `checkpoint.rebuild_model`. A problem raises `SchemaError`, whose message names the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import torch

from .config import ENCODER_KINDS, ENCODER_NORMS, ConfigError, ModelConfig, TrainConfig

MAX_LAYER = 1 << 20  # units in one layer; larger claims are refused before the shapes are even compared
MAX_LAYERS = 1024  # hidden layers of one network
MAX_INPUT = 1 << 24  # pixels of one image (4096 x 4096)
MAX_LATENT = 1 << 16
MAX_CLASSES = 1 << 16
MAX_PRIOR_COUNT = 1 << 16  # mixture components, swiss-roll segments
MAX_NAME = 1000  # characters of a name (dataset, class, prior)

# ModelConfig fields that are sizes, with their least value.
_SIZES = {
    "input_dim": (1, MAX_INPUT),
    "latent_dim": (1, MAX_LATENT),
    "noise_dim": (1, MAX_LAYER),
    "num_classes": (0, MAX_CLASSES),
    "categories": (0, MAX_CLASSES),
    "label_slots": (0, MAX_CLASSES + 1),
}
_INT_TENSORS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


class SchemaError(ValueError):
    """Metadata or tensors that do not fit the checkpoint schema; the message names the field."""


# ---------------------------------------------------------------------------------------------------- value checks


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"


def _dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(f"'{field}' must be a JSON object, not {_describe(value)}")
    return value


def _int(value: Any, field: str, low: int, high: int) -> int:
    if not _is_int(value):
        raise SchemaError(f"'{field}' must be a whole number, not {_describe(value)}")
    if not low <= value <= high:
        raise SchemaError(f"'{field}' is {value}, outside {low}..{high}")
    return value


def _number(value: Any, field: str, finite: bool = True) -> float:
    if not _is_number(value):
        raise SchemaError(f"'{field}' must be a number, not {_describe(value)}")
    if finite and not math.isfinite(value):
        raise SchemaError(f"'{field}' must be finite, not {value}")
    return float(value)


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise SchemaError(f"'{field}' must be a short string, not {_describe(value)}")
    return value


def _int_list(value: Any, field: str, low: int, high: int, allow_empty: bool = True) -> list[int]:
    if not isinstance(value, list) or (not value and not allow_empty) or len(value) > MAX_LAYERS:
        raise SchemaError(f"'{field}' must be a list of up to {MAX_LAYERS} whole numbers, not {_describe(value)}")
    return [_int(v, f"{field}[{i}]", low, high) for i, v in enumerate(value)]


def _numbers(value: Any, field: str) -> dict[str, float]:
    """A JSON object of numbers (non-finite allowed: a metric may be undefined)."""
    for key, item in _dict(value, field).items():
        _number(item, f"{field}.{key}", finite=False)
    return value


# ---------------------------------------------------------------------------------------------------- sections


def model_section(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Check `model` (its `config` against ModelConfig's fields and ranges); returns the config values."""
    section = _dict(metadata["model"], "model")
    config = _dict(section.get("config"), "model.config")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise SchemaError(f"unknown model settings: {', '.join(unknown)}")
    from .kinds import KINDS  # the registry imports the models, which import config

    kind = _str(config.get("kind", ModelConfig.kind), "model.config.kind")
    if kind not in KINDS:
        raise SchemaError(f"'model.config.kind' is {kind!r}, not a model this aae_core knows ({', '.join(KINDS)})")
    if "kind" in section and section["kind"] != kind:
        raise SchemaError(f"'model.kind' ({_describe(section['kind'])}) disagrees with 'model.config.kind' ({kind!r})")
    encoder = _str(config.get("encoder", ModelConfig.encoder), "model.config.encoder")
    if encoder not in ENCODER_KINDS:
        raise SchemaError(f"'model.config.encoder' is {encoder!r}, not one of {', '.join(ENCODER_KINDS)}")
    norm = _str(config.get("encoder_norm", ModelConfig.encoder_norm), "model.config.encoder_norm")
    if norm not in ENCODER_NORMS:
        raise SchemaError(f"'model.config.encoder_norm' is {norm!r}, not one of {', '.join(ENCODER_NORMS)}")
    for name, (low, high) in _SIZES.items():
        if name in config:
            _int(config[name], f"model.config.{name}", low, high)
    if "hidden_dims" in config:
        _int_list(config["hidden_dims"], "model.config.hidden_dims", 1, MAX_LAYER, allow_empty=False)
    if "disc_hidden_dims" in config:
        _int_list(config["disc_hidden_dims"], "model.config.disc_hidden_dims", 1, MAX_LAYER)
    if "head_margin" in config:
        _number(config["head_margin"], "model.config.head_margin")
    return config


def _point_list(value: Any, field: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_PRIOR_COUNT:
        raise SchemaError(f"'{field}' must be a list of at most {MAX_PRIOR_COUNT} [x, y] pairs")
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(v) and math.isfinite(v) for v in pair)):
            raise SchemaError(f"'{field}' must hold [x, y] pairs of finite numbers, not {_describe(pair)}")


def prior_section(metadata: Mapping[str, Any], latent_dim: int) -> None:
    """Check `prior`: a name and numeric parameters (a custom prior's label aside) of the model's dimension."""
    section = _dict(metadata["prior"], "prior")
    _str(section.get("name"), "prior.name")
    params = _dict(section.get("params", {}), "prior.params")
    for key, value in params.items():
        if key == "label":
            _str(value, "prior.params.label")
        elif key == "points":  # a drawn prior's [x, y] pairs (DrawnPrior checks their count and extent)
            _point_list(value, "prior.params.points")
        elif key in ("dim", "components", "segments"):
            _int(value, f"prior.params.{key}", 1, MAX_PRIOR_COUNT)
        else:
            _number(value, f"prior.params.{key}")
            if abs(value) > 1e6:
                raise SchemaError(f"'prior.params.{key}' is {value}, outside -1e6..1e6")
    if params.get("dim", latent_dim) != latent_dim:
        raise SchemaError(f"'prior.params.dim' is {params['dim']}, but the model's latent size is {latent_dim}")


def dataset_section(metadata: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Check `dataset`: a name, an image shape of the model's input size, counts, class names; returns the names."""
    section = _dict(metadata["dataset"], "dataset")
    _str(section.get("name", "?"), "dataset.name")
    if "image_shape" not in section:
        raise SchemaError("'dataset.image_shape' is missing")
    shape = section["image_shape"]
    if not isinstance(shape, list) or len(shape) != 2:
        raise SchemaError(f"'dataset.image_shape' must be [height, width], not {_describe(shape)}")
    height, width = (_int(v, "dataset.image_shape", 1, MAX_INPUT) for v in shape)
    input_dim = config.get("input_dim", ModelConfig.input_dim)
    if height * width != input_dim:
        raise SchemaError(f"'dataset.image_shape' {height}x{width} does not match the model's input size {input_dim}")
    for key in ("n_train", "n_eval"):
        if key in section:
            _int(section[key], f"dataset.{key}", 0, 1 << 40)
    classes = section.get("classes", [])
    if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
        raise SchemaError(f"'dataset.classes' must be a list of class names, not {_describe(classes)}")
    for i, name in enumerate(classes):
        _str(name, f"dataset.classes[{i}]")
    held_out = section.get("excluded_classes", [])
    if not isinstance(held_out, list) or len(held_out) > MAX_CLASSES:
        raise SchemaError(f"'dataset.excluded_classes' must be a list of class numbers, not {_describe(held_out)}")
    for value in held_out:
        _int(value, "dataset.excluded_classes", 0, MAX_CLASSES)
    num_classes = config.get("num_classes", 0)
    # The clustering AAE's decoder takes its cluster, not a class, so it may take more than the data has names for.
    if classes and len(classes) < num_classes and config.get("kind") != "cluster":
        raise SchemaError(
            f"'dataset.classes' names {len(classes)} classes, but the model's decoder takes {num_classes}"
        )
    return classes


def training_section(metadata: Mapping[str, Any]) -> None:
    """Check `training` (optional): epoch and step counts, the generator's device, and a usable TrainConfig."""
    if "training" not in metadata:
        return
    section = _dict(metadata["training"], "training")
    for key in ("epoch", "step"):
        if key in section:
            _int(section[key], f"training.{key}", 0, 1 << 62)
    if "generator_device" in section:
        _str(section["generator_device"], "training.generator_device")
    if "config" in section:
        values = _dict(section["config"], "training.config")
        try:
            TrainConfig.from_dict(values)
        except (ConfigError, TypeError, ValueError) as err:
            raise SchemaError(f"'training.config' is unusable ({err})") from None


def optimizers_section(metadata: Mapping[str, Any]) -> None:
    """Check `optimizers` (optional): per optimizer, a list of parameter groups and per-parameter scalars."""
    if "optimizers" not in metadata:
        return
    for name, settings in _dict(metadata["optimizers"], "optimizers").items():
        settings = _dict(settings, f"optimizers.{name}")
        groups = settings.get("param_groups")
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise SchemaError(f"'optimizers.{name}.param_groups' must be a list of JSON objects")
        for key in _dict(settings.get("scalars", {}), f"optimizers.{name}.scalars"):
            index, _, field = key.partition(".")
            if not index.isdigit() or not field:
                raise SchemaError(f"'optimizers.{name}.scalars' has a bad key {key!r} (expected INDEX.FIELD)")


def history_section(metadata: Mapping[str, Any]) -> None:
    """Check `history` (optional): a list of objects of numbers, one per epoch."""
    history = metadata.get("history", [])
    if not isinstance(history, list):
        raise SchemaError(f"'history' must be a list, not {_describe(history)}")
    for i, entry in enumerate(history):
        _numbers(entry, f"history[{i}]")


def _tensor(tensors: Mapping[str, torch.Tensor], key: str, ndim: int, integer: bool) -> torch.Tensor | None:
    value = tensors.get(key)
    if value is None:
        return None
    if value.dim() != ndim:
        raise SchemaError(f"tensor '{key}' has {value.dim()} dimensions {tuple(value.shape)}, expected {ndim}")
    if integer and value.dtype not in _INT_TENSORS:
        raise SchemaError(f"tensor '{key}' holds {value.dtype}, expected integers")
    if not integer and not value.is_floating_point():
        raise SchemaError(f"tensor '{key}' holds {value.dtype}, expected floats")
    return value


def _index_range(value: torch.Tensor, key: str, high: int) -> None:
    if value.numel() and (int(value.min()) < 0 or int(value.max()) >= high):
        raise SchemaError(f"tensor '{key}' indexes outside 0..{high - 1}")


def atlas_tensors(
    metadata: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], latent_dim: int, classes: list[str]
) -> None:
    """Check the atlas (codes N x latent_dim, labels N), snapshots (S x n x latent_dim, steps S, index n into the
    atlas) and the labelled index against each other and the model's latent size."""
    codes = _tensor(tensors, "atlas.codes", 2, integer=False)
    labels = _tensor(tensors, "atlas.labels", 1, integer=True)
    if (codes is None) != (labels is None):
        raise SchemaError("the atlas needs both 'atlas.codes' and 'atlas.labels'")
    if codes is not None and labels is not None:
        if codes.shape[1] != latent_dim:
            raise SchemaError(f"tensor 'atlas.codes' has {codes.shape[1]} columns, but the latent size is {latent_dim}")
        if labels.shape[0] != codes.shape[0]:
            raise SchemaError(f"'atlas.labels' has {labels.shape[0]} labels for {codes.shape[0]} codes")
        if not torch.isfinite(codes).all():
            raise SchemaError("tensor 'atlas.codes' holds non-finite values")
        # The atlas holds the dataset's labels (not a cluster model's clusters): within its class names, if named.
        high = len(classes) - 1 if classes else None
        if labels.numel() and (int(labels.min()) < -1 or (high is not None and int(labels.max()) > high)):
            raise SchemaError(
                f"tensor 'atlas.labels' holds labels outside -1..{high}, the classes 'dataset.classes' names"
                if high is not None
                else "tensor 'atlas.labels' holds labels below -1"
            )
        if "atlas" in metadata:
            atlas = _dict(metadata["atlas"], "atlas")
            if "size" in atlas and _int(atlas["size"], "atlas.size", 0, 1 << 40) != codes.shape[0]:
                raise SchemaError(f"'atlas.size' is {atlas['size']}, but 'atlas.codes' holds {codes.shape[0]} codes")
            if "split" in atlas:
                _str(atlas["split"], "atlas.split")
    for name in [name for name in tensors if name.startswith("atlas.anomaly.")]:
        scores = _tensor(tensors, name, 1, integer=False)
        if codes is None or scores.shape[0] != codes.shape[0]:
            raise SchemaError(f"tensor '{name}' needs one score per atlas code")
        if not torch.isfinite(scores).all():
            raise SchemaError(f"tensor '{name}' holds non-finite values")
    snap = _tensor(tensors, "snapshots.codes", 3, integer=False)
    steps = _tensor(tensors, "snapshots.steps", 1, integer=True)
    index = _tensor(tensors, "snapshots.index", 1, integer=True)
    if snap is not None:
        if steps is None:
            raise SchemaError("'snapshots.codes' come without 'snapshots.steps'")
        if snap.shape[2] != latent_dim:
            raise SchemaError(f"tensor 'snapshots.codes' has codes of size {snap.shape[2]}, not {latent_dim}")
        if steps.shape[0] != snap.shape[0]:
            raise SchemaError(f"'snapshots.steps' has {steps.shape[0]} steps for {snap.shape[0]} snapshots")
        if index is not None:
            if index.shape[0] != snap.shape[1]:
                raise SchemaError(f"'snapshots.index' has {index.shape[0]} entries for {snap.shape[1]} codes each")
            if labels is not None:
                _index_range(index, "snapshots.index", labels.shape[0])
    labelled = _tensor(tensors, "labels.index", 1, integer=True)
    n_train = metadata["dataset"].get("n_train")
    if labelled is not None and n_train is not None:
        _index_range(labelled, "labels.index", n_train)


STORED_WEIGHTS = ("fp32", "fp16", "int8")  # how a slim copy stores its weights (`export`)


def validate_checkpoint(metadata: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
    """Raise SchemaError (naming the field) unless the metadata and the non-weight tensors fit the schema."""
    config = model_section(metadata)
    latent_dim = config.get("latent_dim", ModelConfig.latent_dim)
    prior_section(metadata, latent_dim)
    classes = dataset_section(metadata, config)
    training_section(metadata)
    optimizers_section(metadata)
    history_section(metadata)
    if "metrics" in metadata:
        _numbers(metadata["metrics"], "metrics")
    if "inference_only" in metadata and not isinstance(metadata["inference_only"], bool):
        raise SchemaError(f"'inference_only' must be true or false, not {_describe(metadata['inference_only'])}")
    if "stored_weights" in metadata and metadata["stored_weights"] not in STORED_WEIGHTS:
        raise SchemaError(
            f"'stored_weights' must be one of {', '.join(STORED_WEIGHTS)}, not {_describe(metadata['stored_weights'])}"
        )
    atlas_tensors(metadata, tensors, latent_dim, classes)
