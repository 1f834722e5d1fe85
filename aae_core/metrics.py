"""Metrics: reconstruction, how well codes match the prior, and what codes say about labels.

All take plain tensors, so they work for any model and for codes read back from a checkpoint's atlas.
"""

from __future__ import annotations

import numpy as np
import torch

from .losses import reconstruction_loss
from .models import AutoEncoder, evaluating
from .priors import Prior


@torch.no_grad()
def encode_all(model: AutoEncoder, images: torch.Tensor, batch_size: int = 2000, part: str = "z") -> torch.Tensor:
    """Deterministic codes (posterior mean / noise-free) of every image, on the model's device.

    `part` names the EncoderOutput field: "z" (the code), "y_logits" (class head), "style" (dimred's Gaussian part).
    """
    device = next(model.parameters()).device
    with evaluating(model):
        return torch.cat(
            [
                getattr(model.encode(images[i : i + batch_size].to(device), sample=False), part)
                for i in range(0, len(images), batch_size)
            ]
        )


@torch.no_grad()
def reconstruction_error(
    model: AutoEncoder, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 2000
) -> dict[str, float]:
    """Bernoulli NLL per image (nats) and mean squared error per pixel, through the deterministic code (and the
    labels, for a supervised model's decoder)."""
    device = next(model.parameters()).device
    nll = mse = 0.0
    with evaluating(model):
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            y = None if labels is None else labels[i : i + batch_size].to(device)
            logits = model.reconstruct_logits(x, y)
            nll += float(reconstruction_loss(logits, x)) * len(x)
            mse += float((torch.sigmoid(logits) - x).pow(2).mean(1).sum())
    return {"recon_nll": nll / len(images), "recon_mse": mse / len(images)}


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two equal-size point clouds (random 1-D projections, sorted)."""
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], projections, generator=generator)
    directions = directions / directions.norm(dim=0, keepdim=True)
    pa = (a.float().cpu() @ directions).sort(dim=0).values
    pb = (b.float().cpu() @ directions).sort(dim=0).values
    return float((pa - pb).pow(2).mean().sqrt())


def mmd(a: torch.Tensor, b: torch.Tensor, scale: float) -> float:
    """Squared maximum mean discrepancy with a sum of RBF kernels at bandwidths {0.2, 0.5, 1, 2} × scale."""
    a, b = a.float().cpu(), b.float().cpu()
    total = 0.0
    for factor in (0.2, 0.5, 1.0, 2.0):
        gamma = 1.0 / (2 * (factor * scale) ** 2)
        k_aa = torch.exp(-gamma * torch.cdist(a, a).pow(2)).mean()
        k_bb = torch.exp(-gamma * torch.cdist(b, b).pow(2)).mean()
        k_ab = torch.exp(-gamma * torch.cdist(a, b).pow(2)).mean()
        total += float(k_aa + k_bb - 2 * k_ab)
    return total


def prior_gap_fraction(codes: torch.Tensor, prior: Prior, probes: int = 2000, seed: int = 0) -> float:
    """Share of the prior's mass with no code near it (the "holes" in a 2-D map).

    A probe drawn from the prior counts as a gap when its nearest code is farther than 95 % of probes are from
    their nearest point in an equally large set of prior samples. Codes that match the prior score about 0.05;
    codes clumped away from parts of the prior score up to 1.
    """
    generator = torch.Generator().manual_seed(seed)
    codes = codes.float().cpu()
    probe = prior.sample(probes, generator)
    reference = prior.sample(len(codes), generator)
    threshold = torch.cdist(probe, reference).min(dim=1).values.quantile(0.95)
    nearest_code = torch.cdist(probe, codes).min(dim=1).values
    return float((nearest_code > threshold).float().mean())


def knn_accuracy(
    train_codes: torch.Tensor,
    train_labels: torch.Tensor,
    eval_codes: torch.Tensor,
    eval_labels: torch.Tensor,
    k: int = 5,
) -> float:
    """Accuracy of a k-nearest-neighbour classifier on codes (unlabelled examples, label -1, are ignored)."""
    from sklearn.neighbors import KNeighborsClassifier

    train_mask, eval_mask = train_labels >= 0, eval_labels >= 0
    if train_mask.sum() < k or eval_mask.sum() == 0:
        return float("nan")
    classifier = KNeighborsClassifier(n_neighbors=k)
    classifier.fit(train_codes[train_mask].cpu().numpy(), train_labels[train_mask].cpu().numpy())
    predicted = classifier.predict(eval_codes[eval_mask].cpu().numpy())
    return float(np.mean(predicted == eval_labels[eval_mask].cpu().numpy()))


def prior_match(codes: torch.Tensor, prior: Prior, seed: int = 0, max_points: int = 10000) -> dict[str, float]:
    """Sliced Wasserstein and MMD between codes and as many prior samples, plus the gap fraction for 2-D codes.

    `*_floor` is the same distance between two independent prior samples of that size: what a perfect match scores.
    """
    codes = codes.float().cpu()[:max_points]
    generator = torch.Generator().manual_seed(seed + 1)
    samples = prior.sample(len(codes), generator)
    other = prior.sample(len(codes), generator)
    few = min(len(codes), 2000)  # MMD is quadratic in the number of points
    scale = prior.scale()
    result = {
        "prior_swd": sliced_wasserstein(codes, samples, seed=seed),
        "prior_swd_floor": sliced_wasserstein(other, samples, seed=seed),
        "prior_mmd": mmd(codes[:few], samples[:few], scale),
        "prior_mmd_floor": mmd(other[:few], samples[:few], scale),
    }
    if codes.shape[1] == 2:
        result["prior_gap"] = prior_gap_fraction(codes, prior, seed=seed)
    return result


@torch.no_grad()
def component_purity(
    codes: torch.Tensor, labels: torch.Tensor, prior: Prior, samples: int = 5000, seed: int = 0
) -> float:
    """How cleanly the prior's components (mixture modes, swiss-roll segments) separate the classes: each code joins
    the component of its nearest prior sample, each component is named after its most common class, and this is
    the share of codes whose class is their component's name. 1: one class per blob; 1/classes: no relation."""
    generator = torch.Generator().manual_seed(seed)
    reference, components = prior.sample_with_labels(samples, generator)
    codes, labels = codes.float().cpu(), labels.cpu()
    known = labels >= 0
    codes, labels = codes[known], labels[known]
    nearest = torch.cat([torch.cdist(chunk, reference).argmin(1) for chunk in codes.split(2000)])
    joined = components[nearest]
    counts = torch.zeros(int(components.max()) + 1, int(labels.max()) + 1)
    counts.index_put_((joined, labels), torch.ones(len(labels)), accumulate=True)
    return float(counts.max(1).values.sum() / max(len(labels), 1))


