"""Anomaly scores: the ROC AUC, held-out classes, and `train --exclude-classes` / `evaluate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from streamlit.testing.v1 import AppTest

from aae_core.anomaly import SCORES, roc_auc
from aae_core.config import TrainConfig
from aae_core.data import DatasetError, exclude_classes
from aae_core.inference import load_model
from aae_core.priors import make_prior
from aae_core.trainer import train
from app.digit_input import strokes_to_image
from tests.conftest import APP_ENTRY, APP_PAGES, run_cli, small_config

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


@pytest.fixture(scope="module")
def held_out_folder(tmp_path_factory, digits) -> Path:
    """A folder with one small AAE trained on the digits without the 9s."""
    folder = tmp_path_factory.mktemp("held-out")
    config = TrainConfig(epochs=10, batch_size=32, lr=1e-3)
    data = exclude_classes(digits, [9])
    train(small_config(), config, make_prior("gaussian", 2), data, folder / "aae-no9.safetensors", progress=False)
    return folder


def open_anomaly_page(monkeypatch, folder: Path, model: str) -> AppTest:
    monkeypatch.setenv("AAE_CHECKPOINT_DIRS", str(folder))
    at = AppTest.from_file(APP_ENTRY, default_timeout=120)
    at.query_params["model"] = model
    at.run()
    at.switch_page(APP_PAGES[7]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_anomaly_page_shows_the_aucs_and_scores_a_drawn_digit(monkeypatch, held_out_folder):
    at = open_anomaly_page(monkeypatch, held_out_folder, "aae-no9")
    model = load_model(held_out_folder / "aae-no9.safetensors")
    table = at.dataframe[0].value
    assert list(table["held-out class"]) == ["9"]
    held = model.atlas.labels == 9
    recon = model.atlas_anomaly_scores["recon"]
    assert table[SCORES["recon"]][0] == pytest.approx(roc_auc(recon[held], recon[~held]))
    assert set(table.columns) == {"held-out class", *(SCORES[k] for k in ("recon", "prior", "disc"))}
    assert len(at.get("plotly_chart")) == 1 and not [m for m in at.markdown if "Your digit's" in m.value]

    # A drawn 9 (a loop and a stem), scored like any test image.
    nine = [[[0.6, 0.3], [0.45, 0.2], [0.35, 0.35], [0.45, 0.5], [0.6, 0.4], [0.6, 0.3]], [[0.6, 0.3], [0.58, 0.85]]]
    at.session_state["anomaly_pad"] = {"drawing": {"strokes": nine, "pen": 0.07}}
    at.run()
    assert not at.exception
    said = [m.value for m in at.markdown if "Your digit's" in m.value]
    pixels = strokes_to_image(nine, model.image_shape, 0.07)
    expected = float(model.anomaly_scores(pixels[None])["recon"][0])
    assert len(said) == 1 and f"**{expected:.3g}**" in said[0]


def test_the_anomaly_page_explains_a_model_that_saw_every_class(monkeypatch, trained_checkpoint):
    at = open_anomaly_page(monkeypatch, trained_checkpoint.parent, trained_checkpoint.stem)
    assert any("trained on every class" in info.value for info in at.info)
    assert not at.dataframe
