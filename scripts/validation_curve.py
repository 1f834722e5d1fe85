"""Per-epoch validation error of a semi-supervised or clustering AAE, on a split carved from the training set.

The test set stays untouched: the last VALIDATION training images are held out and scored after every epoch, so
settings (and any "best" epoch) are chosen on them, never on the test set. This is how the settings behind
docs/REPRODUCTION.md were compared.

    PYTHONPATH=. python scripts/validation_curve.py --data-dir ../shared/data/mnist --kind semi-supervised \
        --labels 100 --epochs 15 --instance-noise 0.3

Screens of one optimizer's rate or betas (`--scale-lr classifier=0.25`, `--betas generator=0.5:0.999`), of an
instance noise that shrinks during training (`--instance-noise-from 20=0.15`), and of an exponential moving average
of the weights (`--ema 0.999`, scored beside the live weights as ema_*) need no change to the package. Nor do two
probes of the classification side: `--classifier-only` trains q(y|x) on the labelled images alone (the same encoder,
inputs and optimizer, no reconstruction or adversary: the baseline the AAE should beat); `--hidden-dropout P` is
train's flag of that name.

`--sgd generator=0.01` trains one optimizer's parameters with SGD and momentum 0.9 instead of Adam.
`--hard-y` probes the categorical part (not in the paper): during training the decoder gets the one-hot of q(y|x)'s
argmax in place of the softmax, with the softmax's gradient (straight-through), so a soft y cannot carry style.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import torch

from aae_core.config import ENCODER_NORMS, ModelConfig, TrainConfig
from aae_core.data import ImageData, load_dataset
from aae_core.kinds import KINDS, Kind, classify_labelled
from aae_core.loop import train_epoch
from aae_core.metrics import clustering_error, encode_all
from aae_core.priors import make_prior
from aae_core.state import TrainingState, new_state


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder of the MNIST IDX files")
    p.add_argument("--kind", choices=("semi-supervised", "cluster"), default="semi-supervised")
    p.add_argument("--labels", type=int, default=100, help="semi-supervised: labelled training examples")
    p.add_argument("--clusters", type=int, default=16, help="cluster: number of clusters")
    p.add_argument("--latent-dim", type=int, default=None, help="style size (default: 10, or 5 for cluster)")
    p.add_argument("--hidden", type=int, default=1000, help="width of every hidden layer (two per network)")
    p.add_argument("--encoder-norm", choices=ENCODER_NORMS, default="none", help="normalization in the encoder")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--validation", type=int, default=10000, help="training images held out for validation")
    p.add_argument("--instance-noise", type=float, default=TrainConfig.instance_noise)
    p.add_argument("--labelled-reconstruction", action="store_true")
    p.add_argument("--input-noise", type=float, default=TrainConfig.input_noise, help="denoising: pixel noise std")
    p.add_argument("--input-mask", type=float, default=TrainConfig.input_mask, help="denoising: share of pixels zeroed")
    p.add_argument("--categorical-adversarial", choices=("phases", "joint"), default="phases")
    p.add_argument("--adversarial-weight", type=float, default=TrainConfig.adversarial_weight)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument(
        "--scale-lr",
        action="append",
        default=[],
        metavar="OPTIMIZER=FACTOR",
        help="multiply one optimizer's rate (autoencoder, discriminator, generator, classifier)",
    )
    p.add_argument("--betas", action="append", default=[], metavar="OPTIMIZER=B1:B2", help="one optimizer's betas")
    p.add_argument(
        "--sgd",
        action="append",
        default=[],
        metavar="OPTIMIZER=LR",
        help="replace one optimizer's Adam by SGD with momentum 0.9 at this rate (the paper's optimizer type)",
    )
    p.add_argument(
        "--instance-noise-from",
        action="append",
        default=[],
        metavar="EPOCH=STD",
        help="the instance noise from this epoch on (repeatable: a step schedule)",
    )
    p.add_argument("--ema", type=float, default=0.0, help="also score an EMA of the weights with this decay per step")
    p.add_argument(
        "--classifier-only",
        action="store_true",
        help="semi-supervised: train only the classification phase (a supervised baseline of the same encoder)",
    )
    p.add_argument("--hidden-dropout", type=float, default=0.0, help="share of the encoder's hidden units dropped")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing of the classification phase")
    p.add_argument(
        "--labelled-input-mask", type=float, default=0.0, help="share of labelled pixels zeroed in that phase"
    )
    p.add_argument(
        "--hard-y", action="store_true", help="training decodes the one-hot argmax of q(y|x) (straight-through)"
    )
    return p.parse_args()


def pairs(items: list[str], form: str, value: Callable[[str], Any] = float, key: Callable[[str], Any] = str) -> dict:
    """NAME=VALUE flags as a dict; `form` names the expected shape in the error."""
    try:
        return {key(name): value(v) for name, v in (item.split("=", 1) for item in items)}
    except ValueError:
        raise SystemExit(f"expected {form}, got {' '.join(items)}") from None


def beta_pair(text: str) -> tuple[float, float]:
    """ "0.5:0.999" as (0.5, 0.999)."""
    b1, b2 = (float(v) for v in text.split(":"))
    return b1, b2


def adjust_optimizers(
    state: TrainingState, scale_lr: dict[str, float], betas: dict[str, tuple[float, float]], sgd: dict[str, float]
) -> None:
    """Scale the named optimizers' rates, set their betas, or replace them by SGD with momentum 0.9 at the given
    rates over the same parameters (a screen, not a package setting)."""
    unknown = sorted((set(scale_lr) | set(betas) | set(sgd)) - set(state.optimizers))
    if unknown:
        raise SystemExit(f"no optimizer {', '.join(unknown)}: this model has {', '.join(state.optimizers)}")
    if set(sgd) & (set(scale_lr) | set(betas)):
        raise SystemExit("--sgd gives an optimizer its own rate and no betas: leave out --scale-lr and --betas for it")
    for name, factor in scale_lr.items():
        for group in state.optimizers[name].param_groups:
            group["lr"] *= factor
    for name, (b1, b2) in betas.items():
        for group in state.optimizers[name].param_groups:
            group["betas"] = (b1, b2)
    for name in sorted(set(scale_lr) | set(betas)):
        group = state.optimizers[name].param_groups[0]
        print(f"optimizer {name}: lr={group['lr']:g} betas={group['betas'][0]:g},{group['betas'][1]:g}", flush=True)
    for name, rate in sgd.items():
        params = [p for group in state.optimizers[name].param_groups for p in group["params"]]
        state.optimizers[name] = torch.optim.SGD(params, lr=rate, momentum=0.9)
        print(f"optimizer {name}: SGD lr={rate:g} momentum=0.9", flush=True)


def with_ema(kind: Kind, ema_model: torch.nn.Module, decay: float) -> Kind:
    """`kind` whose every update also moves `ema_model`'s weights towards the trained model's."""

    def update(model, *args, **kwargs):
        losses = kind.update(model, *args, **kwargs)
        with torch.no_grad():
            for averaged, live in zip(ema_model.parameters(), model.parameters(), strict=True):
                averaged.lerp_(live, 1 - decay)
        return losses

    return dataclasses.replace(kind, update=update)


def classifier_only(kind: Kind) -> Kind:
    """`kind` whose update is the classification phase alone: q(y|x) learns from the labelled minibatch only."""

    def update(model, batch, prior, optimizers, generator, autocast, config):
        return {"class": classify_labelled(model, batch, optimizers["classifier"], generator, autocast, config)}

    return dataclasses.replace(kind, update=update, losses=("class",))


def decode_hard_y(model: torch.nn.Module) -> None:
    """While training, the decoder's input y (its last `categories` columns) is replaced by the one-hot of its
    argmax, its gradient passed to the softmax unchanged (straight-through)."""
    categories = model.config.num_classes

    def harden(module: torch.nn.Module, args: tuple) -> tuple | None:
        if not module.training:
            return None
        (code,) = args
        y = code[:, -categories:]
        one_hot = torch.nn.functional.one_hot(y.argmax(1), categories).to(y.dtype)
        return (torch.cat([code[:, :-categories], y + (one_hot - y).detach()], dim=1),)

    model.decoder.register_forward_pre_hook(harden)


def noise_at(epoch: int, default: float, schedule: dict[int, float]) -> float:
    """The instance noise of the epoch after `epoch` completed ones, by the step schedule."""
    started = [start for start in schedule if start <= epoch]
    return schedule[max(started)] if started else default


def validation_scores(
    model: torch.nn.Module, kind_name: str, train: ImageData, val: ImageData, n_train: int
) -> dict[str, float]:
    """Validation error (semi-supervised), or both clustering errors and the clusters used (cluster)."""
    with torch.no_grad():
        probs = encode_all(model, val.images, part="y_logits").softmax(-1)
        if kind_name == "semi-supervised":
            return {"val_error": float((probs.argmax(1) != val.labels).float().mean())}
        fit = train.subset(torch.arange(min(10000, n_train)))
        fit_probs = encode_all(model, fit.images, part="y_logits").softmax(-1)
        scores = {
            f"val_error_{protocol}": clustering_error(probs, val.labels, fit_probs, fit.labels, protocol)
            for protocol in ("paper", "majority")
        }
        scores["clusters_used"] = int(probs.argmax(1).unique().numel())
        return scores


def main() -> None:
    args = parse_args()
    scale_lr = pairs(args.scale_lr, "--scale-lr OPTIMIZER=FACTOR")
    betas = pairs(args.betas, "--betas OPTIMIZER=B1:B2", beta_pair)
    sgd = pairs(args.sgd, "--sgd OPTIMIZER=LR")
    noise_schedule = pairs(args.instance_noise_from, "--instance-noise-from EPOCH=STD", key=int)
    if args.threads:
        torch.set_num_threads(args.threads)
    full = load_dataset("mnist", args.data_dir).train
    n_train = len(full) - args.validation
    train, val = full.subset(torch.arange(n_train)), full.subset(torch.arange(n_train, len(full)))
    kind = KINDS[args.kind]
    latent = args.latent_dim or (10 if args.kind == "semi-supervised" else 5)
    hidden = (args.hidden, args.hidden)
    labels = args.labels if args.kind == "semi-supervised" else 0
    config = ModelConfig(
        kind=args.kind,
        latent_dim=latent,
        hidden_dims=hidden,
        disc_hidden_dims=hidden,
        encoder_norm=args.encoder_norm,
        **kind.sizes(int(full.labels.max()) + 1, args.clusters, labels),
    )
    settings = TrainConfig(
        epochs=args.epochs,
        seed=args.seed,
        labels=labels,
        precision=args.precision,
        instance_noise=args.instance_noise,
        labelled_reconstruction=args.labelled_reconstruction,
        input_noise=args.input_noise,
        input_mask=args.input_mask,
        hidden_dropout=args.hidden_dropout,
        label_smoothing=args.label_smoothing,
        labelled_input_mask=args.labelled_input_mask,
        categorical_adversarial=args.categorical_adversarial,
        adversarial_weight=args.adversarial_weight,
        lr=args.lr,
        snapshots_per_epoch=0,
    )
    state = new_state(config, settings, torch.device("cpu"))
    adjust_optimizers(state, scale_lr, betas, sgd)
    if args.hard_y:
        decode_hard_y(state.model)
    ema_model = copy.deepcopy(state.model).eval() if args.ema else None
    update_kind = classifier_only(kind) if args.classifier_only else kind
    update_kind = with_ema(update_kind, ema_model, args.ema) if ema_model is not None else update_kind
    labels, _ = kind.visible_labels(settings, train.labels)
    pool = (train.images[labels >= 0], labels[labels >= 0]) if "class" in kind.loss_names(settings) else None
    print(json.dumps(vars(args)), flush=True)
    prior = make_prior("gaussian", latent)
    started = time.perf_counter()
    for _ in range(args.epochs):
        epoch_settings = dataclasses.replace(
            settings, instance_noise=noise_at(state.epoch, settings.instance_noise, noise_schedule)
        )
        losses = train_epoch(
            state, update_kind, prior, train.images, epoch_settings, val.images[:1], labels=labels, pool=pool
        )
        state.epoch += 1
        scores = validation_scores(state.model, args.kind, train, val, n_train)
        if ema_model is not None:
            ema = validation_scores(ema_model, args.kind, train, val, n_train)
            scores.update({f"ema_{name}": value for name, value in ema.items()})
        elapsed = time.perf_counter() - started
        shown = {**scores, **{k: round(v, 4) for k, v in losses.items()}}
        if noise_schedule:
            shown["instance_noise"] = epoch_settings.instance_noise
        print(f"epoch {state.epoch} {elapsed:.0f}s " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()), flush=True)


if __name__ == "__main__":
    main()
