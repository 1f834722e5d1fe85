"""Metrics: each distance is zero-ish for matching clouds and large for mismatched ones."""

from __future__ import annotations

import torch

from aae_core.metrics import knn_accuracy, mmd, prior_gap_fraction, prior_match, sliced_wasserstein
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
