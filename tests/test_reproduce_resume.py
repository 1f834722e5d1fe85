"""`reproduce --resume`: a long run in pieces ends with the same table as one run straight through."""

from __future__ import annotations

import json
import shutil

import pytest

from aae_core.reproduce import run, write_tables
from tests.conftest import run_cli

FLAGS = ("--dataset", "digits", "--seeds", "1", "--validation", "200", "--hidden", "16,16", "--quiet")
EXPERIMENT = "semi-supervised-100"
SAME = ("ours", "ours_best", "best_epochs", "validation_errors", "settings")


def reproduce(out, epochs, data, resume=False, **settings):
    """One `reproduce` call in this process (the command line's own refusals are run as a user runs them below)."""
    kept = {"seeds": 1, "validation": 200, "hidden": (16, 16), "progress": False}
    rows = run([EXPERIMENT], data, epochs=epochs, out_dir=out, resume=resume, settings=settings, **kept)
    write_tables(rows, out)
    return json.loads((out / "reproduction.json").read_text())[0]


@pytest.mark.slow
def test_a_run_resumed_in_pieces_matches_one_run_straight_through(tmp_path, digits):
    straight = reproduce(tmp_path / "straight", 4, digits)
    reproduce(tmp_path / "pieces", 2, digits)
    record = json.loads((tmp_path / "pieces" / f"{EXPERIMENT}-seed0.validation.json").read_text())
    assert len(record["history"]) == 2 and record["best_test"] is not None  # what the next piece starts from
    # A folder written before records existed resumes from its table's row (a copy without the record files).
    shutil.copytree(tmp_path / "pieces", tmp_path / "table-only")
    shutil.copytree(tmp_path / "pieces", tmp_path / "decayed-pieces")
    for leftover in (tmp_path / "table-only").glob("*seed0.[vb]*"):
        leftover.unlink()
    resumed = reproduce(tmp_path / "pieces", 4, digits, resume=True)
    from_table = reproduce(tmp_path / "table-only", 4, digits, resume=True)
    for row in (resumed, from_table):
        assert {k: row[k] for k in SAME} == {k: straight[k] for k in SAME}
        assert len(row["validation_errors"][0]) == 4
    # A learning-rate decay from the pieces' joint on gives what one run with that schedule gives.
    decayed = reproduce(tmp_path / "decayed-pieces", 4, digits, resume=True, lr_decay_epoch=2)
    once = reproduce(tmp_path / "decayed", 4, digits, lr_decay_epoch=2)
    assert {k: decayed[k] for k in SAME} == {k: once[k] for k in SAME}
    assert decayed["validation_errors"] != straight["validation_errors"]
    # Without a checkpoint to continue, --resume starts the seed afresh.
    assert (
        reproduce(tmp_path / "fresh", 2, digits, resume=True)["ours"]
        == reproduce(tmp_path / "fresh2", 2, digits)["ours"]
    )


def test_resume_refuses_a_run_trained_otherwise_before_training(tmp_path, digits):
    out = tmp_path / "pieces"
    reproduce(out, 1, digits)
    before = (out / f"{EXPERIMENT}-seed0.safetensors").read_bytes()
    for extra, message in (
        (("--set", "input_mask=0.25"), "other input_mask"),
        (("--hidden", "8,8"), "other hidden"),
        (("--validation", "100"), "other validation"),
        (("--encoder-norm", "batch"), "other encoder-norm"),
    ):
        args = ("reproduce", EXPERIMENT, *FLAGS, "--epochs", "2", "--out", str(out), "--resume", *extra)
        result = run_cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr, extra
    (out / f"{EXPERIMENT}-seed0.validation.json").unlink()
    (out / "reproduction.json").unlink()
    result = run_cli("reproduce", EXPERIMENT, *FLAGS, "--epochs", "2", "--out", str(out), "--resume")
    assert result.returncode == 2 and "no validation record" in result.stderr
    assert (out / f"{EXPERIMENT}-seed0.safetensors").read_bytes() == before  # nothing was lost to the refusals
