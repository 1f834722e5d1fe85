"""A torch-free look into a checkpoint: its JSON header and its atlas (codes and labels), read with numpy.

The explorer draws its first latent map from this while the server still imports PyTorch. It is no substitute for
`checkpoint.load_checkpoint`: it checks only what it returns (the header's format and the few fields it reads, the
atlas's shapes, types, finiteness, label range and size), and answers None, never an error, for anything else or
anything wrong, so that the full loader, which runs next, is the one that explains a bad file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The header key and format the checkpoint module writes (it imports them from here, so the two cannot drift).
FORMAT_NAME = "aae_core"
FORMAT_VERSION = 2  # the newest this reads; 2 adds 8-bit weights (`export --int8`), 1 is every other file
INT8_FORMAT_VERSION = 2
METADATA_KEY = "aae_core"

MAX_ATLAS_CODES = 1 << 20  # a million codes: more than any map draws; a larger claim is not read early
MAX_CLASSES = 1 << 16
MAX_NAME = 1000  # characters of a class name, as the schema allows
DEFAULT_LATENT_DIM = 2  # ModelConfig.latent_dim (config.py is torch-free, but this module reads no more than this)


@dataclass(frozen=True)
class AtlasPreview:
    """What a first map needs from a checkpoint: its 2-D codes (N, 2), labels (N,) and class names."""

    codes: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    num_classes: int

    @property
    def names(self) -> list[str]:
        """A name per class, as `LatentModel.class_names` gives them: the dataset's, then numbers."""
        count = max(self.num_classes, len(self.class_names))
        return [self.class_names[i] if i < len(self.class_names) else str(i) for i in range(count)]


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def read_header(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint's metadata as a dict (format and version checked), or None when it is not one of ours."""
    from safetensors import safe_open

    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size < 8:
            return None
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
        metadata = json.loads(header[METADATA_KEY])
    except Exception:  # noqa: BLE001 - not JSON, no such key, not safetensors: the full loader explains
        return None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        return None
    version = _int(metadata.get("format_version"), 1, FORMAT_VERSION)
    if version is None or not all(isinstance(metadata.get(k), dict) for k in ("model", "prior", "dataset")):
        return None
    return metadata


def read_atlas_preview(path: str | os.PathLike[str]) -> AtlasPreview | None:
    """The atlas of a checkpoint with a 2-D latent space, checked, or None (no atlas, other sizes, anything odd)."""
    from safetensors import safe_open

    metadata = read_header(path)
    if metadata is None:
        return None
    config = metadata["model"].get("config")
    classes = metadata["dataset"].get("classes", [])
    if not isinstance(config, dict) or not isinstance(classes, list) or len(classes) > MAX_CLASSES:
        return None
    if _int(config.get("latent_dim", DEFAULT_LATENT_DIM), 1, 1 << 16) != 2:
        return None
    num_classes = _int(config.get("num_classes", 0), 0, MAX_CLASSES)
    if num_classes is None or not all(isinstance(c, str) and len(c) <= MAX_NAME for c in classes):
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            if not {"atlas.codes", "atlas.labels"} <= set(f.keys()):
                return None
            shapes = f.get_slice("atlas.codes").get_shape(), f.get_slice("atlas.labels").get_shape()
            if len(shapes[0]) != 2 or shapes[0][1] != 2 or list(shapes[1]) != [shapes[0][0]]:
                return None
            if not 0 < shapes[0][0] <= MAX_ATLAS_CODES:
                return None
            codes, labels = f.get_tensor("atlas.codes"), f.get_tensor("atlas.labels")
    except Exception:  # noqa: BLE001 - a dtype numpy lacks (bfloat16), a corrupt file: the full loader explains
        return None
    if codes.dtype.kind != "f" or labels.dtype.kind not in "iu" or not np.isfinite(codes).all():
        return None
    high = len(classes) - 1 if classes else math.inf
    if labels.min() < -1 or labels.max() > high:
        return None
    return AtlasPreview(codes.astype(np.float64), labels.astype(np.int64), tuple(classes), num_classes)
