"""The classification phase's own settings: `--label-smoothing E` keeps a share E of its targets spread over every
class; `--labelled-input-mask P` zeroes a share P of the labelled images' pixels before it."""

from __future__ import annotations

import pytest
import torch

from aae_core.checkpoint import load_checkpoint
from aae_core.config import ConfigError, ModelConfig, TrainConfig
from aae_core.kinds import KINDS
from aae_core.phases import Batch, classification_step
from tests.conftest import run_cli

COMMON = ("--dataset", "digits", "--hidden", "32,32", "--epochs", "1", "--quiet", "--threads", "1")


def semi_supervised_model() -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = KINDS["semi-supervised"].sizes(10, 10, 100)
    config = ModelConfig(kind="semi-supervised", latent_dim=4, hidden_dims=(32, 32), disc_hidden_dims=(8, 8), **sizes)
    return KINDS["semi-supervised"].model(config)


def test_the_smoothed_loss_is_cross_entropy_against_targets_with_that_share_spread_evenly():
    model = semi_supervised_model()
    x, y = torch.rand(16, 784), torch.arange(16) % 10
    batch = Batch(x=x, y=y, labelled_x=x, labelled_y=y)
    with torch.no_grad():
        log_q = torch.log_softmax(model.encode(x).y_logits, dim=1)
    classes = log_q.shape[1]
    targets = torch.full_like(log_q, 0.1 / classes).scatter_(1, y[:, None], 0.9 + 0.1 / classes)
    expected = -(targets * log_q).sum(dim=1).mean()
    optimizer = torch.optim.SGD(model.encoder.parameters(), lr=0.0)  # the loss is read before the (empty) step
    smoothed = classification_step(model, batch, optimizer, label_smoothing=0.1)
    plain = classification_step(model, batch, optimizer)
    assert torch.allclose(smoothed, expected, atol=1e-5)
    assert torch.allclose(plain, -log_q.gather(1, y[:, None]).mean(), atol=1e-5)
    assert not torch.allclose(smoothed, plain)


def test_the_labelled_mask_zeroes_that_share_of_the_pixels_the_encoder_sees_and_draws_nothing_when_off():
    model = semi_supervised_model()
    x, y = torch.ones(64, 784), torch.arange(64) % 10
    batch = Batch(x=x, y=y, labelled_x=x, labelled_y=y)
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    optimizer = torch.optim.SGD(model.encoder.parameters(), lr=0.0)
    generator = torch.Generator().manual_seed(0)
    classification_step(model, batch, optimizer, labelled_mask=0.3, generator=generator)
    zeroed = float((seen[-1] == 0).float().mean())
    assert 0.28 < zeroed < 0.32
    assert set(seen[-1].unique().tolist()) == {0.0, 1.0}  # zeroed, not rescaled
    state = generator.get_state()
    classification_step(model, batch, optimizer, generator=generator)
    assert torch.equal(seen[-1], x)
    assert torch.equal(generator.get_state(), state)  # off: the random stream of earlier runs is untouched


SETTINGS = [("--label-smoothing", "label_smoothing"), ("--labelled-input-mask", "labelled_input_mask")]


@pytest.mark.parametrize(("flag", "field"), SETTINGS)
def test_a_run_with_the_setting_stores_it_and_trains_otherwise_than_without(tmp_path, flag, field):
    flags = ("--model", "semi-supervised", "--labels", "100", "--latent-dim", "4", *COMMON)
    plain, changed = tmp_path / "plain.safetensors", tmp_path / "changed.safetensors"
    assert run_cli("train", *flags, "--out", str(plain)).returncode == 0
    result = run_cli("train", *flags, flag, "0.1", "--out", str(changed))
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(changed).metadata["training"]["config"][field] == 0.1
    assert field not in load_checkpoint(plain).metadata["training"]["config"]  # bytes as before
    a, b = load_checkpoint(plain).group("model"), load_checkpoint(changed).group("model")
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("flag", "field"), SETTINGS)
@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (("--model", "aae"), "the aae model has none"),
        (("--model", "dimred"), "the dimred model runs none without --labels"),
    ],
)
def test_a_model_without_a_classification_phase_refuses_it(tmp_path, flags, reason, flag, field):
    out = tmp_path / "model.safetensors"
    result = run_cli("train", *flags, *COMMON, flag, "0.1", "--out", str(out))
    assert result.returncode == 2
    assert f"{flag} sets the classification phase; {reason}" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("flag", "field"), SETTINGS)
@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_share_outside_0_to_1_is_refused(share, flag, field):
    with pytest.raises(ConfigError, match=f"{flag} must be a share"):
        TrainConfig(**{field: share})
