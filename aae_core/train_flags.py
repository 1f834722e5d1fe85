"""Checks of the `train` command's flags before any training: flags the model or prior would ignore, flags that
contradict a resumed checkpoint, and an output path that cannot take a checkpoint. Each refusal is a ConfigError
naming the flag."""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint, CheckpointError, stored_model_config
from .config import SCHEDULE, ConfigError, ModelConfig, TrainConfig, flag_names
from .data import DataSplits, exclude_classes
from .kinds import Kind, build_model

# The prior flags: the priors each one sets, and the parameter it sets on each.
PRIOR_FLAGS = {
    "prior_std": {"gaussian": "std"},
    "components": {"mixture": "components", "swissroll": "segments"},
    "uniform_half_width": {"uniform": "half_width"},
}
# `train` flags that may differ from a resumed checkpoint's settings: how long and where to train, where the data
# and the output are. Every other setting comes from the checkpoint, and a flag that contradicts it is refused.
# The learning-rate schedule may change too, from the run's current epoch on (`state.reschedule`).
RESUME_MAY_CHANGE = (
    "epochs",
    "device",
    "threads",
    "quiet",
    "out",
    "data_dir",
    "download",
    "image_size",
    "resume",
    *SCHEDULE,
)


def prior_params(args: argparse.Namespace, prior: str) -> dict[str, Any]:
    """The parameters the prior flags give the prior named `prior`."""
    return {params[prior]: getattr(args, dest) for dest, params in PRIOR_FLAGS.items() if prior in params}


def _flag(dest: str) -> str:
    """How a `train` setting is spelled on the command line (`hidden_dims`: `--hidden`)."""
    return {**flag_names(ModelConfig), **flag_names(TrainConfig)}.get(dest, "--" + dest.replace("_", "-"))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _encoder_in_use(config: ModelConfig) -> str:
    """The posterior q(z|x) the model of `config` really builds: the VAE's is Gaussian whatever `encoder` says."""
    with torch.device("meta"):  # the architecture only: nothing is allocated
        return str(getattr(build_model(config).encoder, "kind", "its own"))


def refuse_ignored_flags(args: argparse.Namespace, kind: Kind, config: ModelConfig, training: TrainConfig) -> None:
    """Refuse flags that the chosen model or prior would silently ignore (such as --encoder on the VAE)."""
    given = args.given
    if "encoder" in given and (used := _encoder_in_use(config)) != args.encoder:
        raise ConfigError(
            f"the {kind.name} model uses a {used} encoder whatever --encoder says; leave out --encoder {args.encoder}"
        )
    if "mmd_weight" in given and kind.name != "wae":
        raise ConfigError(f"--mmd-weight weighs the WAE's MMD penalty; the {kind.name} model has none, leave it out")
    for dest in ("head_margin", "head_lr"):
        if dest in given and kind.name != "dimred":
            raise ConfigError(f"{_flag(dest)} sets the dimred model's cluster heads; the {kind.name} model has none")
    for dest in ("label_smoothing", "labelled_input_mask"):
        if dest in given and "class" not in kind.loss_names(training):
            has_none = "runs none without --labels" if kind.labels == "optional" else "has none"
            raise ConfigError(f"{_flag(dest)} sets the classification phase; the {kind.name} model {has_none}")
    for dest, params in PRIOR_FLAGS.items():
        if dest in given and args.prior not in params:
            raise ConfigError(
                f"{_flag(dest)} sets the {' and '.join(params)} prior, not the {args.prior} one; leave it out"
            )


def check_clusters(
    args: argparse.Namespace, kind: Kind, classes: int, labels: int, resumed: ModelConfig | None = None
) -> None:
    """Refuse a given --clusters that sets nothing (kinds without clusters, dimred given labels) or that contradicts
    the `resumed` checkpoint's sizes."""
    if "clusters" not in args.given:
        return
    sizes = kind.sizes(classes, args.clusters, labels)
    if sizes == kind.sizes(classes, args.clusters + 1, labels):
        with_labels = kind.sizes(classes, args.clusters, 0) != kind.sizes(classes, args.clusters + 1, 0)
        reason = "takes one category per class when given --labels" if with_labels else "has no clusters to set"
        raise ConfigError(f"the {kind.name} model {reason}; leave out --clusters")
    if resumed is not None and any(getattr(resumed, key) != value for key, value in sizes.items()):
        held = ", ".join(f"{key}={getattr(resumed, key)}" for key in sizes)
        raise ConfigError(
            f"--resume {args.resume.name} keeps the checkpoint's settings, and --clusters {args.clusters} contradicts "
            f"them (it has {held}); leave it out"
        )


