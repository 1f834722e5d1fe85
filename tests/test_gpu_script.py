"""scripts/gpu_reproduce.sh, the one call a lent GPU gets: its CPU dry run goes through every step and writes every
figure, so the script works the first time it meets a GPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aae_core.checkpoint import load_checkpoint
from aae_core.reproduce import SEMI_SUPERVISED

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_dry_run_goes_through_every_step_and_writes_its_figures(tmp_path):
    out = tmp_path / "gpu-results"
    env = {**os.environ, "DRY_RUN": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["bash", "scripts/gpu_reproduce.sh", str(tmp_path / "no-mnist-needed"), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "CUDA available" in (out / "device.txt").read_text()
    steps = (out / "steps.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in steps] == ["throughput", "semi-supervised-100", "clustering-16"]
    assert all("finished" in line for line in steps), steps
    throughput = (out / "throughput.txt").read_text()
    assert "samples/s" in throughput and "ratio to classic" in throughput
    rows = json.loads((out / "reproduce" / "reproduction.json").read_text())
    assert [r["experiment"] for r in rows] == ["clustering-16"]  # each step writes its own table; the last one stays
    semi = load_checkpoint(out / "reproduce" / "semi-supervised-100-seed0.safetensors").metadata
    # The row's settings, chosen on the CPU validation runs, are what the GPU run trains with.
    assert {k: semi["training"]["config"][k] for k in SEMI_SUPERVISED} == SEMI_SUPERVISED
    assert rows[0]["validation"] == 200 and len(rows[0]["ours_best"]) == 1
