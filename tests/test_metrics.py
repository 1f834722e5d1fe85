"""Metrics: each distance is zero-ish for matching clouds and large for mismatched ones."""

from __future__ import annotations

import math

import pytest
import torch

from aae_core.metrics import (
    choose_parzen_sigma,
    clustering_error,
    knn_accuracy,
    mmd,
    parzen_log_likelihood,
    prior_gap_fraction,
    prior_match,
    sliced_wasserstein,
)
from aae_core.priors import GaussianPrior, MixturePrior


def test_sliced_wasserstein_of_a_shift():
    a = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(a, a) == 0.0
    # Shifting one cloud by 3 along x: the projected distance averages 3·|cos θ| over directions (≈ 3/√2 in RMS).
    shifted = sliced_wasserstein(a, a + torch.tensor([3.0, 0.0]))
    assert 1.8 < shifted < 2.4


def test_mmd_is_small_for_same_distribution_and_large_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    assert mmd(a, b, scale=1.0) < 0.02
    assert mmd(a, b * 0.1, scale=1.0) > 0.3


def test_gap_fraction_tells_covering_codes_from_clumped_ones():
    prior = MixturePrior()
    covering = prior.sample(3000, torch.Generator().manual_seed(5))
    assert prior_gap_fraction(covering, prior) < 0.1
    # Codes that fill only three of the ten components leave about 70 % of the mass uncovered.
    labels = torch.arange(3).repeat(1000)
    clumped = prior.sample_given_labels(labels, torch.Generator().manual_seed(6))
    assert 0.6 < prior_gap_fraction(clumped, prior) < 0.8


def test_prior_match_reports_floors():
    prior = GaussianPrior(dim=2)
    codes = prior.sample(1000, torch.Generator().manual_seed(9))
    result = prior_match(codes, prior)
    assert result["prior_swd"] < 3 * result["prior_swd_floor"] + 0.05
    assert set(result) == {"prior_swd", "prior_swd_floor", "prior_mmd", "prior_mmd_floor", "prior_gap"}
    assert "prior_gap" not in prior_match(torch.randn(100, 3), GaussianPrior(dim=3))


def test_knn_accuracy_ignores_unlabelled_examples():
    codes = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert knn_accuracy(codes, labels, codes, labels, k=3) == 1.0
    unlabelled = torch.tensor([0, 0, 0, 1, 1, -1])
    assert knn_accuracy(codes, labels, codes, unlabelled, k=3) == 1.0


def test_parzen_window_matches_the_smoothed_gaussian():
    # A Parzen window of width s on N(0,1) samples estimates N(0, 1+s²); its mean log-density at N(0,1) points is
    # -½log(2π(1+s²)) - 1/(2(1+s²)).
    g = torch.Generator().manual_seed(0)
    samples, test = torch.randn(20000, 1, generator=g), torch.randn(2000, 1, generator=g)
    s = 0.3
    expected = -0.5 * math.log(2 * math.pi * (1 + s**2)) - 1 / (2 * (1 + s**2))
    assert abs(parzen_log_likelihood(samples, test, s) - expected) < 0.03
    validation = torch.randn(1000, 1, generator=g)
    sigma = choose_parzen_sigma(samples[:2000], validation)
    assert 0.1 < sigma < 0.6  # too narrow overfits the samples, too wide blurs the density


def test_clustering_error_protocols():
    # Four clusters over two classes; cluster 3 is mixed (two of class 1, one of class 0).
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 0])
    assigned = torch.tensor([0, 0, 1, 2, 3, 3, 3])
    probs = torch.nn.functional.one_hot(assigned, 4).float() * 0.9 + 0.025
    probs[6, 3] = 0.99  # the most confident member of cluster 3 has label 0
    assert clustering_error(probs, labels, protocol="majority") == pytest.approx(1 / 7)
    assert clustering_error(probs, labels, protocol="paper") == pytest.approx(2 / 7)
    with pytest.raises(ValueError, match="choose paper or majority"):
        clustering_error(probs, labels, protocol="hungarian")


def test_component_purity_is_one_for_one_class_per_blob_and_low_for_mixed_classes():
    from aae_core.metrics import component_purity

    prior = MixturePrior(2)
    codes, components = prior.sample_with_labels(3000, torch.Generator().manual_seed(5))
    assert component_purity(codes, components, prior) > 0.99
    assert component_purity(codes, (components + 3) % 10, prior) > 0.99  # which class takes which blob is free
    shuffled = components[torch.randperm(3000, generator=torch.Generator().manual_seed(0))]
    assert component_purity(codes, shuffled, prior) < 0.2
    hidden = torch.where(torch.arange(3000) % 2 == 0, components, torch.full_like(components, -1))
    assert component_purity(codes, hidden, prior) > 0.99  # unlabelled examples are left out
