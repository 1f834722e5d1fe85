"""Device choice: auto | cpu | cuda, with a clear error when CUDA is asked for and absent; the only parser of a
device string (torchrun's per-process GPU included)."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """A device that is not available here."""


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """Turn a user's device choice into a torch.device; 'auto' prefers CUDA when present. Under torchrun
    (`local_rank` given) a CUDA choice means this process's own GPU, cuda:LOCAL_RANK."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} was asked for, but this machine's torch sees no CUDA GPU; use cpu or auto"
            )
        device = torch.device(name)
    elif name == "cpu":
        device = torch.device("cpu")
    else:
        raise DeviceError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if local_rank is not None and device.type == "cuda":
        return torch.device("cuda", local_rank)
    return device


def available_devices() -> list[str]:
    """Devices a user can pick on this machine."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
