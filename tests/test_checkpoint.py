"""Checkpoints: round trips, atomic writes, and one-line errors for every kind of bad file."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from safetensors.torch import save_file

from aae_core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint, slim_checkpoint
from aae_core.config import TrainConfig
from aae_core.inference import load_model
from aae_core.priors import make_prior
from aae_core.trainer import train
from tests.conftest import run_cli, small_config


def test_round_trip_keeps_weights_metadata_and_atlas(trained_checkpoint, digits):
    checkpoint = load_checkpoint(trained_checkpoint)
    assert checkpoint.metadata["model"]["kind"] == "aae"
    assert checkpoint.metadata["prior"]["name"] == "mixture"
    assert checkpoint.metadata["format_version"] == 1
    assert {"recon_nll", "prior_swd", "prior_gap", "knn_accuracy"} <= set(checkpoint.metadata["metrics"])
    assert len(checkpoint.metadata["history"]) == 3
    model = load_model(trained_checkpoint)
    n_eval = len(digits.eval)
    assert model.atlas.codes.shape == (n_eval, 2)
    assert torch.equal(torch.tensor(model.atlas.labels), digits.eval.labels)
    for key, value in checkpoint.group("model").items():
        assert torch.equal(model.model.state_dict()[key].cpu(), value)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, trained_checkpoint):
    path = tmp_path / "c.safetensors"
    good = load_checkpoint(trained_checkpoint)
    save_checkpoint(path, good)
    shared = torch.zeros(3)
    # safetensors refuses two names for one storage: the write fails half-way, after the temporary file exists.
    bad = Checkpoint(good.metadata, {**good.tensors, "a": shared, "b": shared})
    with pytest.raises(RuntimeError, match="share memory"):
        save_checkpoint(path, bad)
    assert os.listdir(tmp_path) == ["c.safetensors"]
    assert path.read_bytes() == trained_checkpoint.read_bytes()


def one_line_error(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    # One line that names the file, never the folder it lies in (the app shows these messages to its users).
    assert "\n" not in message and path.name in message and str(path.parent) not in message
    return message


def test_truncated(tmp_path, trained_checkpoint):
    path = tmp_path / "truncated.safetensors"
    data = trained_checkpoint.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in one_line_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(
        torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)).numpy().tobytes()
    )
    assert "not a readable safetensors file" in one_line_error(path)


def test_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert "is empty" in one_line_error(empty)
    assert "no such checkpoint" in one_line_error(tmp_path / "nope.safetensors")


class Boom:
    """Unpickling this would run code: the loader must never get that far."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_in_disguise_is_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.safetensors"
    torch.save({"weights": torch.ones(2), "payload": Boom()}, path)
    assert "never unpickled" in one_line_error(path)
    assert not (tmp_path / "PWNED").exists()
    import pickle

    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps({"x": 1}, protocol=4))
    assert "pickle" in one_line_error(raw)


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, path, metadata={"format": "pt"})
    assert "not an aae_core checkpoint" in one_line_error(path)


def rewrite(source, target, edit_metadata=None, edit_tensors=None):
    checkpoint = load_checkpoint(source)
    if edit_metadata:
        edit_metadata(checkpoint.metadata)
    if edit_tensors:
        edit_tensors(checkpoint.tensors)
    save_checkpoint(target, checkpoint)
    return target


def test_wrong_shape(tmp_path, trained_checkpoint):
    def widen(meta):
        meta["model"]["config"]["hidden_dims"] = [80, 64]

    path = rewrite(trained_checkpoint, tmp_path / "wrong.safetensors", edit_metadata=widen)
    message = one_line_error(path)
    assert "has shape" in message and "expects" in message


def test_missing_weight(tmp_path, trained_checkpoint):
    path = rewrite(
        trained_checkpoint, tmp_path / "missing.safetensors", edit_tensors=lambda t: t.pop("model.decoder.0.weight")
    )
    assert "lacks weight 'decoder.0.weight'" in one_line_error(path)


