"""Command line: `python -m aae_core {train,evaluate,info,reproduce,export}` (and `--version`); the commands that
read one checkpoint (evaluate, info, export) live in checkpoint_commands.py.

The `train` flags of the model and training settings come from the fields of `ModelConfig` and `TrainConfig`
(config.py); the model kinds from `kinds.KINDS`; the priors from `priors.PRIORS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import torch
from safetensors import SafetensorError

from . import __version__, reproduce
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    stored_model_config,
    stored_prior,
)
from .checkpoint_commands import format_metrics, run_evaluate, run_export, run_info
from .config import (
    ENCODER_NORMS,
    PRECISIONS,
    SCHEDULE,
    ConfigError,
    ModelConfig,
    TrainConfig,
    add_config_arguments,
    config_values,
    layer_sizes,
    positive_float,
    positive_int,
    size_int,
)
from .data import DATASETS, DatasetError, load_dataset
from .devices import DEVICE_CHOICES, DeviceError
from .distributed import is_main_process
from .kinds import check_prior, get_kind
from .priors import PriorError, make_prior, selectable_priors
from .reproduce import EXPERIMENTS
from .state import reschedule
from .train_flags import (
    check_clusters,
    check_output,
    check_resume,
    hold_out_classes,
    prior_params,
    refuse_ignored_flags,
    write_failure,
)
from .trainer import TrainingDiverged, train

USER_ERRORS = (CheckpointError, DatasetError, ConfigError, PriorError, DeviceError, TrainingDiverged)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gets one line instead of the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for PyTorch (0: its default, all cores; 1 is faster when other work shares the CPU)",
    )


def _add_train_arguments(t: argparse.ArgumentParser) -> None:
    add_config_arguments(t, ModelConfig)
    t.add_argument(
        "--prior",
        choices=selectable_priors(),
        default="gaussian",
        help="prior on the code (the AE only reports its match)",
    )
    t.add_argument("--prior-std", type=positive_float, default=1.0, help="std of the gaussian prior")
    t.add_argument("--components", type=size_int, default=10, help="mixture components / swiss-roll segments")
    t.add_argument("--uniform-half-width", type=positive_float, default=2.0, help="uniform prior box half-width")
    t.add_argument("--clusters", type=size_int, default=16, help="clusters of the cluster and dimred models")
    t.add_argument("--dataset", choices=DATASETS, default=None, help="data (default: digits, or the resumed run's)")
    t.add_argument("--data-dir", type=Path, default=None, help="folder of IDX files (mnist etc.) or of images (folder)")
    t.add_argument("--download", action="store_true", help="download missing IDX files into --data-dir")
    t.add_argument(
        "--exclude-classes",
        nargs="+",
        default=None,
        metavar="CLASS",
        help="train without these classes (numbers or names: 9, Sneaker); evaluate scores them as anomalies",
    )
    t.add_argument(
        "--image-size", type=positive_int, default=28, help="side length images of --dataset folder are resized to"
    )
    add_config_arguments(t, TrainConfig)
    t.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where to train")
    t.add_argument(
        "--out",
        type=Path,
        default=None,
        help="checkpoint path (default: runs/MODEL-PRIOR-DATASET.safetensors; with --resume, the resumed file)",
    )
    t.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="continue the run saved in this checkpoint, with its settings: only --epochs, --out, --device, "
        "--threads, --quiet, --data-dir, --download and --image-size may differ from them",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads_argument(t)


def given_train_flags(train_argv: Sequence[str]) -> set[str]:
    """The `train` settings named on the command line `train_argv` (after `train`), by dest; the rest are defaults."""
    shadow = _Parser(prog="aae_core train", add_help=False)
    _add_train_arguments(shadow)
    # argparse fills in a default only where the namespace lacks the attribute: mark every one as unset first.
    unset = object()
    namespace = argparse.Namespace(**dict.fromkeys(vars(shadow.parse_args([])), unset))
    shadow.parse_args(train_argv, namespace)
    return {dest for dest, value in vars(namespace).items() if value is not unset}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aae_core", description="Adversarial autoencoders and baselines.")
    parser.add_argument("--version", action="version", version=f"aae_core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser(
        "train", help="train a model and write a checkpoint", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _add_train_arguments(t)

    e = commands.add_parser("evaluate", help="recompute a checkpoint's metrics on its dataset")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--data-dir", type=Path, default=None, help="dataset folder, for checkpoints not trained on digits")
    e.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    e.add_argument("--json", action="store_true", help="print JSON")

    r = commands.add_parser(
        "reproduce",
        help="train the paper's experiments over seeds and print paper vs ours",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    r.add_argument(
        "experiments",
        nargs="+",
        choices=tuple(EXPERIMENTS),
        metavar="EXPERIMENT",
        help=f"one or more of: {', '.join(EXPERIMENTS)}",
    )
    r.add_argument("--dataset", choices=DATASETS, default="mnist", help="data")
    r.add_argument("--data-dir", type=Path, default=None, help="folder of the IDX files")
    r.add_argument("--seeds", type=positive_int, default=3, help="seeds per experiment (0, 1, ...)")
    r.add_argument("--first-seed", type=int, default=0, help="start the seeds here (runs seeds S..S+N-1)")
    r.add_argument(
        "--validation",
        type=int,
        default=0,
        help="hold out this many training images, score them every epoch and also report the test error of the "
        "best-scoring epoch (0: only the last epoch)",
    )
    r.add_argument("--epochs", type=positive_int, default=100, help="epochs per run")
    r.add_argument("--hidden", type=layer_sizes, default=ModelConfig.hidden_dims, help="hidden sizes of every network")
    r.add_argument(
        "--encoder-norm",
        choices=ENCODER_NORMS,
        default=None,
        help="normalization in the encoder's hidden layers (default: each experiment's own)",
    )
    r.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    r.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="folder for checkpoints and tables")
    r.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16 autocast where supported")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue each seed whose checkpoint is in --out up to --epochs, with its validation record (runs in "
        "pieces); the others start fresh",
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a training setting for every run, as train's flag without dashes (input_mask=0.25); repeatable",
    )
    _add_threads_argument(r)

    x = commands.add_parser("export", help="write an inference-only copy (no optimizer state, fp16)")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("--out", type=Path, required=True, help="where to write the slim checkpoint")
    precision = x.add_mutually_exclusive_group()
    precision.add_argument(
        "--full-precision", action="store_true", help="keep fp32 weights (default: fp16, half the size)"
    )
    precision.add_argument(
        "--int8",
        action="store_true",
        help="weight matrices in 8 bits with a scale per row (a quarter of fp32; the file is checkpoint format 2, "
        "which older aae_core refuses as newer)",
    )
    x.add_argument(
        "--drop-discriminators", action="store_true", help="leave the discriminators out too (the app cannot draw D(z))"
    )

    i = commands.add_parser("info", help="say what a checkpoint is")
    i.add_argument("checkpoint", type=Path)
    i.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run_train(args: argparse.Namespace) -> int:
    """Train a new model, or continue one (--resume), once every flag and the output path have been checked."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    resume = load_checkpoint(args.resume) if args.resume is not None else None
    if resume is not None:
        check_resume(args, resume)
        reschedule(resume, {k: getattr(args, k) for k in SCHEDULE if k in args.given})
        training = resume.metadata["training"]
        target = args.epochs if "epochs" in args.given else int(training["config"]["epochs"])
        # A resumed run trains on with its own settings; the flags only repeat them (checked above).
        model_config = stored_model_config(resume)
        train_config = TrainConfig.from_dict({**training["config"], "epochs": target})
        prior = stored_prior(resume)
        dataset = args.dataset or resume.metadata["dataset"]["name"]
    else:
        dataset = args.dataset or "digits"
    data = load_dataset(dataset, args.data_dir, download=args.download, image_size=args.image_size)
    classes = int(data.train.labels.max()) + 1
    if resume is not None:
        check_clusters(args, get_kind(model_config.kind), classes, train_config.labels, resumed=model_config)
        if int(training["epoch"]) >= target:
            print(
                f"{args.resume} is already at epoch {training['epoch']} (--epochs {target}); nothing to train "
                "(pass a larger --epochs to continue)"
            )
            return 0
        data = hold_out_classes(args, data, train_config.labels, resume)
    else:
        kind = get_kind(args.kind)
        labels = kind.default_labels if args.labels is None else args.labels
        check_clusters(args, kind, classes, labels)
        data = hold_out_classes(args, data, labels)
        model_config = ModelConfig(
            **config_values(args, ModelConfig),
            input_dim=data.train.images.shape[1],
            **kind.sizes(classes, args.clusters, labels),
        )
        train_config = TrainConfig(**{**config_values(args, TrainConfig), "labels": labels})
        refuse_ignored_flags(args, kind, model_config, train_config)
        prior = make_prior(args.prior, args.latent_dim, **prior_params(args, args.prior))
        check_prior(model_config, prior)
    out = args.out or args.resume or Path("runs") / f"{args.kind}-{args.prior}-{data.train.name}.safetensors"
    check_output(out)
    try:
        result = train(
            model_config,
            train_config,
            prior,
            data,
            out,
            device=args.device,
            resume=resume,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; the last epoch checkpoint is in {out} (continue with --resume {out})", file=sys.stderr)
        return 130
    except (OSError, SafetensorError) as err:
        raise write_failure(out, err) from None
    if not is_main_process():  # under torchrun, rank 0 reports for everyone
        return 0
    print(f"wrote {result.path} in {result.seconds:.1f}s")
    print(format_metrics(result.metrics))
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    settings = reproduce.parse_settings(args.set)  # before the data loads, so a typo costs nothing
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir)
    rows = reproduce.run(
        args.experiments,
        data,
        seeds=args.seeds,
        first_seed=args.first_seed,
        validation=args.validation,
        epochs=args.epochs,
        out_dir=args.out,
        hidden=args.hidden,
        encoder_norm=args.encoder_norm,
        device=args.device,
        progress=not args.quiet,
        precision=args.precision,
        settings=settings,
        resume=args.resume,
    )
    print(reproduce.markdown_table(rows))
    md, js = reproduce.write_tables(rows, args.out)
    print(f"wrote {md} and {js}")
    return 0


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "info": run_info,
    "reproduce": run_reproduce,
    "export": run_export,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; for `train`, `given` holds the settings named on it (resume checks need them)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "train":
        args.given = given_train_flags(argv[argv.index("train") + 1 :])
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
