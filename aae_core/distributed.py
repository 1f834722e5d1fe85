"""Data-parallel training on `torch.distributed`, for runs launched with `torchrun`.

`torchrun --standalone --nproc_per_node=N -m aae_core train ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; `train()` sees them and, through this module:

1. joins the process group (NCCL on GPUs, one GPU per process; gloo on CPU);
2. gives each rank its shard of every epoch: one permutation from the same seed on every rank, each rank takes every
   N-th index, padded like `DistributedSampler` so that all ranks run the same number of steps;
3. draws noise and prior samples on each rank from its own rank-offset generator;
4. runs the updates through a view of the model whose updated parts (encoder, decoder, discriminator) are wrapped in
   `DistributedDataParallel`, so every optimizer step uses gradients averaged over all ranks;
5. leaves checkpoints, snapshots, the atlas, metrics and the progress bar to rank 0, then meets at a barrier and
   leaves the process group.

The batch size is per process: N processes with `--batch-size 100` take 100·N examples per optimizer step.
"""

from __future__ import annotations

import copy
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .devices import resolve_device

# Seeds of the per-rank noise generators are spread this far apart so that ranks and epochs never share a stream.
_RANK_SEED_STRIDE = 1_000_003


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by torchrun (WORLD_SIZE > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_main_process() -> bool:
    """Rank 0, or a process not launched by torchrun: the one that writes files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # whether train() started the process group (and so must end it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> DistributedContext | None:
    """Join the torchrun process group when launched by torchrun; None for a plain single-process run."""
    if not launched_by_torchrun():
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = resolve_device(device, local_rank)
    use_cuda = torch_device.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(local_rank)  # one GPU per process, as NCCL expects
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, torch_device, owns_group)


def teardown(context: DistributedContext | None) -> None:
    """Wait for every rank (rank 0 may still be writing the final checkpoint), then leave the group."""
    if context is None:
        return
    dist.barrier()
    if context.owns_group:
        dist.destroy_process_group()


def shard_size(n: int, context: DistributedContext | None) -> int:
    """Examples each rank sees per epoch (the dataset padded to a multiple of the world size, then split)."""
    return n if context is None else -(-n // context.world_size)


class Sharding:
    """Each epoch's order of training examples for this rank, and this rank's noise generator for the epoch."""

    def __init__(self, context: DistributedContext, seed: int) -> None:
        self.context = context
        self.seed = seed

    def order(self, n: int, epoch: int, device: torch.device) -> torch.Tensor:
        """This rank's shuffled indices for `epoch`; the same permutation on every rank, rank r takes r, r+N, ..."""
        # Seeded from (seed, epoch) rather than carried state, so a resumed run shuffles exactly as an unbroken one.
        generator = torch.Generator().manual_seed(self.seed + epoch)
        permutation = torch.randperm(n, generator=generator)
        total = shard_size(n, self.context) * self.context.world_size
        padded = torch.cat([permutation, permutation[: total - n]])  # repeat the first few, as DistributedSampler
        return padded[self.context.rank : total : self.context.world_size].to(device)

    def reseed(self, generator: torch.Generator, epoch: int) -> None:
        """Give this rank its own noise and prior-sample stream for `epoch` (different on every rank)."""
        generator.manual_seed(self.seed + _RANK_SEED_STRIDE * (1 + self.context.rank) + epoch)


def wrap_model(model: nn.Module, context: DistributedContext | None) -> nn.Module:
    """The model the updates run through: under torchrun, a view of `model` whose submodules with weights
    (encoder, decoder, discriminator) are DistributedDataParallel-wrapped; otherwise `model` itself.

    The view shares its weights with `model`, which stays unwrapped for checkpoints, snapshots and evaluation.
    Submodules are wrapped one by one, not the whole model, because the phases call them separately
    (`encode`, `decode_logits`, `discriminate`), each forward followed by its own backward.
    """
    if context is None:
        return model
    view = copy.copy(model)  # shallow: same parameters, its own table of submodules
    view._modules = dict(model._modules)
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    for name, module in model.named_children():
        if any(p.requires_grad for p in module.parameters()):
            setattr(view, name, DistributedDataParallel(module, device_ids=device_ids))
    return view


def mean_over_ranks(values: dict[str, float], context: DistributedContext | None) -> dict[str, float]:
    """The average of each value over all ranks (one all-reduce); the values themselves when not distributed."""
    if context is None or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / context.world_size).tolist(), strict=True))
