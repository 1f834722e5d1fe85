"""Evaluation: a trained model's metrics on the evaluation split, and the codes that become its atlas."""

from __future__ import annotations

import torch

from .anomaly import anomaly_report, known_classes_only
from .data import DataSplits
from .kinds import get_kind
from .metrics import component_purity, encode_all, knn_accuracy, prior_match, reconstruction_error
from .models import AutoEncoder
from .priors import Prior

KNN_TRAIN_IMAGES = 10000  # training images the kNN classifier (and cluster naming) is fitted on


def evaluate(
    model: AutoEncoder, prior: Prior, data: DataSplits, seed: int = 0
) -> tuple[dict[str, float], torch.Tensor]:
    """Metrics on the evaluation split, and its codes (the atlas).

    With held-out classes (`data.excluded`) the usual metrics are of the known classes only, the atlas holds every
    evaluation image, and `anomaly_auc_<score>` says how well each anomaly score tells the held-out classes apart.
    """
    if data.excluded:
        metrics, _ = evaluate(model, prior, known_classes_only(data), seed=seed)
        report = anomaly_report(model, prior, data.eval, data.excluded)
        metrics.update({f"anomaly_auc_{key}": auc for key, auc in report["pooled"].items()})
        return metrics, encode_atlas(model, data.eval.images)
    config = model.config
    kind = get_kind(config.kind)
    eval_codes = encode_atlas(model, data.eval.images)
    knn_train = data.train.subset(torch.arange(min(len(data.train), KNN_TRAIN_IMAGES)))
    train_codes = encode_all(model, knn_train.images).cpu()
    supervised_decoder = config.num_classes and not config.categories
    # The prior regularizes the part of the code its kind names (dimred: the Gaussian part, not the whole W·y + z).
    prior_codes = eval_codes if kind.prior_part == "z" else encode_all(model, data.eval.images, part=kind.prior_part)
    metrics = {
        **reconstruction_error(model, data.eval.images, data.eval.labels if supervised_decoder else None),
        **prior_match(prior_codes.cpu(), prior, seed=seed),
        "knn_accuracy": knn_accuracy(train_codes, knn_train.labels, eval_codes, data.eval.labels),
    }
    if getattr(prior, "num_labels", 0) and kind.prior_part == "z" and (data.eval.labels >= 0).any():
        metrics["component_purity"] = component_purity(eval_codes, data.eval.labels, prior, seed=seed)
    if kind.extra_metrics is not None:
        images = {"eval": data.eval.images, "train": knn_train.images}

        def probs(split: str) -> torch.Tensor:
            return encode_all(model, images[split], part="y_logits").softmax(-1).cpu()

        metrics.update(kind.extra_metrics(probs, data.eval.labels, knn_train.labels))
    return metrics, eval_codes


def encode_atlas(model: AutoEncoder, images: torch.Tensor) -> torch.Tensor:
    """The atlas codes of evaluation `images` (CPU): the same codes `evaluate` returns."""
    return encode_all(model, images).cpu()


def atlas_tensors(codes: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The checkpoint tensors of an atlas: the evaluation codes and their labels."""
    return {"atlas.codes": codes.float().cpu(), "atlas.labels": labels.cpu()}
