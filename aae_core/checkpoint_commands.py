"""The commands that read one checkpoint: `evaluate` (recompute its metrics), `info` (say what it is) and `export`
(write its slim, inference-only copy)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from safetensors import SafetensorError

from .anomaly import anomaly_report
from .checkpoint import (
    CheckpointError,
    NonFiniteWeightsError,
    check_finite,
    load_checkpoint,
    nonfinite_error,
    save_checkpoint,
    slim_checkpoint,
)
from .config import ConfigError
from .data import DatasetError, exclude_classes, load_dataset
from .evaluation import evaluate
from .inference import LatentModel, load_model
from .priors import PriorError
from .train_flags import check_output, write_failure


def format_metrics(metrics: dict[str, float]) -> str:
    width = max([16, *map(len, metrics)])
    return "\n".join(f"  {name:<{width}} {value:.4f}" for name, value in metrics.items())


def run_evaluate(args: argparse.Namespace) -> int:
    model = load_model(args.checkpoint, device=args.device)
    dataset = model.metadata["dataset"]
    if model.prior is None:
        raise PriorError(f"cannot evaluate prior match: {model.prior_problem}")
    data = load_dataset(dataset["name"], args.data_dir)
    if list(data.train.image_shape) != list(dataset["image_shape"]):
        raise DatasetError(
            f"the data has {data.train.image_shape} images, the checkpoint expects {dataset['image_shape']}"
        )
    seed = model.training_seed
    data = exclude_classes(data, dataset.get("excluded_classes", []))
    metrics, _ = evaluate(model.model, model.prior, data, seed=seed)
    report = anomaly_report(model.model, model.prior, data.eval, data.excluded) if data.excluded else None
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "metrics": metrics, "anomaly": report}, indent=2))
        return 0
    print(f"{args.checkpoint} on {dataset['name']} ({len(data.eval)} evaluation images)")
    print(format_metrics(metrics))
    if report is not None:
        print(_format_anomaly(report))
    return 0


def _format_anomaly(report: dict) -> str:
    """The ROC AUC table: a row per held-out class (and all of them), a column per anomaly score."""
    keys = list(report["scores"])
    rows = [f"anomaly ROC AUC, held-out against the {report['n_known']} known evaluation images:"]
    rows.append(f"  {'class':<16}" + "".join(f"{key:>9}" for key in keys))
    for name, aucs in [*report["per_class"].items(), ("all held out", report["pooled"])]:
        rows.append(f"  {name:<16}" + "".join(f"{aucs[key]:>9.3f}" for key in keys))
    rows.extend(f"  {key}: {text}" for key, text in report["scores"].items())
    return "\n".join(rows)


def run_info(args: argparse.Namespace) -> int:
    """Describe the checkpoint; one whose weights are broken (NaN/inf) is described too, then refused (exit 2)."""
    model = load_model(args.checkpoint, device="cpu", allow_nonfinite=True)
    summary = model.describe()
    if args.json:
        print(json.dumps(summary, indent=2))
        return _refuse_broken(model)
    prior = summary["prior"]
    params = ", ".join(
        f"{k}={len(v)} points" if isinstance(v, list) else f"{k}={v}" for k, v in prior.get("params", {}).items()
    )
    print(f"{summary['source']}")
    print(
        f"  model      {summary['kind']} ({summary['encoder']} encoder), latent {summary['latent_dim']}-D, "
        f"hidden {summary['hidden_dims']}"
    )
    print(f"  prior      {prior['name']} ({params})")
    ds = summary["dataset"]
    height, width = ds["image_shape"]
    print(f"  dataset    {ds['name']} {height}x{width}, {ds.get('n_train')} train / {ds.get('n_eval')} eval")
    atlas = "yes" if summary["has_atlas"] else "no"
    print(f"  trained    {summary['epochs']} epochs; atlas: {atlas}; snapshots: {summary['snapshots']}")
    if summary["inference_only"]:
        kinds = {"int8": ", 8-bit weight matrices", "fp16": ", fp16", "fp32": ", fp32"}
        stored = kinds.get(summary["stored_weights"], "")
        print(f"  slim copy  inference weights only{stored} (written by export): opens anywhere, cannot be resumed")
    if summary["broken_weights"]:
        print(f"  weights    BROKEN: {len(summary['broken_weights'])} tensors hold NaN or infinite values")
    if summary["metrics"]:
        print("  metrics")
        print(format_metrics(summary["metrics"]))
    return _refuse_broken(model)


def _refuse_broken(model: LatentModel) -> int:
    """0, or, when the weights hold NaN/inf, the one-line error on stderr and 2 (after the description)."""
    if not model.broken_weights:
        return 0
    print(f"error: {nonfinite_error(model.broken_weights, model.source)}", file=sys.stderr)
    return 2


def run_export(args: argparse.Namespace) -> int:
    if args.out.exists() and args.checkpoint.exists() and os.path.samefile(args.out, args.checkpoint):
        raise ConfigError(
            f"--out {args.out.name} is {args.checkpoint.name} itself: its slim copy would replace it and could not "
            "be resumed; give another --out"
        )
    check_output(args.out)
    checkpoint = load_checkpoint(args.checkpoint)
    load_model(args.checkpoint)  # refuse to export what would not open (also weights holding NaN or inf)
    slim = slim_checkpoint(
        checkpoint, half=not args.full_precision, discriminators=not args.drop_discriminators, int8=args.int8
    )
    try:
        check_finite(slim, args.checkpoint)
    except NonFiniteWeightsError:
        raise CheckpointError(
            f"{args.checkpoint.name}: its weights exceed the range of fp16 (up to 65504), so a slim copy would "
            "hold infinite values; export it with --full-precision"
        ) from None
    try:
        path = save_checkpoint(args.out, slim)
    except (OSError, SafetensorError) as err:
        raise write_failure(args.out, err) from None
    before, after = args.checkpoint.stat().st_size, path.stat().st_size
    print(f"wrote {path}: {after / 2**20:.2f} MiB (from {before / 2**20:.2f} MiB)")
    return 0