def test_newer_format_and_bad_metadata(tmp_path, trained_checkpoint):
    tensors = load_checkpoint(trained_checkpoint).tensors
    meta = load_checkpoint(trained_checkpoint).metadata
    newer = tmp_path / "newer.safetensors"
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        newer,
        metadata={"aae_core": json.dumps({**meta, "format_version": 99})},
    )
    assert "newer than this aae_core reads" in one_line_error(newer)
    garbled = tmp_path / "garbled.safetensors"
    save_file({"w": torch.ones(1)}, garbled, metadata={"aae_core": "{not json"})
    assert "not valid JSON" in one_line_error(garbled)
    unknown = tmp_path / "unknown.safetensors"
    rewrite(trained_checkpoint, unknown, edit_metadata=lambda m: m["model"]["config"].update(depth=3))
    assert "unknown model settings: depth" in one_line_error(unknown)


def test_inference_only_checkpoint_opens(tmp_path, trained_checkpoint):
    path = rewrite(
        trained_checkpoint,
        tmp_path / "slim.safetensors",
        edit_tensors=lambda t: [t.pop(k) for k in list(t) if k.startswith(("model.discriminator", "optim."))],
    )
    model = load_model(path)
    assert model.decode(torch.zeros(1, 2)).shape == (1, 8, 8)


def test_hostile_metadata_is_refused_without_allocating(tmp_path, trained_checkpoint):
    # Metadata claiming two 9,000-wide layers (within every size limit) would need 300 MB if built; it must be
    # refused from the shapes alone. Larger claims are refused by the size limits (tests/test_checkpoint_hardening.py).
    huge = rewrite(
        trained_checkpoint,
        tmp_path / "huge.safetensors",
        edit_metadata=lambda m: m["model"]["config"].update(hidden_dims=[9_000, 9_000]),
    )
    assert "has shape" in one_line_error(huge)
    garbage = rewrite(
        trained_checkpoint,
        tmp_path / "garbage.safetensors",
        edit_metadata=lambda m: m["model"]["config"].update(latent_dim="two"),
    )
    assert "'model.config.latent_dim' must be a whole number, not 'two'" in one_line_error(garbage)
    deep = tmp_path / "deep.safetensors"
    save_file({"w": torch.ones(1)}, deep, metadata={"aae_core": "[" * 100_000 + "]" * 100_000})
    assert "nested too deeply" in one_line_error(deep)


def test_slim_export_decodes_like_the_original(tmp_path, trained_checkpoint):
    slim = save_checkpoint(tmp_path / "slim.safetensors", slim_checkpoint(load_checkpoint(trained_checkpoint)))
    assert slim.stat().st_size < 0.4 * trained_checkpoint.stat().st_size  # no optimizer state, fp16
    full, small = load_model(trained_checkpoint), load_model(slim)
    assert small.model.decoder[0].weight.dtype == torch.float32  # computed in fp32, stored in fp16
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    assert (full.decode(z) - small.decode(z)).abs().max() < 0.02
    assert small.atlas.codes.shape == full.atlas.codes.shape and small.metrics == full.metrics
    assert "optimizers" not in load_checkpoint(slim).metadata
    assert small.has_discriminator and full.has_discriminator  # kept (fp16), for drawing D(z)
    bare = save_checkpoint(
        tmp_path / "bare.safetensors", slim_checkpoint(load_checkpoint(trained_checkpoint), discriminators=False)
    )
    assert not load_model(bare).has_discriminator and bare.stat().st_size < slim.stat().st_size


