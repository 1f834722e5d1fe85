"""The checkpoints shipped in checkpoints/: each opens on CPU through the inference API, decodes, carries its atlas,
and matches its model card (checkpoints/README.md, numbers in checkpoints/cards.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aae_core.data import load_dataset
from aae_core.evaluation import evaluate
from aae_core.inference import load_model

FOLDER = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = sorted(FOLDER.glob("*.safetensors"))
CARDS = json.loads((FOLDER / "cards.json").read_text()) if (FOLDER / "cards.json").exists() else {}
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def test_there_are_shipped_checkpoints_within_budget():
    assert len(SHIPPED) >= 10
    assert sum(p.stat().st_size for p in SHIPPED) < 40 * 2**20


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_opens_decodes_and_matches_its_card(path):
    model = load_model(path, device="cpu")
    assert model.image_shape == (28, 28) and model.metadata["dataset"]["name"] == "mnist"
    z = model.sample_prior(16, seed=0)
    labels = torch.arange(16) % model.num_classes if model.num_classes else None
    images = model.decode(z, labels)
    assert images.shape == (16, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert model.atlas is not None and model.atlas.codes.shape == (10000, model.latent_dim)
    card = CARDS[path.stem]
    # The card holds what `evaluate` measures on the shipped fp16 file; the metrics stored at training time were
    # measured with the fp32 weights just before export, so they agree to within rounding.
    for name, value in card.items():
        assert model.metrics[name] == pytest.approx(value, rel=0.02, abs=0.005), name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aae-2d-mixture", "semi-supervised-100"])
def test_evaluate_reproduces_the_card(name):
    if not MNIST.is_dir():
        pytest.skip(f"MNIST is not at {MNIST}; the card check above still ran")
    model = load_model(FOLDER / f"{name}.safetensors")
    metrics, _ = evaluate(model.model, model.prior, load_dataset("mnist", MNIST), seed=0)
    # The card prints 4 decimals; the last float bits vary with the number of CPU threads (reduction order).
    assert metrics == pytest.approx(CARDS[name], rel=1e-3, abs=1e-4)
