"""Checkpoints: one safetensors file, tensors inside, JSON metadata in its header. Never pickled.

Tensor names are prefixed by what they hold: `model.` (weights), `optim.<name>.` (optimizer state, for resuming),
`rng.` (generator state), `atlas.` (codes and labels of the evaluation set), `snapshots.` (codes during training),
and, in an 8-bit export, `int8.model.` (a weight matrix as int8) with `int8scale.model.` (its scale per output row),
which reading turns back into `model.` floats.
The metadata (model kind, architecture, prior, dataset, training settings, history, metrics, format version) is one
JSON document stored under the header key `aae_core`. Writes are atomic: a crash never leaves a half-written file.
Reading checks the metadata and the atlas and snapshot tensors against `schema` before anything is built from them.
`rebuild_model` is the one place a model (and `stored_prior` the prior) is rebuilt from a checkpoint; it refuses
weights that do not fit the architecture, or that hold NaN or infinite values.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .header import FORMAT_NAME, FORMAT_VERSION, INT8_FORMAT_VERSION, METADATA_KEY
from .kinds import build_model
from .models import AutoEncoder, inference_state_dict
from .priors import Prior, prior_from_config
from .schema import SchemaError, validate_checkpoint


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message is one line saying why."""


INT8 = "int8."  # an 8-bit weight matrix: int8 values, one row per output unit
INT8_SCALE = "int8scale."  # its float scale per row: weight = value * scale


class NonFiniteWeightsError(CheckpointError):
    """Weights that hold NaN or infinite values (a run that diverged): the model would decode garbage."""