# ---------------------------------------------------------------------------------------------------- paper metrics


def classification_error(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of examples whose predicted class differs from the label (paper §5, Table 2)."""
    return float((predicted.cpu() != labels.cpu()).float().mean())


def clustering_error(
    cluster_probs: torch.Tensor,
    labels: torch.Tensor,
    fit_probs: torch.Tensor | None = None,
    fit_labels: torch.Tensor | None = None,
    protocol: str = "majority",
) -> float:
    """Error of unsupervised clusters once each cluster is named by a label (paper §6).

    `cluster_probs` (N, K) are q(y|x) on the evaluated set; clusters are named from (`fit_probs`, `fit_labels`),
    the training set by default the evaluated set itself. Protocols:
    - "paper": each cluster takes the label of the training example with the highest q(y|x) for that cluster;
    - "majority": each cluster takes the most common label among the examples assigned to it.
    """
    fit_probs = cluster_probs if fit_probs is None else fit_probs
    fit_labels = labels if fit_labels is None else fit_labels
    fit_probs, fit_labels = fit_probs.cpu(), fit_labels.cpu()
    k = fit_probs.shape[1]
    if protocol == "paper":
        names = fit_labels[fit_probs.argmax(dim=0)]  # (K,) label of each cluster's most confident example
    elif protocol == "majority":
        assigned = fit_probs.argmax(dim=1)
        names = torch.zeros(k, dtype=torch.long)
        for cluster in range(k):
            members = fit_labels[assigned == cluster]
            names[cluster] = torch.bincount(members).argmax() if len(members) else -1
    else:
        raise ValueError(f"unknown clustering protocol {protocol!r}; choose paper or majority")
    return classification_error(names[cluster_probs.cpu().argmax(dim=1)], labels)


def parzen_log_likelihood(samples: torch.Tensor, test: torch.Tensor, sigma: float, batch_size: int = 500) -> float:
    """Mean log-likelihood (nats) of `test` under a Gaussian Parzen window of width sigma on `samples` (paper §3).

    log p(x) = logsumexp_i(-|x - s_i|² / 2σ²) - log N - (D/2) log(2πσ²), computed in float64 in batches.
    """
    samples = samples.double().reshape(len(samples), -1)
    test = test.double().reshape(len(test), -1)
    n, d = samples.shape
    total = 0.0
    for i in range(0, len(test), batch_size):
        sq = torch.cdist(test[i : i + batch_size], samples).pow(2)
        total += float(torch.logsumexp(-sq / (2 * sigma**2), dim=1).sum())
    return total / len(test) - np.log(n) - 0.5 * d * np.log(2 * np.pi * sigma**2)


def choose_parzen_sigma(samples: torch.Tensor, validation: torch.Tensor, sigmas: np.ndarray | None = None) -> float:
    """The window width that maximises the validation log-likelihood (the paper's protocol, §3)."""
    sigmas = np.logspace(-1.3, 0, 15) if sigmas is None else sigmas
    scores = [parzen_log_likelihood(samples, validation, float(s)) for s in sigmas]
    return float(sigmas[int(np.argmax(scores))])
