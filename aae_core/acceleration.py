"""Speed options of the trainer: bf16 autocast, TF32 matmuls on CUDA, and `torch.compile` of the MLPs on CUDA.

Every option is off by default so that a CPU run stays bit-reproducible (same seed, same checkpoint bytes). bf16 on
a CPU without native support trains (slowly) with a warning; on a GPU without it, it is refused with a clear
ConfigError; a failing `torch.compile` falls back to eager execution with a warning.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from .config import ConfigError
from .models import evaluating

Autocast = Callable[[], AbstractContextManager]


def bf16_supported(device: torch.device) -> bool:
    """Whether `device` runs bf16 matmuls natively (CPU: AVX512-BF16 or AMX via oneDNN; CUDA: Ampere or newer)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def make_autocast(device: torch.device, precision: str) -> Autocast:
    """A factory of the context the forward passes run in: nothing for fp32, bf16 autocast for bf16 (`precision` is
    one of config.PRECISIONS, checked where the TrainConfig is made).

    Only forwards and their losses' inputs are autocast; backward, the optimizers and the weights stay in fp32
    (PyTorch's recommended use of autocast). Losses are computed in fp32 by the phases.
    """
    if precision == "fp32":
        return nullcontext
    if device.type == "cuda" and not bf16_supported(device):
        raise ConfigError("--precision bf16 needs a GPU with bf16 support (Ampere or newer); use fp32")
    if device.type == "cpu" and not bf16_supported(device):
        warnings.warn(
            "this CPU has no native bf16 matmul (AVX512-BF16/AMX): bf16 will be slower than fp32", stacklevel=2
        )
    return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)


@contextmanager
def cuda_matmul_precision(device: torch.device) -> Iterator[None]:
    """On CUDA, let fp32 matmuls use TF32 tensor cores for the duration of training; restore the setting after."""
    if device.type != "cuda":
        yield
        return
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # TF32 for fp32 matmuls (10-bit mantissa inputs, fp32 accumulation)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def compile_modules(modules: list[nn.Module], device: torch.device, sample_inputs: list[torch.Tensor]) -> bool:
    """`torch.compile` each MLP in place on CUDA (inductor fuses bias, ReLU and casts: fewer kernel launches for
    these small, launch-bound layers); returns whether compilation is in use. The default mode is used, not
    "reduce-overhead" (CUDA graphs): the discriminator runs three times per step and its graph outputs must outlive
    the next call, which CUDA-graph replay does not guarantee.

    A trial forward on `sample_inputs` surfaces a missing compiler or an unsupported setup up front; then every
    module is put back to eager execution and training continues uncompiled, with a warning.
    """
    if device.type != "cuda":
        warnings.warn(
            "--compile is used on CUDA only (on CPU these matmul-bound MLPs gain nothing); ignored", stacklevel=2
        )
        return False
    try:
        for module, x in zip(modules, sample_inputs, strict=True):
            module.compile()
            with torch.no_grad(), evaluating(module):  # leaves batch-norm statistics as they were
                module(x)
    except Exception as err:  # any compiler failure means: fall back to eager
        for module in modules:
            module._compiled_call_impl = None  # undo nn.Module.compile
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); training without it", stacklevel=2)
        return False
    return True
