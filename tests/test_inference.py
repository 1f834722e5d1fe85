"""The inference API the app uses: load, encode, decode, sample, atlas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aae_core.devices import DeviceError, resolve_device
from aae_core.inference import load_model


def test_encode_decode_sample(trained_checkpoint, digits):
    model = load_model(trained_checkpoint, device="cpu")
    assert (model.kind, model.latent_dim, model.image_shape, model.num_classes) == ("aae", 2, (8, 8), 0)
    codes = model.encode(digits.eval.images[:10].reshape(10, 8, 8).numpy())
    assert codes.shape == (10, 2)
    # The stored atlas is exactly what the model encodes.
    assert np.allclose(codes.numpy(), model.atlas.codes[:10], atol=1e-5)
    images = model.decode(codes)
    assert images.shape == (10, 8, 8) and 0 <= images.min() and images.max() <= 1
    prior = model.sample_prior(50, seed=1)
    assert prior.shape == (50, 2) and torch.equal(prior, model.sample_prior(50, seed=1))
    assert not model.model.training and not any(p.requires_grad for p in model.model.parameters())


def test_describe_is_json_ready(trained_checkpoint):
    import json

    summary = load_model(trained_checkpoint).describe()
    assert json.loads(json.dumps(summary))["prior"]["name"] == "mixture"
    assert summary["has_atlas"] and summary["snapshots"] > 0


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="choose one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_the_atlas_is_built_once_and_cannot_be_written(trained_checkpoint, digits):
    # The app shares one LatentModel between all sessions: one session must not change another's map.
    model = load_model(trained_checkpoint)
    atlas = model.atlas
    assert model.atlas is atlas
    with pytest.raises(ValueError, match="read-only"):
        atlas.codes[0, 0] = 99.0
    np.testing.assert_allclose(model.encode(digits.eval.images[:3]).numpy(), atlas.codes[:3], atol=1e-2)
    assert model.decode(atlas.codes[:2]).shape == (2, 8, 8)  # read-only codes decode (copied, not shared)