@dataclass
class Checkpoint:
    """Metadata plus tensors, as read from or written to disk."""

    metadata: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under `prefix.` with the prefix removed."""
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write atomically (temporary file in the same folder, then rename); returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A file is written in the oldest format that holds it, so readers older than 8-bit weights still open the rest
    # (and refuse an 8-bit file as newer, rather than loading its int8 values as weights).
    quantized = any(key.startswith(INT8) for key in checkpoint.tensors)
    version = INT8_FORMAT_VERSION if quantized else 1
    metadata = {**checkpoint.metadata, "format": FORMAT_NAME, "format_version": version}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in checkpoint.tensors.items()}
    header = {METADATA_KEY: json.dumps(metadata, sort_keys=True, allow_nan=True)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _sniff(path: Path) -> str | None:
    """Name the format of a file that is clearly not safetensors, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (a torch.save / pickle checkpoint?)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    return None


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a checkpoint (its metadata against `schema`); anything wrong raises CheckpointError with a
    one-line reason that names the file (not its folder: the message may reach a user of a server)."""
    path = Path(path)
    name = path.name or str(path)
    if not path.exists():
        raise CheckpointError(f"{name}: no such checkpoint")
    if path.is_dir():
        raise CheckpointError(f"{name} is a folder, not a checkpoint file (*.safetensors)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{name} is empty")
    foreign = _sniff(path)
    if foreign:
        raise CheckpointError(f"{name} is {foreign}, not a safetensors checkpoint; it was not opened (never unpickled)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{name} is not a readable safetensors file (truncated or corrupt: {reason})") from None
    if METADATA_KEY not in header:
        raise CheckpointError(
            f"{name} is a safetensors file but not an aae_core checkpoint (no '{METADATA_KEY}' metadata)"
        )
    try:
        metadata = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{name}: its metadata is not valid JSON ({err.msg})") from None
    except RecursionError:
        raise CheckpointError(f"{name}: its metadata is nested too deeply to be a checkpoint's") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{name}: its metadata does not describe an aae_core checkpoint")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{name}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{name} uses checkpoint format {version}, newer than this aae_core reads ({FORMAT_VERSION}); "
            "upgrade aae_core"
        )
    for key in ("model", "prior", "dataset"):
        if not isinstance(metadata.get(key), dict):
            raise CheckpointError(f"{name}: its metadata lacks the '{key}' section")
    try:
        tensors = dequantize(tensors)
    except ValueError as err:
        raise CheckpointError(f"{name}: bad 8-bit weights: {err}") from None
    try:
        validate_checkpoint(metadata, tensors)
    except SchemaError as err:
        raise CheckpointError(f"{name}: bad metadata: {err}") from None
    return Checkpoint(metadata, tensors)


# ---------------------------------------------------------------------------------------------------- state packing


def pack_optimizer(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state into tensors (for safetensors) and JSON-able settings."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unpack_optimizer(
    name: str, optimizer: torch.optim.Optimizer, checkpoint: Checkpoint, settings: dict[str, Any]
) -> None:
    """Restore an optimizer packed by `pack_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in checkpoint.group(f"optim.{name}").items():
        index, field = key.split(".", 1)
        state.setdefault(int(index), {})[field] = value
    for key, value in settings.get("scalars", {}).items():
        index, field = key.split(".", 1)
        state.setdefault(int(index), {})[field] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()} for group in settings["param_groups"]]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"optimizer '{name}' state does not fit this model ({err})") from None


def check_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], strict: bool = True) -> None:
    """Raise a one-line CheckpointError unless `weights` fit `module` (which may live on the meta device)."""
    expected = module.state_dict()
    for key, value in weights.items():
        if key in expected and expected[key].shape != value.shape:
            raise CheckpointError(
                f"weight '{key}' has shape {tuple(value.shape)}, but the architecture in the metadata "
                f"expects {tuple(expected[key].shape)}"
            )
    missing = [k for k in expected if k not in weights]
    if strict and missing:
        raise CheckpointError(f"checkpoint lacks {len(missing)} weights the model needs (first: '{missing[0]}')")
    unexpected = [k for k in weights if k not in expected]
    if unexpected:
        raise CheckpointError(f"checkpoint holds weights this model does not have (first: '{unexpected[0]}')")


def load_weights(module: torch.nn.Module, weights: dict[str, torch.Tensor], strict: bool = True) -> None:
    """Load weights, turning shape or name mismatches into one-line CheckpointErrors."""
    check_weights(module, weights, strict)
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()}, strict=strict)


def quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight matrix as int8 values and one float32 scale per row (symmetric: the row's largest magnitude is 127)."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero at any scale
    values = torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return values, scale


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`tensors` with each `int8.`/`int8scale.` pair turned back into the float32 weight it stands for; ValueError
    (one line) when a pair is incomplete or malformed."""
    packed = [key for key in tensors if key.startswith(INT8)]
    scales = {key for key in tensors if key.startswith(INT8_SCALE)}
    if not packed and not scales:
        return tensors
    out = {k: v for k, v in tensors.items() if not k.startswith((INT8, INT8_SCALE))}
    for key in packed:
        name = key[len(INT8) :]
        values, scale = tensors[key], tensors.get(INT8_SCALE + name)
        if not name.startswith("model."):
            raise ValueError(f"'{key}' is not a model weight")
        if name in out:
            raise ValueError(f"'{name}' is stored twice, as floats and as 8-bit values")
        if scale is None:
            raise ValueError(f"'{key}' has no scale ('{INT8_SCALE + name}')")
        if values.dtype != torch.int8 or values.dim() != 2:
            raise ValueError(f"'{key}' must be a 2-D int8 matrix, not {values.dim()}-D {values.dtype}")
        if not scale.is_floating_point() or tuple(scale.shape) != (values.shape[0],):
            raise ValueError(f"'{INT8_SCALE + name}' must hold one float per row of '{key}' ({values.shape[0]})")
        scale = scale.float()
        if not bool(torch.isfinite(scale).all()) or bool((scale < 0).any()):
            raise ValueError(f"'{INT8_SCALE + name}' holds negative, NaN or infinite scales")
        out[name] = values.float() * scale[:, None]
        scales.discard(INT8_SCALE + name)
    if scales:
        raise ValueError(f"'{sorted(scales)[0]}' scales no 8-bit weight")
    return out


def slim_checkpoint(
    checkpoint: Checkpoint, half: bool = True, discriminators: bool = True, int8: bool = False
) -> Checkpoint:
    """An inference-only copy: no optimizer or generator state (and no discriminators unless `discriminators`);
    floats in fp16 when `half`; with `int8`, every model weight matrix in 8 bits with a scale per row (biases and
    normalization stay fp16): a quarter of fp32, at little cost to the shipped models (docs/CHECKPOINT_SIZES.md).

    What the app needs stays: encoder and decoder weights, the discriminators (a few hundred KB; the app can draw
    D(z)), the atlas, the snapshots, the metadata and metrics.
    """
    dropped = ("optim.", "rng.") + (() if discriminators else ("model.discriminator.", "model.y_discriminator."))
    tensors = {}
    for key, value in checkpoint.tensors.items():
        if key.startswith(dropped):
            continue
        if int8 and key.startswith("model.") and value.is_floating_point() and value.dim() == 2:
            tensors[INT8 + key], tensors[INT8_SCALE + key] = quantize(value)
            continue
        tensors[key] = value.half() if half and value.is_floating_point() else value
    metadata = {k: v for k, v in checkpoint.metadata.items() if k != "optimizers"}
    metadata["inference_only"] = True
    metadata["stored_weights"] = "int8" if int8 else "fp16" if half else "fp32"
    return Checkpoint(metadata, tensors)


# ---------------------------------------------------------------------------------------------------- rebuilding


def _label(source: str | os.PathLike[str]) -> str:
    """How a message names a checkpoint: its file name, never the folder it lies in."""
    return Path(source).name if source else "checkpoint"


def stored_model_config(checkpoint: Checkpoint, source: str = "") -> ModelConfig:
    """The architecture the metadata describes; CheckpointError when it is unusable."""
    try:
        return ModelConfig.from_dict(checkpoint.metadata["model"]["config"])
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{_label(source)}: its model settings are unusable ({err})") from None


def nonfinite_weights(checkpoint: Checkpoint) -> list[str]:
    """Names of the model weights (without the `model.` prefix) that hold NaN or infinite values."""
    return [
        key
        for key, value in checkpoint.group("model").items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def nonfinite_error(broken: list[str], source: str | os.PathLike[str] = "") -> NonFiniteWeightsError:
    """The error that names the weights in `broken` (as `nonfinite_weights` lists them)."""
    names = ", ".join(f"'{k}'" for k in broken[:3]) + (f" and {len(broken) - 3} more" if len(broken) > 3 else "")
    return NonFiniteWeightsError(
        f"{_label(source)}: its weights are broken: {names} hold NaN or infinite values "
        "(the run that wrote it diverged); retrain it, with a smaller --lr"
    )


def check_finite(checkpoint: Checkpoint, source: str | os.PathLike[str] = "") -> None:
    """Raise NonFiniteWeightsError, naming the broken tensors, when any model weight is NaN or infinite."""
    broken = nonfinite_weights(checkpoint)
    if broken:
        raise nonfinite_error(broken, source)


def stored_prior(checkpoint: Checkpoint) -> Prior:
    """The prior the model was trained against; PriorError when it cannot be rebuilt (e.g. a callable)."""
    return prior_from_config(checkpoint.metadata["prior"])


def rebuild_model(
    checkpoint: Checkpoint,
    device: torch.device | str = "cpu",
    *,
    source: str = "",
    inference_only: bool = True,
    allow_nonfinite: bool = False,
) -> AutoEncoder:
    """The checkpoint's model with its weights, on `device`.

    The metadata is checked against the stored weights on the meta device first, so a hostile file that claims a
    huge architecture is refused without allocating it. With `inference_only` the discriminators may be missing
    (a slim `export`); otherwise every weight must be there. Weights holding NaN or infinite values are refused
    (NonFiniteWeightsError) unless `allow_nonfinite`.
    """
    config = stored_model_config(checkpoint, source)
    weights = checkpoint.group("model")
    with torch.device("meta"):
        skeleton = build_model(config)
    prefix = f"{_label(source)}: " if source else ""
    needed = inference_state_dict(skeleton) if inference_only else skeleton.state_dict()
    missing = next((k for k in needed if k not in weights), None)
    if missing is not None:
        raise CheckpointError(f"{prefix}checkpoint lacks weight '{missing}' that its architecture needs")
    strict = len(weights) == len(skeleton.state_dict())
    try:
        check_weights(skeleton, weights, strict)
    except CheckpointError as err:
        raise CheckpointError(f"{prefix}{err}") from None
    if not allow_nonfinite:
        check_finite(checkpoint, source)
    model = build_model(config)
    load_weights(model, weights, strict)
    return model.to(device)
