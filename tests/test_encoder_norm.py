"""Batch normalization in the encoder (`--encoder-norm batch`, the clustering AAE of the paper's appendix A.3)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from aae_core.anomaly import anomaly_scores
from aae_core.checkpoint import load_checkpoint
from aae_core.config import ConfigError, TrainConfig
from aae_core.data import DataSplits
from aae_core.inference import load_model
from aae_core.kinds import KINDS
from aae_core.metrics import encode_all, reconstruction_error
from aae_core.priors import make_prior
from aae_core.trainer import train
from tests.conftest import make_idx_dir, run_cli, small_config


def batch_norms(module: nn.Module) -> list[nn.BatchNorm1d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]


@pytest.mark.parametrize("kind", ["aae", "vae", "cluster", "semi-supervised"])
def test_batch_norm_sits_in_every_hidden_layer_of_the_encoder_and_nowhere_else(kind):
    sizes = KINDS[kind].sizes(10, 10, 100 if kind == "semi-supervised" else 0)
    model = KINDS[kind].model(small_config(kind, encoder_norm="batch", **sizes))
    assert [m.num_features for m in batch_norms(model.encoder)] == [64, 64]
    assert batch_norms(model) == batch_norms(model.encoder)  # not in the decoder or the discriminators
    assert batch_norms(KINDS[kind].model(small_config(kind, **sizes))) == []


def test_the_default_is_stored_as_before_and_an_unknown_norm_is_refused():
    assert "encoder_norm" not in small_config().to_dict()  # checkpoints without it keep their bytes
    assert small_config(encoder_norm="batch").to_dict()["encoder_norm"] == "batch"
    with pytest.raises(ConfigError, match="unknown encoder normalization 'layer'"):
        small_config(encoder_norm="layer")


def test_scoring_uses_the_running_statistics_and_leaves_them_and_the_mode_alone(digits):
    model = KINDS["cluster"].model(small_config("cluster", encoder_norm="batch", categories=10, num_classes=10))
    model.train()
    with torch.no_grad():
        for _ in range(5):  # running statistics that differ from their initial 0 and 1
            model.encode(digits.train.images[:200] * 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = digits.eval.images[:300]
    codes = encode_all(model, images, batch_size=7, part="y_logits")
    reconstruction_error(model, images)
    anomaly_scores(model, None, images)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    with torch.no_grad():
        expected = model.encode(images).y_logits
    torch.testing.assert_close(codes, expected)  # the same codes, whatever the scoring batch


def test_a_batch_norm_cluster_model_trains_saves_and_reopens(tmp_path, digits):
    config = small_config("cluster", encoder_norm="batch", latent_dim=5, categories=10, num_classes=10)
    # 201 images: the last minibatch of 100 would hold one image, which batch norm cannot train on.
    data = DataSplits(digits.train.subset(torch.arange(201)), digits.eval)
    out = tmp_path / "bn.safetensors"
    result = train(config, TrainConfig(epochs=2, seed=0), make_prior("gaussian", 5), data, out, progress=False)
    assert result.metrics["cluster_error_paper"] < 0.9
    stored = load_checkpoint(out).metadata["model"]["config"]
    assert stored["encoder_norm"] == "batch"
    model = load_model(out)
    assert not model.model.training
    means = [m.running_mean for m in batch_norms(model.model.encoder)]
    assert all(bool(mean.abs().sum() > 0) for mean in means)  # the running statistics travelled with the weights
    one = model.classify(digits.eval.images[:1].reshape(1, 8, 8))  # a single image encodes in eval mode
    assert one.shape == (1, 10)


def test_the_train_and_reproduce_commands_take_the_flag(tmp_path):
    data = make_idx_dir(tmp_path / "idx", n_train=101, n_eval=20)
    out = tmp_path / "c.safetensors"
    common = ("--dataset", "mnist", "--data-dir", str(data), "--hidden", "16,16", "--epochs", "1", "--quiet")
    result = run_cli(
        "train", "--model", "cluster", "--clusters", "4", *common, "--encoder-norm", "batch", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out).metadata["model"]["config"]["encoder_norm"] == "batch"
    bad = run_cli("train", "--model", "cluster", *common, "--encoder-norm", "group", "--out", str(out))
    assert bad.returncode == 2 and "invalid choice: 'group'" in bad.stderr
    # The clustering rows of `reproduce` batch-normalize by default; `--encoder-norm` overrides an experiment's own.
    for flag, expected in (((), "batch"), (("--encoder-norm", "none"), "none")):
        runs = tmp_path / f"runs-{expected}"
        result = run_cli("reproduce", "clustering-16", *common, "--seeds", "1", "--out", str(runs), *flag)
        assert result.returncode == 0, result.stderr
        assert json.loads((runs / "reproduction.json").read_text())[0]["encoder_norm"] == expected
        stored = load_checkpoint(runs / "clustering-16-seed0.safetensors").metadata["model"]["config"]
        assert stored.get("encoder_norm", "none") == expected
