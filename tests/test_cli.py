"""The command line, end to end in subprocesses, as a user runs it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_core.checkpoint import load_checkpoint
from aae_core.config import ModelConfig
from aae_core.kinds import build_model
from tests.conftest import make_idx_dir, run_cli

ROOT = Path(__file__).resolve().parents[1]


cli = run_cli


@pytest.mark.slow
def test_train_info_evaluate(tmp_path):
    out = tmp_path / "run" / "aae.safetensors"
    trained = cli(
        "train",
        "--model",
        "aae",
        "--prior",
        "mixture",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--hidden",
        "64,64",
        "--disc-hidden",
        "64,64",
        "--out",
        str(out),
        "--seed",
        "3",
    )
    assert trained.returncode == 0, trained.stderr
    assert f"wrote {out}" in trained.stdout and "prior_swd" in trained.stdout
    assert "epoch 2/2" in trained.stderr  # the progress bar
    info = cli("info", str(out))
    assert info.returncode == 0 and "aae (deterministic encoder), latent 2-D" in info.stdout
    assert "prior      mixture (" in info.stdout and "components=10" in info.stdout
    described = json.loads(cli("info", str(out), "--json").stdout)
    evaluated = json.loads(cli("evaluate", str(out), "--json").stdout)
    # Evaluating again on the same data reproduces the metrics stored at the end of training.
    assert evaluated["metrics"] == pytest.approx(described["metrics"], rel=1e-5)


@pytest.mark.slow
def test_resume_from_the_cli(tmp_path):
    out = tmp_path / "ae.safetensors"
    common = ("--model", "ae", "--hidden", "32", "--quiet", "--out", str(out))
    assert cli("train", "--epochs", "1", *common).returncode == 0
    resumed = cli("train", "--epochs", "2", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(cli("info", str(out), "--json").stdout)["epochs"] == 2


def test_mnist_format_folder(tmp_path):
    make_idx_dir(tmp_path / "data", n_train=40, n_eval=10)
    out = tmp_path / "m.safetensors"
    result = cli(
        "train",
        "--model",
        "vae",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "data"),
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(cli("info", str(out), "--json").stdout)["dataset"]["image_shape"] == [28, 28]


@pytest.mark.parametrize(
    "args,message",
    [
        (("train", "--epochs", "-3"), "must be >= 1"),
        (("train", "--model", "vae", "--prior", "swissroll", "--epochs", "1"), "has none; the AAE needs only samples"),
        (("train", "--dataset", "mnist", "--data-dir", "/nonexistent"), "lacks train-images-idx3-ubyte"),
        (("train", "--prior", "mixture", "--latent-dim", "3"), "mixture prior is 2-D"),
        pytest.param(
            ("train", "--device", "cuda", "--epochs", "1"),
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"),
        ),
        (("info", "/nonexistent.safetensors"), "no such checkpoint"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message):
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = cli("evaluate", str(bad))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


@pytest.mark.slow
def test_paper_kinds_and_reproduce_smoke_run(tmp_path):
    out = tmp_path / "semi.safetensors"
    trained = cli(
        "train",
        "--model",
        "semi-supervised",
        "--labels",
        "100",
        "--epochs",
        "1",
        "--hidden",
        "32,32",
        "--disc-hidden",
        "32,32",
        "--quiet",
        "--out",
        str(out),
    )
    assert trained.returncode == 0, trained.stderr
    assert "classification_error" in trained.stdout
    table = cli(
        "reproduce",
        "semi-supervised-100",
        "clustering-16",
        "parzen",
        "--dataset",
        "digits",
        "--seeds",
        "2",
        "--first-seed",
        "3",
        "--validation",
        "200",
        "--epochs",
        "2",
        "--hidden",
        "32,32",
        "--quiet",
        "--out",
        str(tmp_path / "repro"),
    )
    assert table.returncode == 0, table.stderr
    rows = json.loads((tmp_path / "repro" / "reproduction.json").read_text())
    assert [r["experiment"] for r in rows] == ["semi-supervised-100", "clustering-16", "parzen"]
    assert all(len(r["ours"]) == 2 and r["seed_ids"] == [3, 4] for r in rows)
    assert "| semi-supervised-100 | % error | 1.90 |" in table.stdout and "| 3, 4 |" in table.stdout
    assert (tmp_path / "repro" / "semi-supervised-100-seed4.safetensors").exists()
    # The held-out images pick an epoch per seed; its test error is reported beside the last epoch's.
    for row in rows[:2]:
        assert row["validation"] == 200 and len(row["ours_best"]) == 2
        assert all(1 <= epoch <= 2 for epoch in row["best_epochs"])
        assert all(0 <= error <= 100 for error in row["ours_best"])
        assert [len(curve) for curve in row["validation_errors"]] == [2, 2]  # per seed, per epoch, for choosing
        assert all(min(c) == c[e - 1] for c, e in zip(row["validation_errors"], row["best_epochs"], strict=True))
    assert "ours_best" not in rows[2]  # Parzen has no validation error to pick by
    # The semi-supervised rows' own settings, chosen on the validation split.
    assert rows[0]["settings"] == {"input_mask": 0.2, "lr_decay_epoch": 60, "hidden_dropout": 0.5}
    assert rows[1]["settings"] == {}
    trained_on = load_checkpoint(tmp_path / "repro" / "clustering-16-seed3.safetensors").metadata["dataset"]
    assert trained_on["n_train"] == 1438 - 200


def test_reproduce_refuses_a_validation_split_larger_than_the_data_before_training(tmp_path):
    result = cli("reproduce", "parzen", "--dataset", "digits", "--validation", "5000", "--out", str(tmp_path / "repro"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--validation must be between 0 and 1437" in result.stderr
    assert not (tmp_path / "repro").exists()  # nothing was trained


@pytest.mark.parametrize("kind,score", [("semi-supervised", "val_error"), ("cluster", "val_error_paper")])
def test_validation_curve_script_scores_a_held_out_split_every_epoch(tmp_path, kind, score):
    data = make_idx_dir(tmp_path / "mnist", n_train=200)
    result = subprocess.run(
        [sys.executable, "scripts/validation_curve.py", "--data-dir", str(data), "--kind", kind, "--labels", "20"]
        + ["--validation", "50", "--epochs", "2", "--hidden", "16", "--precision", "fp32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    epochs = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1", "2"]
    for line in epochs:
        fields = dict(item.split("=") for item in line.split()[3:])
        assert 0 <= float(fields[score]) <= 1 and "recon" in fields


def test_validation_curve_screens_rates_noise_schedule_and_an_average_of_the_weights(tmp_path):
    data = make_idx_dir(tmp_path / "mnist", n_train=200)
    base = [sys.executable, "scripts/validation_curve.py", "--data-dir", str(data), "--labels", "20"]
    base += ["--validation", "50", "--epochs", "2", "--hidden", "16", "--precision", "fp32"]
    screens = ["--scale-lr", "classifier=0.5", "--betas", "generator=0.5:0.999", "--instance-noise-from", "1=0.1"]
    screens += ["--sgd", "discriminator=0.01"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        base + screens + ["--ema", "0.9"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr
    epochs = [
        dict(i.split("=") for i in line.split()[3:]) for line in result.stdout.splitlines() if line[:6] == "epoch "
    ]
    assert "optimizer classifier: lr=0.0001 betas=0.9,0.999" in result.stdout  # 2e-4 halved
    assert "optimizer generator: lr=0.0002 betas=0.5,0.999" in result.stdout
    assert "optimizer discriminator: SGD lr=0.01 momentum=0.9" in result.stdout
    assert [float(e["instance_noise"]) for e in epochs] == [0.3, 0.1]  # the default, then the schedule's
    assert all(0 <= float(e["ema_val_error"]) <= 1 for e in epochs)
    wrong = subprocess.run(
        base + ["--scale-lr", "critic=2"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert wrong.returncode != 0 and "no optimizer critic" in wrong.stderr
    wrong_sgd = subprocess.run(
        base + ["--sgd", "critic=0.1"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert wrong_sgd.returncode != 0 and "no optimizer critic" in wrong_sgd.stderr
    both = subprocess.run(
        base + ["--sgd", "classifier=0.1", "--scale-lr", "classifier=2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert both.returncode != 0 and "leave out --scale-lr and --betas" in both.stderr
    malformed = subprocess.run(
        base + ["--ema", "0.9", "--betas", "generator"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert malformed.returncode != 0 and "expected --betas OPTIMIZER=B1:B2" in malformed.stderr


def test_validation_curve_trains_the_classifier_alone_as_a_baseline(tmp_path):
    data = make_idx_dir(tmp_path / "mnist", n_train=200)
    base = [sys.executable, "scripts/validation_curve.py", "--data-dir", str(data), "--labels", "20"]
    base += ["--validation", "50", "--epochs", "2", "--hidden", "16", "--precision", "fp32", "--classifier-only"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run(base + extra, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        for extra in ([], ["--hidden-dropout", "0.5"], ["--labelled-input-mask", "0.3"])
    ]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    epochs = [
        [dict(i.split("=") for i in line.split()[3:]) for line in r.stdout.splitlines() if line[:6] == "epoch "]
        for r in runs
    ]
    assert [sorted(e) for e in epochs[0]] == [["class", "val_error"]] * 2  # no reconstruction, no adversary
    assert epochs[0][0]["class"] != epochs[1][0]["class"]  # dropout changes what the classifier trains on
    assert epochs[0][0]["class"] != epochs[2][0]["class"]  # so does the labelled images' mask


def test_validation_curve_hard_y_decodes_a_one_hot_with_the_softmax_gradient():
    spec = importlib.util.spec_from_file_location("validation_curve", ROOT / "scripts" / "validation_curve.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cluster", latent_dim=2, hidden_dims=(8,), categories=4, num_classes=4))
    x = torch.rand(6, 784)
    seen = []
    model.decoder.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    script.decode_hard_y(model)  # its hook runs first, so `seen` holds what the decoder's layers got
    out = model.encode(x)
    y = out.y_logits.softmax(-1)
    model.decode_logits(out.z, y=y).sum().backward()
    decoded_y = seen[-1][:, -4:]
    assert torch.equal(decoded_y, torch.nn.functional.one_hot(y.argmax(1), 4).float())
    assert torch.equal(seen[-1][:, :-4], out.z)
    assert model.encoder.y_head.weight.grad.abs().sum() > 0  # straight-through: q(y|x) still learns
    model.eval()
    with torch.no_grad():
        model.decode_logits(out.z, y=y)
    assert torch.equal(seen[-1][:, -4:], y)  # scoring decodes the softmax as before


def test_reproduce_measures_the_vae_beside_the_aae_with_the_same_parzen_code(tmp_path):
    out = tmp_path / "repro"
    flags = ("--dataset", "digits", "--seeds", "1", "--epochs", "1", "--hidden", "16,16", "--quiet", "--out", str(out))
    table = cli("reproduce", "parzen", "parzen-vae", *flags)
    assert table.returncode == 0, table.stderr
    rows = {r["experiment"]: r for r in json.loads((out / "reproduction.json").read_text())}
    assert rows["parzen-vae"]["paper"] is None and rows["parzen"]["paper"] == 340.0  # Table 1 has no VAE row
    assert "| parzen-vae | nats | – |" in table.stdout
    assert load_checkpoint(out / "parzen-vae-seed0.safetensors").metadata["model"]["kind"] == "vae"
    assert all(np.isfinite(r["ours"]).all() for r in rows.values())


def test_reproduce_trains_with_the_settings_given_and_refuses_unknown_ones_before_training(tmp_path):
    out = tmp_path / "repro"
    flags = ("--dataset", "digits", "--seeds", "1", "--epochs", "1", "--hidden", "16,16", "--quiet", "--out", str(out))
    sets = ("--set", "input_mask=0.25", "--set", "categorical-adversarial=joint")
    table = cli("reproduce", "dimred-20", *flags, *sets)
    assert table.returncode == 0, table.stderr
    trained = load_checkpoint(out / "dimred-20-seed0.safetensors").metadata
    assert trained["training"]["config"]["input_mask"] == 0.25
    assert trained["training"]["config"]["categorical_adversarial"] == "joint"
    assert trained["model"]["config"]["categories"] == 20 and trained["model"]["config"]["latent_dim"] == 2  # §7
    row = json.loads((out / "reproduction.json").read_text())[0]
    assert row["settings"] == {"input_mask": 0.25, "categorical_adversarial": "joint"}
    assert row["paper"] is None and "| dimred-20 | % error | – |" in table.stdout  # no figure read from the paper
    for bad, message in (
        ("input_mak=0.2", "--set takes NAME=VALUE"),
        ("epochs=3", "--set takes NAME=VALUE"),
        ("adversarial_betas=0.5", "--set takes NAME=VALUE"),
        ("input_mask=lots", "'lots' is not a float"),
        ("input_mask=2", "--input-mask must be a share"),
    ):
        result = cli("reproduce", "parzen", *flags[:-1], str(tmp_path / "refused"), "--set", bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr, bad
    assert not (tmp_path / "refused").exists()
