"""Hostile and broken checkpoints: metadata of the wrong type or size, NaN weights, diverged training runs and
interrupted ones. Each is refused with one clear line (API and CLI), or, for an interrupted run, opens on its map."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from aae_core.checkpoint import CheckpointError, NonFiniteWeightsError, load_checkpoint, save_checkpoint
from aae_core.config import ModelConfig, TrainConfig
from aae_core.data import DataSplits, ImageData
from aae_core.inference import load_model
from aae_core.kinds import KINDS
from aae_core.loop import TrainingDiverged
from aae_core.priors import make_prior
from aae_core.trainer import train
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "checkpoints").glob("*.safetensors"))
TINY = ModelConfig(kind="aae", input_dim=64, latent_dim=2, hidden_dims=(16,), disc_hidden_dims=(16,))


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env={"OMP_NUM_THREADS": "1"})


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """The command failed with exactly one line on stderr, no traceback, containing `expected`."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, digits) -> Path:
    """A tiny AAE trained for one epoch on digits: a real checkpoint to rewrite."""
    out = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    config = TrainConfig(epochs=1, seed=0, snapshots_per_epoch=2, snapshot_size=50)
    train(TINY, config, make_prior("gaussian", 2), digits, out, device="cpu", progress=False)
    return out


def rewrite(
    source: Path,
    target: Path,
    metadata: Callable[[dict[str, Any]], None] | None = None,
    tensors: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> Path:
    """A copy of `source` with its metadata and/or tensors edited in place by the given functions."""
    checkpoint = load_checkpoint(source)
    if metadata:
        metadata(checkpoint.metadata)
    if tensors:
        tensors(checkpoint.tensors)
    return save_checkpoint(target, checkpoint)


def model_config(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["model"]["config"].update(values)


def section(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.update({key: value})


def dataset(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["dataset"].update(values)


def tensor(key: str, value: Callable[[torch.Tensor], torch.Tensor | None]) -> Callable[[dict], None]:
    def edit(tensors: dict[str, torch.Tensor]) -> None:
        new = value(tensors[key])
        if new is None:
            del tensors[key]
        else:
            tensors[key] = new

    return edit


# (metadata edit, tensor edit, text the one-line message must contain: the field it names)
BAD = {
    "training-a-string": (section("training", "oops"), None, "'training' must be a JSON object"),
    "training-epoch-a-string": (lambda m: m["training"].update(epoch="3"), None, "'training.epoch'"),
    "training-config-wrong-type": (
        lambda m: m["training"]["config"].update(batch_size="100"),
        None,
        "'training.config' is unusable",
    ),
    "latent-dim-a-string": (model_config(latent_dim="2"), None, "'model.config.latent_dim' must be a whole number"),
    "latent-dim-negative": (model_config(latent_dim=-1), None, "'model.config.latent_dim' is -1"),
    "hidden-dims-float": (model_config(hidden_dims=[1e9]), None, "'model.config.hidden_dims[0]'"),
    "hidden-dims-huge": (model_config(hidden_dims=[10**12]), None, "'model.config.hidden_dims[0]' is 1000000000000"),
    "hidden-dims-a-string": (model_config(hidden_dims="16"), None, "'model.config.hidden_dims' must be a list"),
    "kind-unknown": (model_config(kind="gan"), None, "'model.config.kind' is 'gan'"),
    "encoder-norm-unknown": (model_config(encoder_norm="layer"), None, "'model.config.encoder_norm' is 'layer'"),
    "kind-disagrees": (lambda m: m["model"].update(kind="vae"), None, "'model.kind'"),
    "class-names-a-dict": (dataset(classes={"0": "zero"}), None, "'dataset.classes' must be a list"),
    "class-names-numbers": (dataset(classes=list(range(10))), None, "'dataset.classes[0]'"),
    "class-names-too-few": (dataset(classes=["a", "b"]), None, "'atlas.labels' holds labels outside -1..1"),
    "image-shape-wrong-size": (dataset(image_shape=[9, 9]), None, "'dataset.image_shape' 9x9 does not match"),
    "image-shape-a-string": (dataset(image_shape="8x8"), None, "'dataset.image_shape' must be [height, width]"),
    "n-eval-a-list": (dataset(n_eval=[359]), None, "'dataset.n_eval'"),
    "prior-dim-mismatch": (lambda m: m["prior"]["params"].update(dim=3), None, "'prior.params.dim' is 3"),
    "prior-std-a-string": (lambda m: m["prior"]["params"].update(std="1"), None, "'prior.params.std'"),
    "prior-params-a-list": (lambda m: m["prior"].update(params=[1, 2]), None, "'prior.params' must be a JSON"),
    "metrics-a-string": (section("metrics", "great"), None, "'metrics' must be a JSON object"),
    "metric-a-string": (section("metrics", {"recon_nll": "12"}), None, "'metrics.recon_nll' must be a number"),
    "history-entries-strings": (section("history", ["epoch 1"]), None, "'history[0]' must be a JSON object"),
    "inference-only-a-string": (section("inference_only", "yes"), None, "'inference_only' must be true or false"),
    "optimizers-a-list": (section("optimizers", []), None, "'optimizers' must be a JSON object"),
    "optimizer-scalars-bad-key": (
        lambda m: m["optimizers"]["autoencoder"].update(scalars={"step": 1}),
        None,
        "'optimizers.autoencoder.scalars' has a bad key",
    ),
    "atlas-codes-wrong-width": (None, tensor("atlas.codes", lambda t: t.repeat(1, 2)), "'atlas.codes' has 4 columns"),
    "atlas-codes-one-dimensional": (None, tensor("atlas.codes", lambda t: t[:, 0]), "'atlas.codes' has 1 dimensions"),
    "atlas-labels-too-few": (None, tensor("atlas.labels", lambda t: t[:10]), "'atlas.labels' has 10 labels"),
    "atlas-labels-floats": (None, tensor("atlas.labels", lambda t: t.float()), "'atlas.labels' holds torch.float32"),
    "atlas-codes-nan": (None, tensor("atlas.codes", lambda t: t * float("nan")), "'atlas.codes' holds non-finite"),
    "atlas-size-disagrees": (lambda m: m["atlas"].update(size=5), None, "'atlas.size' is 5"),
    "snapshots-wrong-width": (
        None,
        tensor("snapshots.codes", lambda t: t[..., :1]),
        "'snapshots.codes' has codes of size 1",
    ),
    "snapshots-index-out-of-range": (
        None,
        tensor("snapshots.index", lambda t: t + 10_000),
        "'snapshots.index' indexes outside",
    ),
    "snapshots-steps-missing": (None, tensor("snapshots.steps", lambda t: None), "without 'snapshots.steps'"),
}


@pytest.fixture(scope="module")
def bad_files(tiny, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    return {
        name: rewrite(tiny, folder / f"{name}.safetensors", metadata, tensors)
        for name, (metadata, tensors, _) in BAD.items()
    }


@pytest.mark.parametrize("name", list(BAD))
def test_wrong_metadata_is_refused_naming_the_field(name, bad_files):
    path = bad_files[name]
    with pytest.raises(CheckpointError) as info:  # not AttributeError, TypeError, IndexError, RuntimeError
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path.name}: ")
    assert BAD[name][2] in message
    assert str(path.parent) not in message  # the file's name, never the server's folder


@pytest.mark.parametrize(
    "name", ["training-a-string", "latent-dim-a-string", "atlas-codes-wrong-width", "metrics-a-string"]
)
def test_the_cli_refuses_wrong_metadata_in_one_line(name, bad_files):
    for command in ("info", "evaluate"):
        assert_one_line_error(cli(command, str(bad_files[name])), BAD[name][2])


def test_every_metadata_case_is_refused_by_info(bad_files):
    # One process that runs `info` on every crafted file, as the CLI does (one line each, exit 2, no traceback).
    script = (
        "import sys\nfrom aae_core.cli import main\n"
        "for path in sys.argv[1:]:\n    print(path, main(['info', path]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, bad_files.values())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 * len(BAD)
    for (name, (_, _, expected)), error, status in zip(BAD.items(), lines[::2], lines[1::2], strict=True):
        assert error.startswith("error: ") and expected in error, (name, error)
        assert status.endswith(" 2"), (name, status)


def test_shapes_that_disagree_with_the_architecture_name_the_tensor(tiny, tmp_path):
    path = rewrite(tiny, tmp_path / "narrow.safetensors", model_config(hidden_dims=[8]))
    with pytest.raises(CheckpointError, match=r"^narrow\.safetensors: weight '[\w.]+' has shape \(16.*expects \(8"):
        load_model(path)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_schema_accepts_every_shipped_checkpoint(path):
    load_checkpoint(path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_schema_accepts_what_every_kind_writes(kind, digits, tmp_path):
    entry = KINDS[kind]
    sizes = entry.sizes(10, 4, entry.default_labels)
    config = replace(TINY, kind=kind, **sizes)
    prior = make_prior("mixture" if kind == "labelled-prior" else "gaussian", 2)
    train_config = TrainConfig(epochs=2, checkpoint_every=1, labels=entry.default_labels, snapshot_size=50)
    out = tmp_path / f"{kind}.safetensors"
    seen = []
    train(
        config,
        train_config,
        prior,
        digits,
        out,
        device="cpu",
        progress=False,
        on_epoch=lambda s: seen.append(out.exists()),
    )
    assert seen == [False, True]  # epoch 2 saw epoch 1's checkpoint, which the schema accepted on the way
    model = load_model(out)
    assert model.kind == kind and model.atlas is not None and model.epochs == 2


# ---------------------------------------------------------------------------------------------------- NaN weights


@pytest.fixture(scope="module")
def nan_file(tiny, tmp_path_factory) -> Path:
    def poison(tensors: dict[str, torch.Tensor]) -> None:
        tensors["model.decoder.0.weight"] = tensors["model.decoder.0.weight"].clone()
        tensors["model.decoder.0.weight"][0, 0] = float("nan")
        tensors["model.encoder.net.0.bias"] = torch.full_like(tensors["model.encoder.net.0.bias"], float("inf"))

    return rewrite(tiny, tmp_path_factory.mktemp("nan") / "nan.safetensors", tensors=poison)


def test_nan_weights_are_refused_naming_the_tensors(nan_file):
    with pytest.raises(NonFiniteWeightsError) as info:
        load_model(nan_file)
    message = str(info.value)
    assert "'decoder.0.weight'" in message and "'encoder.net.0.bias'" in message and "\n" not in message
    opened = load_model(nan_file, allow_nonfinite=True)  # on request, to say what the file is
    assert sorted(opened.broken_weights) == ["decoder.0.weight", "encoder.net.0.bias"]


def test_info_describes_a_nan_checkpoint_but_fails(nan_file, tiny):
    result = cli("info", str(nan_file))
    assert_one_line_error(result, "weights are broken", "'decoder.0.weight'")
    assert result.returncode == 2
    assert "weights    BROKEN: 2 tensors" in result.stdout and "recon_nll" in result.stdout  # the stored metrics
    described = cli("info", str(nan_file), "--json")
    assert described.returncode == 2 and "weights are broken" in described.stderr
    assert json.loads(described.stdout)["broken_weights"] == ["decoder.0.weight", "encoder.net.0.bias"]
    healthy = cli("info", str(tiny), "--json")
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["broken_weights"] == []


def test_evaluate_and_export_refuse_nan_weights(nan_file, tmp_path):
    assert_one_line_error(cli("evaluate", str(nan_file)), "weights are broken")
    out = tmp_path / "slim.safetensors"
    assert_one_line_error(cli("export", str(nan_file), "--out", str(out)), "weights are broken")
    assert not out.exists()


def test_resuming_nan_weights_is_refused(nan_file, digits, tmp_path):
    with pytest.raises(NonFiniteWeightsError, match="weights are broken"):
        train(
            TINY, TrainConfig(epochs=2), make_prior("gaussian", 2), digits, tmp_path / "r.safetensors", resume=nan_file
        )


def test_export_refuses_weights_beyond_fp16(tiny, tmp_path):
    big = rewrite(
        tiny, tmp_path / "big.safetensors", tensors=tensor("model.decoder.0.weight", lambda t: t.sign() * 1e6 + t)
    )
    assert load_model(big).broken_weights == []  # finite in fp32
    assert_one_line_error(cli("export", str(big), "--out", str(tmp_path / "half.safetensors")), "--full-precision")
    full = cli("export", str(big), "--out", str(tmp_path / "full.safetensors"), "--full-precision")
    assert full.returncode == 0, full.stderr


# ---------------------------------------------------------------------------------------------------- divergence


def poisoned_copy(digits: DataSplits) -> DataSplits:
    """The digits with their own training-image tensor, which a test may overwrite mid-run."""
    train_split = digits.train
    images = train_split.images.clone()
    own = ImageData(images, train_split.labels, train_split.image_shape, train_split.name, train_split.classes)
    return replace(digits, train=own)


def test_training_stops_at_a_non_finite_loss_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    data = poisoned_copy(digits)
    out = tmp_path / "diverge.safetensors"

    def poison_after_epoch_2(state) -> None:
        if state.epoch == 2:  # on CPU training reads this very tensor: epoch 3 sees NaN pixels
            data.train.images[:] = float("nan")

    with pytest.raises(TrainingDiverged) as info:
        train(
            TINY,
            TrainConfig(epochs=4),
            make_prior("gaussian", 2),
            data,
            out,
            device="cpu",
            progress=False,
            on_epoch=poison_after_epoch_2,
        )
    message = str(info.value)
    assert message.startswith("training diverged at epoch 3 (loss recon nan)")
    assert "the checkpoint diverge.safetensors keeps epoch 2; try a smaller --lr" in message
    kept = load_model(out)  # finite: it opens
    assert kept.epochs == 2 and kept.atlas is not None


def test_a_diverging_run_from_the_cli_says_so_in_one_line(tiny, tmp_path):
    # Weights near the float32 limit overflow in the first forward pass: what a far too large step leaves behind.
    huge = rewrite(
        tiny, tmp_path / "huge.safetensors", tensors=tensor("model.encoder.net.0.weight", lambda t: t.sign() * 3e38)
    )
    before = huge.read_bytes()
    out = tmp_path / "continued.safetensors"
    result = cli("train", "--resume", str(huge), "--epochs", "3", "--out", str(out), "--quiet", "--threads", "1")
    assert_one_line_error(result, "training diverged at epoch 2 (loss ", "no checkpoint was written", "--lr")
    assert not out.exists() and huge.read_bytes() == before
    # Resumed into the same file, that file is left as it was: finite weights, epoch 1.
    same = cli("train", "--resume", str(huge), "--epochs", "3", "--quiet", "--threads", "1")
    assert_one_line_error(same, "training diverged at epoch 2", "huge.safetensors was left as it was")
    assert huge.read_bytes() == before and load_model(huge).epochs == 1


# ---------------------------------------------------------------------------------------------------- atlas


class Interrupted(Exception):
    """Stands for a kill after the first checkpoint."""


def test_an_interrupted_run_opens_on_its_map(digits, tmp_path):
    out = tmp_path / "interrupted.safetensors"

    def stop(state) -> None:
        if state.epoch == 2:  # the epoch-1 checkpoint is on disk; epoch 2's is not written
            raise Interrupted

    with pytest.raises(Interrupted):
        train(
            TINY,
            TrainConfig(epochs=5),
            make_prior("gaussian", 2),
            digits,
            out,
            device="cpu",
            progress=False,
            on_epoch=stop,
        )
    model = load_model(out)
    assert model.epochs == 1 and model.atlas is not None
    assert model.atlas.codes.shape == (len(digits.eval), 2)
    assert torch.equal(torch.tensor(model.atlas.labels), digits.eval.labels)
    assert torch.allclose(model.encode(digits.eval.images), torch.tensor(model.atlas.codes))
    assert load_checkpoint(out).metadata["atlas"] == {"split": "eval", "size": len(digits.eval)}


def test_the_periodic_atlas_leaves_the_final_checkpoint_unchanged(digits, tmp_path):
    # The same run with and without periodic checkpoints (and so periodic atlases) ends in the same bytes.
    prior = make_prior("gaussian", 2)
    every = train(TINY, TrainConfig(epochs=3), prior, digits, tmp_path / "a.safetensors", device="cpu", progress=False)
    once = train(
        TINY,
        TrainConfig(epochs=3, checkpoint_every=3),
        prior,
        digits,
        tmp_path / "b.safetensors",
        device="cpu",
        progress=False,
    )
    a, b = load_checkpoint(every.path), load_checkpoint(once.path)
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    a.metadata["training"]["config"]["checkpoint_every"] = 3
    assert a.metadata == b.metadata
