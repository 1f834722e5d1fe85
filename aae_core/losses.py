"""Loss functions, each a free function of tensors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .priors import Prior


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood of images x under pixel logits: summed over pixels, mean over batch."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def discriminator_loss(prior_logits: torch.Tensor, code_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's cross-entropy: prior samples are "real" (1), encoder codes are "fake" (0); paper eq. 1."""
    real = F.binary_cross_entropy_with_logits(prior_logits, torch.ones_like(prior_logits))
    fake = F.binary_cross_entropy_with_logits(code_logits, torch.zeros_like(code_logits))
    return real + fake


def generator_loss(code_logits: torch.Tensor) -> torch.Tensor:
    """The encoder's adversarial loss, in the non-saturating form -log D(q(z|x)) (Goodfellow et al. 2014, §3)."""
    return F.binary_cross_entropy_with_logits(code_logits, torch.ones_like(code_logits))


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor, prior_std: float = 1.0) -> torch.Tensor:
    """Closed-form KL(N(mean, exp(logvar)) || N(0, prior_std²)), summed over dims, mean over batch."""
    prior_var = prior_std**2
    kl = 0.5 * ((logvar.exp() + mean.pow(2)) / prior_var - 1.0 - logvar + math.log(prior_var))
    return kl.sum(-1).mean()


def sampled_kl(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, prior: Prior) -> torch.Tensor:
    """One-sample Monte Carlo estimate of KL(q(z|x) || p(z)) = E_q[log q(z|x) - log p(z)], mean over batch."""
    log_q = -0.5 * (((z - mean).pow(2) / logvar.exp()) + logvar + math.log(2 * math.pi)).sum(-1)
    return (log_q - prior.log_prob(z)).mean()


def head_separation_loss(heads: torch.Tensor, margin: float) -> torch.Tensor:
    """Paper §7: a hinge on the distance between every two cluster heads, zero once they are `margin` apart."""
    distances = torch.pdist(heads)  # (K(K-1)/2,)
    return torch.relu(margin - distances).sum()


def mmd_penalty(codes: torch.Tensor, prior_z: torch.Tensor, scale: float) -> torch.Tensor:
    """Unbiased squared MMD between codes and prior samples (the WAE-MMD penalty, Tolstikhin et al. 2018, §3).

    Inverse multiquadratic kernels C / (C + |a - b|²), with C = 2·dim·(f·scale)² for f in {0.1, 0.2, 0.5, 1, 2}: the
    paper's C = 2·dim·σ² at the prior's own length and at finer and coarser ones, so a mixture's modes count too.
    """
    n, dim = codes.shape
    both = torch.cat([codes, prior_z])
    norms = both.pow(2).sum(1)
    # Squared distances from the Gram matrix: cdist's gradient is NaN at the zero distance of each point to itself.
    squared = (norms[:, None] + norms[None, :] - 2 * both @ both.T).clamp_min(0)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=codes.device)
    total = codes.new_zeros(())
    for factor in (0.1, 0.2, 0.5, 1.0, 2.0):
        c = 2 * dim * (factor * scale) ** 2
        kernel = c / (c + squared)
        k_codes = kernel[:n, :n][off_diagonal].mean()
        k_prior = kernel[n:, n:][off_diagonal].mean()
        total = total + k_codes + k_prior - 2 * kernel[:n, n:].mean()
    return total
