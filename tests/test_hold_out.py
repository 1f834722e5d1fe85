"""`train --hold-out N`: the run `reproduce --validation N` scores, so a model can ship at the epoch it chose."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from aae_core.checkpoint import load_checkpoint
from tests.conftest import run_cli

COMMON = ("--dataset", "digits", "--hidden", "16,16", "--epochs", "2", "--quiet", "--threads", "1")


def model_weights(path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(path).items() if k.startswith("model.")}


def test_train_with_a_hold_out_gives_the_weights_of_the_reproduce_run_on_that_split(tmp_path):
    runs = tmp_path / "runs"
    result = run_cli("reproduce", "clustering-16", *COMMON, "--seeds", "1", "--validation", "200", "--out", str(runs))
    assert result.returncode == 0, result.stderr
    reproduced = runs / "clustering-16-seed0.safetensors"
    shipped = tmp_path / "shipped.safetensors"
    flags = ("--model", "cluster", "--clusters", "16", "--latent-dim", "5", "--prior", "gaussian")
    result = run_cli(
        "train", *flags, *COMMON, "--disc-hidden", "16,16", "--encoder-norm", "batch", "--hold-out", "200",
        "--snapshots-per-epoch", "1", "--out", str(shipped),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours, theirs = model_weights(shipped), model_weights(reproduced)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    meta = load_checkpoint(shipped).metadata
    assert meta["dataset"]["n_train"] == load_checkpoint(reproduced).metadata["dataset"]["n_train"] == 1438 - 200
    assert meta["training"]["config"]["hold_out"] == 200
    # A resumed run keeps its split; a contradicting flag is refused and the file is left alone.
    before = shipped.read_bytes()
    result = run_cli("train", "--resume", str(shipped), "--hold-out", "100", "--epochs", "3", "--quiet")
    assert result.returncode == 2 and "--hold-out 100 (the checkpoint's: 200)" in result.stderr
    assert shipped.read_bytes() == before
    result = run_cli("train", "--resume", str(shipped), "--epochs", "3", "--quiet", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(shipped).metadata["dataset"]["n_train"] == 1238


def test_the_semi_supervised_row_ships_the_same_way_labels_dropout_and_decay_included(tmp_path):
    # The shipped semi-supervised-100 is its reproduce run's seed 0: the same 100 labelled images, input mask,
    # dropout and decay must come out of train's flags. The decay after epoch 1, so that two epochs use it.
    runs = tmp_path / "runs"
    result = run_cli(
        "reproduce", "semi-supervised-100", *COMMON, "--seeds", "1", "--validation", "200",
        "--set", "lr_decay_epoch=1", "--out", str(runs),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reproduced = runs / "semi-supervised-100-seed0.safetensors"
    shipped = tmp_path / "shipped.safetensors"
    result = run_cli(
        "train", "--model", "semi-supervised", "--labels", "100", "--prior", "gaussian", "--latent-dim", "10",
        *COMMON, "--disc-hidden", "16,16", "--input-mask", "0.2", "--hidden-dropout", "0.5", "--lr-decay-epoch", "1",
        "--hold-out", "200", "--snapshots-per-epoch", "1", "--out", str(shipped),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours, theirs = model_weights(shipped), model_weights(reproduced)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    config = load_checkpoint(shipped).metadata["training"]["config"]
    assert (config["input_mask"], config["hidden_dropout"], config["lr_decay_epoch"]) == (0.2, 0.5, 1)


def test_a_hold_out_that_leaves_nothing_is_refused_in_one_line(tmp_path):
    out = tmp_path / "none.safetensors"
    result = run_cli("train", "--model", "ae", *COMMON, "--hold-out", "1438", "--out", str(out))
    assert result.returncode == 2 and "cannot hold out 1438 of 1438 training images" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    result = run_cli("train", "--model", "ae", *COMMON, "--hold-out", "-3", "--out", str(out))
    assert result.returncode == 2 and "must be >= 0" in result.stderr
    result = run_cli("reproduce", "parzen", *COMMON, "--set", "hold_out=5", "--out", str(tmp_path))
    assert result.returncode == 2 and "hold_out" in result.stderr