def test_a_drawn_prior_travels_in_the_checkpoint_and_evaluates(tmp_path, digits):
    ring = [[3 * math.cos(t / 4), 3 * math.sin(t / 4)] for t in range(25)]
    out = tmp_path / "drawn.safetensors"
    train(
        small_config(),
        TrainConfig(epochs=2),
        make_prior("drawn", 2, points=ring, blur=0.3),
        digits,
        out,
        device="cpu",
        progress=False,
    )
    model = load_model(out, device="cpu")
    assert model.prior.name == "drawn" and model.prior.points.shape == (25, 2) and model.prior.blur == 0.3
    assert model.sample_prior(10).shape == (10, 2)
    info = run_cli("info", str(out))
    assert info.returncode == 0 and "points=25 points" in info.stdout, info.stderr
    evaluated = run_cli("evaluate", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert math.isfinite(json.loads(evaluated.stdout)["metrics"]["prior_swd"])


def test_an_8_bit_export_decodes_like_the_original_and_says_its_format(tmp_path, trained_checkpoint):
    original = load_checkpoint(trained_checkpoint)
    half = save_checkpoint(tmp_path / "half.safetensors", slim_checkpoint(original))
    eight = save_checkpoint(tmp_path / "eight.safetensors", slim_checkpoint(original, int8=True))
    # Matrices take half their fp16 bytes (less a float scale per row); nothing else changes size.
    matrix_bytes = sum(2 * v.numel() for v in original.group("model").values() if v.dim() == 2)
    assert half.stat().st_size - eight.stat().st_size > 0.4 * matrix_bytes
    stored = load_checkpoint(eight)
    assert stored.metadata["format_version"] == 2 and load_checkpoint(half).metadata["format_version"] == 1
    # Each weight matrix comes back within half a step (its row's largest magnitude / 127 / 2) of the original.
    matrices = 0
    for key, value in original.group("model").items():
        back = stored.tensors[f"model.{key}"]
        assert back.shape == value.shape and back.is_floating_point(), key
        if value.dim() == 2:
            matrices += 1
            step = value.abs().amax(dim=1, keepdim=True) / 127
            assert bool(((back - value).abs() <= step / 2 + 1e-6).all()), key
            assert not torch.equal(back, value.half().float()), key  # really stored in 8 bits
    assert matrices >= 6
    full, small = load_model(trained_checkpoint), load_model(eight)
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    assert (full.decode(z) - small.decode(z)).abs().max() < 0.05
    assert small.has_discriminator and small.atlas.codes.shape == full.atlas.codes.shape


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.pop("int8scale.model.decoder.0.weight"), "has no scale"),
        (lambda t: t.update({"int8.model.decoder.0.weight": t["int8.model.decoder.0.weight"].float()}), "2-D int8"),
        (lambda t: t.update({"int8scale.model.decoder.0.weight": torch.ones(3)}), "one float per row"),
        (lambda t: t.update({"int8scale.model.decoder.0.weight": -t["int8scale.model.decoder.0.weight"]}), "negative"),
        (lambda t: t.update({"int8scale.model.decoder.9.weight": torch.ones(3)}), "scales no 8-bit weight"),
        (lambda t: t.update({"model.decoder.0.weight": torch.zeros(3)}), "stored twice"),
        (lambda t: t.update({"int8.atlas.codes": torch.zeros(2, 2, dtype=torch.int8)}), "not a model weight"),
    ],
    ids=["no-scale", "not-int8", "scale-shape", "negative-scale", "orphan-scale", "twice", "not-a-weight"],
)
def test_bad_8_bit_weights_get_one_line(tmp_path, trained_checkpoint, edit, message):
    slim = slim_checkpoint(load_checkpoint(trained_checkpoint), int8=True)
    edit(slim.tensors)
    path = save_checkpoint(tmp_path / "bad8.safetensors", slim)
    text = one_line_error(path)
    assert "bad 8-bit weights" in text and message in text, text


def test_export_int8_from_the_cli(tmp_path, trained_checkpoint):
    out = tmp_path / "cli8.safetensors"
    done = run_cli("export", str(trained_checkpoint), "--out", str(out), "--int8")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and load_checkpoint(out).metadata["format_version"] == 2
    info = run_cli("info", str(out))
    assert info.returncode == 0 and "slim copy  inference weights only, 8-bit weight matrices" in info.stdout
    bad = save_checkpoint(
        tmp_path / "bad-kind.safetensors", Checkpoint({**load_checkpoint(out).metadata, "stored_weights": "int4"}, {})
    )
    assert "'stored_weights' must be one of fp32, fp16, int8, not 'int4'" in one_line_error(bad)
    both = run_cli(
        "export", str(trained_checkpoint), "--out", str(tmp_path / "x.safetensors"), "--int8", "--full-precision"
    )
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
