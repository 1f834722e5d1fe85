"""The step schedule (--lr-decay-epoch, --lr-decay): every phase's rate drops at its epoch, and a resumed run may take
a decay from its current epoch on, ending where one run with that schedule would."""

from __future__ import annotations

import pytest
import torch

from aae_core.checkpoint import load_checkpoint
from aae_core.config import ConfigError, TrainConfig
from aae_core.priors import make_prior
from aae_core.state import reschedule
from aae_core.trainer import train
from tests.conftest import run_cli, small_config

RATES = {"lr": 1e-3, "disc_lr": 4e-4, "gen_lr": 3e-4}


def fit(tmp_path, digits, name, resume=None, on_epoch=None, **settings):
    return train(
        small_config("aae"),
        TrainConfig(**{"epochs": 3, "adversarial": "phases", **RATES, **settings}),
        make_prior("gaussian", 2),
        digits,
        tmp_path / f"{name}.safetensors",
        device="cpu",
        progress=False,
        resume=resume,
        on_epoch=on_epoch,
    )


def test_every_phase_trains_at_its_own_rate_and_at_a_share_of_it_after_the_decay_epoch(tmp_path, digits):
    seen = []
    fit(tmp_path, digits, "s", lr_decay_epoch=2, lr_decay=0.5, on_epoch=lambda state: seen.append(rates(state)))
    base = {"autoencoder": 1e-3, "discriminator": 4e-4, "generator": 3e-4}
    assert seen == [base, base, {name: rate * 0.5 for name, rate in base.items()}]
    plain = fit(tmp_path, digits, "plain")
    assert "lr_decay_epoch" not in load_checkpoint(plain.path).metadata["training"]["config"]  # bytes as before


def rates(state):
    return {name: optimizer.param_groups[0]["lr"] for name, optimizer in state.optimizers.items()}


def test_a_decay_given_on_resume_ends_where_one_run_with_it_ends(tmp_path, digits):
    whole = fit(tmp_path, digits, "whole", epochs=4, lr_decay_epoch=2)
    half = fit(tmp_path, digits, "half", epochs=2)
    checkpoint = load_checkpoint(half.path)
    reschedule(checkpoint, {"lr_decay_epoch": 2})
    resumed = fit(tmp_path, digits, "resumed", epochs=4, resume=checkpoint)
    a, b = load_checkpoint(whole.path), load_checkpoint(resumed.path)
    assert b.metadata["training"]["config"]["lr_decay_epoch"] == 2
    for key, value in a.group("model").items():
        assert torch.equal(value, b.tensors[f"model.{key}"]), key


def test_a_decay_that_would_change_epochs_already_trained_is_refused(tmp_path, digits):
    half = fit(tmp_path, digits, "half", epochs=2)
    with pytest.raises(ConfigError, match="at epoch 2: a learning-rate decay at epoch 1"):
        reschedule(load_checkpoint(half.path), {"lr_decay_epoch": 1})
    decayed = fit(tmp_path, digits, "decayed", epochs=2, lr_decay_epoch=1)
    with pytest.raises(ConfigError, match="decay at epoch 1 would change"):
        reschedule(load_checkpoint(decayed.path), {"lr_decay_epoch": 3})
    with pytest.raises(ConfigError, match="--lr-decay from 0 to 1"):
        reschedule(load_checkpoint(half.path), {"lr_decay": 2.0})


def test_train_resume_takes_a_decay_from_the_command_line(tmp_path):
    out = tmp_path / "m.safetensors"
    flags = ("--dataset", "digits", "--hidden", "16,16", "--disc-hidden", "16,16", "--quiet", "--out", str(out))
    assert run_cli("train", "--model", "aae", "--epochs", "1", *flags).returncode == 0
    refused = run_cli("train", "--resume", str(out), "--epochs", "2", "--lr-decay-epoch", "0", "--lr", "0.1")
    assert refused.returncode == 2 and "--lr 0.1" in refused.stderr  # the rates themselves stay the checkpoint's
    resumed = run_cli("train", "--resume", str(out), "--epochs", "2", "--lr-decay-epoch", "1", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    training = load_checkpoint(out).metadata["training"]
    assert training["epoch"] == 2 and training["config"]["lr_decay_epoch"] == 1
