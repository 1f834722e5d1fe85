"""Priors: moments, component/segment labels, densities, registry errors."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from aae_core.priors import (
    CallablePrior,
    CategoricalPrior,
    DrawnPrior,
    GaussianPrior,
    MixturePrior,
    PriorError,
    SwissRollPrior,
    UniformPrior,
    make_prior,
    prior_from_config,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("std", [0.5, 1.0, 3.0])
def test_gaussian_moments(std):
    z = GaussianPrior(dim=3, std=std).sample(20000, gen())
    assert z.shape == (20000, 3)
    assert z.mean(0).abs().max() < 0.05 * std
    assert torch.allclose(z.std(0), torch.full((3,), std), rtol=0.03)


def test_mixture_samples_sit_on_their_labelled_component():
    prior = MixturePrior(components=10, radius=4.0)
    z, labels = prior.sample_with_labels(5000, gen())
    assert labels.min() == 0 and labels.max() == 9
    angle = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
    nearest = torch.round(angle / (2 * math.pi / 10)).long() % 10
    assert (nearest == labels).float().mean() > 0.99
    assert abs(z.norm(dim=1).mean() - 4.0) < 0.1
    # Each component is equally likely.
    counts = torch.bincount(labels, minlength=10).float()
    assert counts.min() > 400


def test_mixture_given_labels_and_component_log_prob_agree():
    prior = MixturePrior()
    labels = torch.arange(10).repeat(50)
    z = prior.sample_given_labels(labels, gen())
    # Components overlap only in their far tails.
    assert (prior.component_log_prob(z).argmax(1) == labels).float().mean() > 0.98


def test_swissroll_segments_run_outward():
    prior = SwissRollPrior(segments=10, noise=0.0)
    z, labels = prior.sample_with_labels(4000, gen())
    radius = z.norm(dim=1)
    mean_radius = torch.stack([radius[labels == k].mean() for k in range(10)])
    assert (mean_radius.diff() > 0).all()
    assert not prior.has_density
    with pytest.raises(PriorError, match="no density"):
        prior.log_prob(z)


def test_uniform_bounds_and_density():
    prior = UniformPrior(dim=2, half_width=2.0)
    z = prior.sample(5000, gen())
    assert z.abs().max() <= 2.0
    assert z.abs().max() > 1.9
    assert torch.allclose(prior.log_prob(z), torch.full((5000,), -math.log(16.0)))
    assert prior.log_prob(torch.tensor([[3.0, 0.0]])).item() == -math.inf


def test_categorical_one_hot():
    z, labels = CategoricalPrior(dim=10).sample_with_labels(1000, gen())
    assert (z.sum(1) == 1).all()
    assert (z.argmax(1) == labels).all()


@pytest.mark.parametrize("prior", [GaussianPrior(dim=2, std=1.5), MixturePrior()], ids=["gaussian", "mixture"])
def test_density_integrates_to_one(prior):
    # Riemann sum of exp(log_prob) over a grid that covers the prior.
    edge = 10.0
    axis = torch.linspace(-edge, edge, 801)
    grid = torch.cartesian_prod(axis, axis)
    cell = (axis[1] - axis[0]) ** 2
    total = prior.log_prob(grid).exp().sum() * cell
    assert abs(total.item() - 1.0) < 0.01


def test_same_generator_seed_same_samples():
    prior = MixturePrior()
    assert torch.equal(prior.sample(100, gen(3)), prior.sample(100, gen(3)))
    assert not torch.equal(prior.sample(100, gen(3)), prior.sample(100, gen(4)))


def test_callable_prior_with_and_without_generator():
    with_gen = CallablePrior(lambda n, g: torch.randn(n, 2, generator=g) + 5, dim=2)
    assert with_gen.sample(10, gen()).mean() > 3
    without = CallablePrior(lambda n: torch.zeros(n, 2), dim=2)
    assert torch.equal(without.sample(4), torch.zeros(4, 2))
    wrong = CallablePrior(lambda n: torch.zeros(n, 3), dim=2)
    with pytest.raises(PriorError, match="shape"):
        wrong.sample(4)


def test_registry_round_trip_and_errors():
    prior = make_prior("mixture", 2, components=6, radius=3.0)
    rebuilt = prior_from_config(prior.to_config())
    assert isinstance(rebuilt, MixturePrior) and rebuilt.components == 6 and rebuilt.radius == 3.0
    with pytest.raises(PriorError, match="choose one of: gaussian, mixture"):
        make_prior("cauchy", 2)
    with pytest.raises(PriorError, match="2-D"):
        make_prior("mixture", 3)
    with pytest.raises(PriorError, match="std must be > 0"):
        make_prior("gaussian", 2, std=-1)
    with pytest.raises(PriorError, match="bad parameters"):
        make_prior("gaussian", 2, sigma=1)


def test_a_custom_prior_checkpoint_says_what_cannot_be_rebuilt(tmp_path, digits):
    import subprocess
    import sys

    from aae_core.config import ModelConfig, TrainConfig
    from aae_core.inference import load_model
    from aae_core.trainer import train

    prior = CallablePrior(lambda n, g: torch.randn(n, 2, generator=g) * 0.5 + 2, dim=2, label="shifted blob")
    config = ModelConfig(kind="aae", input_dim=64, latent_dim=2, hidden_dims=(16,), disc_hidden_dims=(16,))
    path = tmp_path / "custom.safetensors"
    train(config, TrainConfig(epochs=1), prior, digits, path, progress=False)
    model = load_model(path)
    assert model.prior is None and model.decode(model.atlas.codes[:2]).shape == (2, 8, 8)  # still explorable
    assert "'shifted blob'" in model.prior_problem and "still encodes and decodes" in model.prior_problem
    done = subprocess.run([sys.executable, "-m", "aae_core", "evaluate", str(path)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot store" in done.stderr


RING = [[3 * math.cos(t * 2 * math.pi / 24), 3 * math.sin(t * 2 * math.pi / 24)] for t in range(24)]


def test_a_drawn_prior_blurs_its_points_and_offers_no_density():
    prior = make_prior("drawn", 2, points=RING, blur=0.2)
    z = prior.sample(20000, gen())
    radius = z.norm(dim=1)
    assert abs(float(radius.mean()) - 3.0) < 0.05
    assert 0.15 < float(radius.std()) < 0.3  # the blur, plus the gaps between the ring's 24 points
    nearest = torch.cdist(z, torch.tensor(RING)).min(1).values
    # 2-D noise of std 0.2 moves a sample by 0.2·√2 RMS; the nearest drawn point is at most that far.
    assert 0.1 < float(nearest.pow(2).mean().sqrt()) <= 0.2 * 2**0.5 + 0.01
    assert not prior.has_density
    with pytest.raises(PriorError, match="no density"):
        prior.log_prob(z[:3])


def test_a_drawn_prior_is_stored_as_data_and_rebuilt():
    prior = make_prior("drawn", 2, points=RING, blur=0.25)
    rebuilt = prior_from_config(json.loads(json.dumps(prior.to_config())))
    assert torch.equal(rebuilt.points, prior.points) and rebuilt.blur == 0.25
    assert torch.equal(rebuilt.sample(50, gen(3)), prior.sample(50, gen(3)))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "empty"),
        ([[1.0, 1.0]], "1 distinct point"),
        ([[0, 0], [0, 0], [1, 1]], "2 distinct points"),
        ([[0, 0], [1, 0], [500, 3]], "far outside a latent range"),
        ([[0, 0], [1, 0], [math.nan, 3]], "finite"),
        ([1.0, 2.0, 3.0], "[x, y] pairs"),
    ],
)
def test_a_bad_drawing_gets_a_clear_refusal(points, message):
    with pytest.raises(PriorError, match=re.escape(message)):
        make_prior("drawn", 2, points=points)


def test_a_drawing_is_fitted_into_the_latent_range_keeping_its_aspect():
    fitted = torch.tensor(DrawnPrior.fit([[100, 200], [300, 200], [200, 250]], half_width=4.0))
    assert torch.allclose(fitted.min(0).values, torch.tensor([-4.0, -1.0]))
    assert torch.allclose(fitted.max(0).values, torch.tensor([4.0, 1.0]))
    make_prior("drawn", 2, points=fitted.tolist())  # now a valid prior
