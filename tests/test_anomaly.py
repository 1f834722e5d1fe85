"""Anomaly scores: the ROC AUC, held-out classes, and `train --exclude-classes` / `evaluate` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aae_core.anomaly import roc_auc
from aae_core.data import DatasetError, exclude_classes
from aae_core.inference import load_model
from tests.conftest import run_cli

TINY = ("--hidden", "64,64", "--disc-hidden", "64,64", "--quiet", "--threads", "1")


def test_the_auc_is_the_rank_statistic_sklearn_computes_ties_included():
    rng = np.random.default_rng(0)
    anomalous, normal = rng.integers(0, 20, 300).astype(float) + 2, rng.integers(0, 20, 500).astype(float)
    expected = roc_auc_score(np.r_[np.ones(300), np.zeros(500)], np.r_[anomalous, normal])
    assert roc_auc(anomalous, normal) == pytest.approx(expected, abs=1e-12)
    assert roc_auc([5.0, 6.0], [1.0, 2.0]) == 1.0 and roc_auc([1.0], [1.0]) == 0.5


def test_held_out_classes_leave_training_but_stay_in_evaluation(digits):
    held = exclude_classes(digits, ["9", 3])
    assert held.excluded == (3, 9)
    assert not np.isin(held.train.labels.numpy(), [3, 9]).any()
    assert len(held.train) == int((~np.isin(digits.train.labels.numpy(), [3, 9])).sum())
    assert held.eval is digits.eval


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (["12"], "cannot hold out class '12'"),
        (["seven"], "has classes 0, 1, 2"),
        ([str(c) for c in range(10)], "every class"),
    ],
)
def test_a_bad_held_out_list_is_refused(digits, classes, message):
    with pytest.raises(DatasetError, match=message):
        exclude_classes(digits, classes)


def test_a_model_trained_without_nines_scores_them_as_anomalies(tmp_path, digits):
    out = tmp_path / "ae9.safetensors"
    trained = run_cli("train", "--model", "aae", "--epochs", "15", "--exclude-classes", "9", "--out", str(out), *TINY)
    assert trained.returncode == 0, trained.stderr
    assert "anomaly_auc_recon" in trained.stdout
    info = json.loads(run_cli("info", str(out), "--json").stdout)
    assert info["dataset"]["excluded_classes"] == [9]

    report = json.loads(run_cli("evaluate", str(out), "--json").stdout)["anomaly"]
    assert report["held_out"] == [9] and set(report["per_class"]) == {"9"}
    assert set(report["pooled"]) == {"recon", "prior", "disc"}  # an AAE on a Gaussian: all three scores
    assert report["n_held_out"] + report["n_known"] == 359
    # The nines were never reconstructed in training, so they reconstruct worse than the digits that were.
    assert report["pooled"]["recon"] > 0.6
    text = run_cli("evaluate", str(out)).stdout
    assert "anomaly ROC AUC" in text and "all held out" in text

    # The checkpoint keeps every evaluation image's scores, for the app (which has no images): the same the
    # inference API computes, and in a slim fp16 copy too.
    model = load_model(out)
    assert model.held_out_classes == (9,)
    stored = model.atlas_anomaly_scores
    assert set(stored) == {"recon", "prior", "disc"} and all(len(v) == 359 for v in stored.values())
    fresh = model.anomaly_scores(digits.eval.images[:20])
    for key in stored:
        np.testing.assert_allclose(fresh[key], stored[key][:20], rtol=1e-4, atol=1e-4)
    slim = tmp_path / "slim.safetensors"
    assert run_cli("export", str(out), "--out", str(slim)).returncode == 0
    np.testing.assert_allclose(load_model(slim).atlas_anomaly_scores["recon"], stored["recon"], rtol=2e-3)


def test_exclude_classes_refusals(tmp_path, trained_checkpoint):
    supervised = run_cli("train", "--model", "supervised", "--exclude-classes", "9", "--epochs", "1", *TINY)
    assert supervised.returncode == 2 and "trains on labels" in supervised.stderr
    every = run_cli("train", "--exclude-classes", *map(str, range(10)), "--epochs", "1", *TINY)
    assert every.returncode == 2 and "leaves nothing to train on" in every.stderr
    resumed = run_cli(
        "train",
        "--resume",
        str(trained_checkpoint),
        "--epochs",
        "4",
        "--exclude-classes",
        "9",
        "--out",
        str(tmp_path / "r.safetensors"),
        "--quiet",
    )
    assert resumed.returncode == 2 and "--exclude-classes 9 contradicts them" in resumed.stderr
    assert not (tmp_path / "r.safetensors").exists()
