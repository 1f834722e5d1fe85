"""The dimensionality-reduction AAE's cluster heads W on the latent map (paper §7, Fig. 10)."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from aae_core.config import ModelConfig, TrainConfig
from aae_core.inference import load_model
from aae_core.priors import make_prior
from aae_core.trainer import train
from tests.conftest import APP_ENTRY, SMALL
from tests.test_app import values


def test_the_latent_map_draws_the_learned_cluster_heads(tmp_path, digits, monkeypatch):
    config = ModelConfig(
        kind="dimred", input_dim=64, latent_dim=2, hidden_dims=SMALL, disc_hidden_dims=SMALL, categories=5
    )
    out = tmp_path / "dimred.safetensors"
    train(config, TrainConfig(epochs=2, labels=0), make_prior("gaussian", 2), digits, out, progress=False)
    heads = load_model(out).cluster_heads
    assert heads.shape == (5, 2)

    monkeypatch.setenv("AAE_CHECKPOINT_DIRS", str(tmp_path))
    at = AppTest.from_file(APP_ENTRY, default_timeout=120)
    at.query_params["model"] = "dimred"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    traces = [t for chart in at.get("plotly_chart") for t in json.loads(chart.proto.spec)["data"]]
    drawn = [t for t in traces if t.get("name") == "cluster heads W"]
    assert len(drawn) == 1
    np.testing.assert_allclose(np.column_stack([values(drawn[0]["x"]), values(drawn[0]["y"])]), heads, rtol=1e-6)


def test_other_kinds_have_no_cluster_heads(trained_checkpoint):
    assert load_model(trained_checkpoint).cluster_heads is None
