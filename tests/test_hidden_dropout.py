"""`--hidden-dropout P`: the encoder's training passes lose a share P of their hidden units; scoring never does."""

from __future__ import annotations

import pytest
import torch

from aae_core.checkpoint import load_checkpoint
from aae_core.config import ConfigError, ModelConfig, TrainConfig
from aae_core.kinds import KINDS
from aae_core.phases import dropped_hidden_units
from tests.conftest import run_cli

COMMON = ("--dataset", "digits", "--hidden", "32,32", "--epochs", "1", "--quiet", "--threads", "1")


def hidden_outputs(encoder: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """What each hidden ReLU of `encoder` hands on for `x` (after any hook), in order."""
    seen: list[torch.Tensor] = []
    relus = [m for m in encoder.modules() if isinstance(m, torch.nn.ReLU)]
    # Registered after the dropout hooks, these run after them and see the dropped outputs.
    handles = [m.register_forward_hook(lambda _m, _a, out: seen.append(out.detach())) for m in relus]
    try:
        encoder(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_training_passes_drop_that_share_of_hidden_units_and_scaled_the_rest():
    torch.manual_seed(0)
    sizes = KINDS["semi-supervised"].sizes(10, 10, 100)
    config = ModelConfig(kind="semi-supervised", latent_dim=4, hidden_dims=(400, 400), disc_hidden_dims=(8, 8), **sizes)
    model = KINDS["semi-supervised"].model(config)
    x = torch.rand(64, config.input_dim)
    plain = hidden_outputs(model.encoder, x)
    generator = torch.Generator().manual_seed(1)
    with dropped_hidden_units(model.encoder, 0.5, generator):
        with torch.no_grad():
            scored = hidden_outputs(model.encoder, x)
        dropped = hidden_outputs(model.encoder, x)
    assert all(torch.equal(a, b) for a, b in zip(plain, scored, strict=True))  # scoring sees every unit
    first = dropped[0]  # the first layer sees the same input either way, so it compares unit for unit
    active = plain[0] > 0
    kept = first[active] != 0
    assert 0.45 < kept.float().mean() < 0.55
    assert torch.allclose(first[active][kept], 2 * plain[0][active][kept])  # the kept ones scaled by 1/(1 - 0.5)
    after = hidden_outputs(model.encoder, x)
    assert all(torch.equal(a, b) for a, b in zip(plain, after, strict=True))  # the hooks are gone after the block


def test_a_run_with_dropout_stores_it_and_trains_otherwise_than_without(tmp_path):
    flags = ("--model", "semi-supervised", "--labels", "100", "--latent-dim", "4", *COMMON)
    plain, dropped = tmp_path / "plain.safetensors", tmp_path / "dropped.safetensors"
    assert run_cli("train", *flags, "--out", str(plain)).returncode == 0
    result = run_cli("train", *flags, "--hidden-dropout", "0.3", "--out", str(dropped))
    assert result.returncode == 0, result.stderr
    stored = load_checkpoint(dropped).metadata["training"]["config"]
    assert stored["hidden_dropout"] == 0.3
    assert "hidden_dropout" not in load_checkpoint(plain).metadata["training"]["config"]  # bytes as before
    a, b = load_checkpoint(plain).group("model"), load_checkpoint(dropped).group("model")
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # Resuming with another share is refused and loses nothing.
    before = dropped.read_bytes()
    result = run_cli("train", "--resume", str(dropped), "--hidden-dropout", "0.5", "--epochs", "2", "--quiet")
    assert result.returncode == 2 and "--hidden-dropout 0.5 (the checkpoint's: 0.3)" in result.stderr
    assert dropped.read_bytes() == before


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_share_outside_0_to_1_is_refused(share):
    with pytest.raises(ConfigError, match="--hidden-dropout must be a share"):
        TrainConfig(hidden_dropout=share)