def check_resume(args: argparse.Namespace, checkpoint: Checkpoint) -> None:
    """Refuse to resume a slim copy, or with flags that contradict the checkpoint's settings (naming each)."""
    meta = checkpoint.metadata
    if "training" not in meta or "optimizers" not in meta:
        raise ConfigError(
            f"{args.resume.name} holds inference weights only (a slim copy written by export), so it cannot be "
            "resumed; resume the checkpoint it was exported from"
        )
    conflicts = _resume_conflicts(args, checkpoint)
    if conflicts:
        raise ConfigError(
            f"--resume {args.resume.name} keeps the checkpoint's settings, and these flags contradict them: "
            f"{'; '.join(conflicts)}; leave them out, or train a new model with another --out"
        )


def _resume_conflicts(args: argparse.Namespace, checkpoint: Checkpoint) -> list[str]:
    """The given flags that contradict the settings of the checkpoint being resumed, as 'FLAG VALUE (the
    checkpoint's: VALUE)'; flags in RESUME_MAY_CHANGE and flags not given never do."""
    meta = checkpoint.metadata
    model = stored_model_config(checkpoint)
    stored: dict[str, Any] = {f.name: getattr(model, f.name) for f in fields(ModelConfig)}
    training = TrainConfig.from_dict(meta["training"]["config"])
    stored.update({f.name: getattr(training, f.name) for f in fields(TrainConfig)})
    stored["encoder"] = _encoder_in_use(model)
    prior = meta.get("prior", {})
    stored["prior"] = name = str(prior.get("name"))
    for dest, params in PRIOR_FLAGS.items():
        # A parameter the stored prior does not have is contradicted by any value.
        stored[dest] = prior.get("params", {}).get(params.get(name), f"none, its prior is {name}")
    stored["dataset"] = meta.get("dataset", {}).get("name")
    conflicts = []
    for dest in sorted(args.given - set(RESUME_MAY_CHANGE)):
        if dest in stored and getattr(args, dest) != stored[dest]:
            conflicts.append(f"{_flag(dest)} {_shown(getattr(args, dest))} (the checkpoint's: {_shown(stored[dest])})")
    return conflicts


def check_output(path: Path) -> None:
    """Refuse, before any training, an output path that cannot take a checkpoint: a folder, a device or pipe, a path
    under a file, or a folder that cannot be written. Creates the missing folders, as writing would."""
    if path.is_dir():
        raise ConfigError(f"--out {path.name} is a folder; give a file in it, such as {path.name}/model.safetensors")
    if path.exists() and not path.is_file():
        # A checkpoint replaces its file by renaming a new one over it, which would replace a device node too.
        raise ConfigError(f"--out {path.name} exists and is not a regular file (a device or pipe); give a file path")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"cannot write --out {path.name}: {folder.name} on its path is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The checkpoint is written to a temporary file beside it first; try exactly that.
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"cannot write --out {path.name}: {err.strerror or err}") from None


def write_failure(path: Path, err: Exception) -> CheckpointError:
    """A failed checkpoint write (full disk, quota, I/O error) as one line."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).rsplit("I/O error: ", 1)[-1]
    return CheckpointError(
        f"cannot write {path.name}: {reason}; checkpoints are written atomically, so the file holds its last "
        "complete epoch, if any"
    )


def hold_out_classes(
    args: argparse.Namespace, data: DataSplits, labels: int, resume: Checkpoint | None = None
) -> DataSplits:
    """The training data without the classes `--exclude-classes` names (or the resumed run holds out), checked:
    an unknown class, every class, a run that trains on labels, or a resumed run held out differently is refused."""
    given = [part for item in (args.exclude_classes or []) for part in str(item).split(",") if part.strip()]
    if resume is not None:
        stored = resume.metadata["dataset"].get("excluded_classes", [])
        if "exclude_classes" in args.given and list(exclude_classes(data, given).excluded) != stored:
            shown = ",".join(map(str, stored)) or "none"
            raise ConfigError(
                f"--resume {args.resume.name} keeps the checkpoint's settings, and --exclude-classes {','.join(given)} "
                f"contradicts them (the checkpoint's: {shown}); leave it out"
            )
        return exclude_classes(data, stored)
    if given and labels != 0:
        raise ConfigError(
            "--exclude-classes holds classes out of an unlabelled run, to score them as anomalies; this run trains "
            "on labels (--labels), which would name classes it never sees: use ae, aae, vae, wae or cluster"
        )
    return exclude_classes(data, given)
