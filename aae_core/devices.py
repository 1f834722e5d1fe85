"""Device choice: auto | cpu | cuda, with a clear error when CUDA is asked for and absent."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """A device that is not available here."""


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a user's device choice into a torch.device; 'auto' prefers CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} was asked for, but this machine's torch sees no CUDA GPU; use cpu or auto"
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")


def available_devices() -> list[str]:
    """Devices a user can pick on this machine."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
