"""Data-parallel training under torchrun: sharding of each epoch, and a real 2-process gloo run on digits."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aae_core.distributed import DistributedContext, Sharding, launched_by_torchrun, shard_size
from aae_core.inference import load_model

ROOT = Path(__file__).resolve().parents[1]


def context(rank: int, world_size: int) -> DistributedContext:
    return DistributedContext(rank, world_size, rank, torch.device("cpu"), owns_group=False)


class TestSharding:
    def test_ranks_split_the_epoch_evenly_and_cover_every_example(self):
        n, world = 1437, 4
        shards = [
            Sharding(context(rank, world), seed=3).order(n, epoch=0, device=torch.device("cpu"))
            for rank in range(world)
        ]
        assert {len(s) for s in shards} == {shard_size(n, context(0, world))} == {math.ceil(n / world)}
        together = torch.cat(shards)
        assert set(together.tolist()) == set(range(n))
        assert len(together) - len(set(together.tolist())) == world * math.ceil(n / world) - n  # padding only

    def test_same_permutation_on_every_rank_new_one_each_epoch(self):
        a, b = Sharding(context(0, 2), seed=0), Sharding(context(1, 2), seed=0)
        cpu = torch.device("cpu")
        assert not set(a.order(10, 0, cpu).tolist()) & set(b.order(10, 0, cpu).tolist())
        assert not torch.equal(a.order(100, 0, cpu), a.order(100, 1, cpu))
        assert torch.equal(a.order(100, 1, cpu), Sharding(context(0, 2), seed=0).order(100, 1, cpu))  # resumable

    def test_each_rank_draws_its_own_noise(self):
        draws = []
        for rank in range(2):
            generator = torch.Generator()
            Sharding(context(rank, 2), seed=0).reseed(generator, epoch=0)
            draws.append(torch.randn(5, generator=generator))
        assert not torch.equal(draws[0], draws[1])

    def test_a_plain_run_is_not_distributed(self, monkeypatch):
        monkeypatch.delenv("WORLD_SIZE", raising=False)
        assert not launched_by_torchrun()
        monkeypatch.setenv("WORLD_SIZE", "1")
        monkeypatch.setenv("RANK", "0")
        assert not launched_by_torchrun()


@pytest.mark.slow
def test_torchrun_two_gloo_processes_train_and_write_one_checkpoint(tmp_path, digits):
    out = tmp_path / "runs" / "ddp.safetensors"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "aae_core", "train", "--dataset", "digits", "--hidden", "64,64", "--disc-hidden", "64,64",
        "--epochs", "2", "--device", "cpu", "--quiet", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 reports, rank 1 stays quiet
    assert sorted(p.name for p in out.parent.iterdir()) == ["ddp.safetensors"]  # one file, no temporary left

    model = load_model(out)
    steps_per_epoch = math.ceil(math.ceil(len(digits.train) / 2) / 100)  # each rank: half the data, batch 100
    assert [h["step"] for h in model.history] == [steps_per_epoch, 2 * steps_per_epoch]
    assert model.metadata["training"]["epoch"] == 2
    assert model.atlas is not None and model.atlas.codes.shape == (len(digits.eval), 2)
    assert all(math.isfinite(v) for h in model.history for v in h.values())
