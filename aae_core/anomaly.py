"""Anomaly scores: how unusual a model finds an image, and how well that separates classes it never saw.

A model trained with `--exclude-classes` has seen none of those classes; its evaluation split still holds them.
Each score is "higher means more anomalous": the reconstruction error (every model), the negative log-density of
the code under the prior (priors with a density), and the discriminator's disbelief in the code, -logit D(z)
(adversarial models). The ROC AUC of a score is the chance that a held-out image scores above a known one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .data import DataSplits, ImageData
from .kinds import get_kind
from .metrics import encode_all
from .models import AutoEncoder, evaluating
from .priors import Prior

SCORE_LIMIT = 60000.0  # scores are clipped to fp16's range, in which a slim copy stores them
SCORES = {
    "recon": "reconstruction error (nats)",
    "prior": "-log p(z) under the prior",
    "disc": "-logit D(z), the discriminator's disbelief",
}


@torch.no_grad()
def anomaly_scores(
    model: AutoEncoder, prior: Prior | None, images: torch.Tensor, batch_size: int = 2000
) -> dict[str, np.ndarray]:
    """Each score the model and prior can give, per image (N,), higher meaning more anomalous."""
    device = next(model.parameters()).device
    recon = []
    with evaluating(model):
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            logits = model.reconstruct_logits(x, None)
            recon.append(F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1).cpu())
    scores = {"recon": torch.cat(recon).double().numpy()}
    if get_kind(model.config.kind).prior_part != "z":
        return scores  # dimred's prior shapes only part of its code
    codes = encode_all(model, images)
    if prior is not None and prior.has_density:
        scores["prior"] = (-prior.log_prob(codes.float())).cpu().double().numpy()
    if getattr(model, "discriminator", None) is not None:
        scores["disc"] = (-model.discriminate(codes)).cpu().double().numpy()
    # An infinite -log p(z) (a code outside a uniform prior's box) still ranks last, and fits a slim copy's fp16.
    return {
        key: np.nan_to_num(values, nan=SCORE_LIMIT).clip(-SCORE_LIMIT, SCORE_LIMIT) for key, values in scores.items()
    }


def roc_auc(anomalous: np.ndarray, normal: np.ndarray) -> float:
    """P(score of an anomalous example > score of a normal one), ties counting half (the Mann-Whitney U / n·m)."""
    anomalous, normal = np.asarray(anomalous, dtype=np.float64), np.asarray(normal, dtype=np.float64)
    if len(anomalous) == 0 or len(normal) == 0:
        raise ValueError("an ROC AUC needs examples of both groups")
    values = np.concatenate([anomalous, normal])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # Average ranks within ties, so equal scores count half either way.
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(unique) < len(values):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    n, m = len(anomalous), len(normal)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * m))


def anomaly_report(
    model: AutoEncoder, prior: Prior | None, eval_data: ImageData, held_out: Sequence[int]
) -> dict[str, Any]:
    """The ROC AUC of every score: each held-out class against the known classes, and all held-out ones pooled."""
    labels = eval_data.labels.cpu().numpy()
    held = np.isin(labels, np.asarray(held_out))
    if not held.any() or held.all():
        raise ValueError("the evaluation split needs examples of both the held-out and the known classes")
    scores = anomaly_scores(model, prior, eval_data.images)
    names = list(eval_data.classes)
    per_class = {}
    for cls in held_out:
        members = labels == cls
        if members.any():
            name = names[cls] if cls < len(names) else str(cls)
            per_class[name] = {key: roc_auc(s[members], s[~held]) for key, s in scores.items()}
    return {
        "held_out": [int(c) for c in held_out],
        "scores": {key: SCORES[key] for key in scores},
        "pooled": {key: roc_auc(s[held], s[~held]) for key, s in scores.items()},
        "per_class": per_class,
        "n_known": int((~held).sum()),
        "n_held_out": int(held.sum()),
    }


def known_classes_only(data: DataSplits) -> DataSplits:
    """The splits with the held-out classes taken out of the evaluation split too (the training split has none):
    plain splits of the known classes, with nothing held out."""
    if not data.excluded:
        return data
    keep = ~torch.isin(data.eval.labels, torch.tensor(data.excluded, dtype=data.eval.labels.dtype))
    return DataSplits(data.train, data.eval.subset(torch.nonzero(keep).squeeze(1)))
