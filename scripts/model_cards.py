"""Write checkpoints/README.md: one model card per shipped checkpoint, its metrics measured by `evaluate`.

Usage: python scripts/model_cards.py DATA_DIR [CHECKPOINT_DIR]
The metrics are recomputed on the MNIST test set from the shipped (fp16) files, so every number on a card is what
`python -m aae_core evaluate CHECKPOINT --data-dir DATA_DIR` prints. The training command, seed, epochs, device and
wall time come from CHECKPOINT_DIR/TRAINING_LOG.md, written by scripts/train_checkpoints.sh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aae_core.data import exclude_classes, load_dataset
from aae_core.evaluation import evaluate
from aae_core.inference import load_model
from aae_core.kinds import KINDS

# What a reader should know about one checkpoint beyond its kind (measured; docs/TRAINING_NOTES.md has the runs).
NOTES = {
    "aae-2d-no9": "Trained without the 9s, for the Anomaly scores page (256-256 MLPs, to fit the folder's budget); "
    "its metrics are of the known classes, the anomaly_auc_* of the 1,009 test 9s against them. The 9s land among "
    "the 4s and 7s, so none of its scores tells them apart (docs/ANOMALY.md).",
    "semi-supervised-100": "The paper's 1000-1000 MLPs, trained with 100 labels and the settings of `reproduce "
    "semi-supervised-100` (--input-mask 0.2, --hidden-dropout 0.5, a tenth of the learning rates after epoch 60), "
    "all chosen on a validation split: its seed 0 (the lowest validation error of three seeds) to the epoch "
    "validation chose, 80, with the last 10,000 training images held out (--hold-out 10000; docs/REPRODUCTION.md). "
    "Trained on the AMD EPYC machine, whose run of this command the validation split prefers (3.04 % against 3.25 % "
    "for the Intel Xeon's, shipped before at 3.29 %). Exported with --drop-discriminators (the app draws D(z) for "
    "2-D codes only) and --int8 (8-bit weights, to fit the 5 MiB a shipped file may take; docs/CHECKPOINT_SIZES.md). "
    "Not the paper's 1.90 %.",
    "aae-8d-gaussian": "Exported with --int8 (8-bit weights), which makes room in the folder for the 1000-1000 "
    "semi-supervised-100 and costs it little: recon_nll 91.69 against 91.68 for its fp16 copy "
    "(docs/CHECKPOINT_SIZES.md).",
    "dimred-2d-20": "Paper §7: 2-D codes W·y + z with 20 learned cluster heads (the crosses on the latent map), no "
    "labels, 256-256 MLPs to fit the folder's budget. The heads learn at their own rate (--head-lr 6e-3), which "
    "keeps them the margin of 4 apart (at the networks' rate they stayed bunched). Not the paper's quality: its "
    "clusters overlap (its cluster_error_paper), docs/REPRODUCTION.md.",
    "cluster-16": "16 clusters, no labels, batch norm in the encoder (paper A.3). The validation run of "
    "`reproduce clustering-16` with the lowest validation error of five seeds (seed 1) at its best epoch, 80 "
    "(`--hold-out 10000`: 50,000 training images; docs/REPRODUCTION.md). Exported with --drop-discriminators. Not "
    "the paper's quality (9.55 %): all 16 clusters are used, but some mix 4 and 9, 9 and 6, 0 and 7, 3 and 2 (its "
    "cluster_error_paper).",
    "labelled-prior-2d-mixture": "The app opens this one first: ten blobs on a circle, one digit each.",
    "labelled-prior-2d-swissroll": "Each digit takes its own stretch of the spiral (paper Fig. 4, right).",
    "aae-2d-mixture": "No labels: the codes fill the ten modes, but digits straddle them (component_purity), and "
    "the modes hold unequal shares of the codes, which prior_swd penalises; labelled-prior-2d-mixture gives one "
    "digit per mode. The AAE vs VAE page pairs it with vae-2d-mixture (same size and budget).",
    "aae-2d-swissroll": "Follows the spiral (prior_gap near the 0.12 target); without labels the digits share "
    "stretches of it (component_purity). One seed: docs/PRIOR_MATCH.md says how much the gap varies.",
}
SHOWN = [
    "recon_nll",
    "recon_mse",
    "prior_swd",
    "prior_mmd",
    "prior_gap",
    "component_purity",
    "knn_accuracy",
    "classification_error",
    "cluster_error_paper",
    "cluster_error_majority",
    "anomaly_auc_recon",
    "anomaly_auc_prior",
    "anomaly_auc_disc",
]


def training_log(folder: Path) -> dict[str, list[str]]:
    rows = {}
    log = folder / "TRAINING_LOG.md"
    if log.exists():
        for line in log.read_text().splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def total_minutes(log: dict[str, list[str]]) -> int:
    """Training minutes of every logged model, together."""
    return round(sum(int(row[5]) for row in log.values()) / 60)


def card(path: Path, data_dir: Path, log: dict[str, list[str]]) -> tuple[str, dict[str, float]]:
    model = load_model(path)
    data = load_dataset(model.metadata["dataset"]["name"], data_dir)
    data = exclude_classes(data, model.metadata["dataset"].get("excluded_classes", []))
    metrics, _ = evaluate(model.model, model.prior, data, seed=model.metadata["training"]["config"]["seed"])
    meta = model.metadata
    prior = meta["prior"]
    what = " ".join(filter(None, [KINDS[model.kind].blurb, NOTES.get(path.stem)]))
    lines = [f"### {path.stem}", "", what, ""]
    lines.append(
        f"- {model.kind}, {model.latent_dim}-D code, hidden {list(model.config.hidden_dims)}, prior {prior['name']} "
        f"({', '.join(f'{k}={v}' for k, v in prior['params'].items() if k != 'dim')}), "
        f"{meta['training']['epoch']} epochs, {path.stat().st_size / 2**20:.2f} MiB"
    )
    if path.stem in log:
        _, flags, seed, epochs, device, seconds = log[path.stem]
        flags = flags.strip("`")
        seed_flag = "" if "--seed" in flags.split() else f" --seed {seed}"  # a model that names its own seed
        lines.append(
            f"- trained with `python -m aae_core train {flags} --dataset mnist --epochs {epochs}{seed_flag}` "
            f"on {device} in {seconds} s, then `python -m aae_core export`"
        )
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {metrics[name]:.4f} |" for name in SHOWN if name in metrics]
    return "\n".join(lines) + "\n", metrics


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    data_dir = Path(argv[0])
    folder = Path(argv[1]) if len(argv) > 1 else Path("checkpoints")
    log = training_log(folder)
    cards, measured = [], {}
    for path in sorted(folder.glob("*.safetensors")):
        text, metrics = card(path, data_dir, log)
        cards.append(text)
        measured[path.stem] = metrics
        print(f"{path.stem}: " + ", ".join(f"{k}={metrics[k]:.4f}" for k in SHOWN if k in metrics))
    total_mib = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 2**20
    header = (
        "# Shipped checkpoints\n\n"
        "Trained on MNIST by `PRECISION=bf16 THREADS=1 scripts/train_checkpoints.sh ../shared/data/mnist` "
        f"(seed, epochs, device and wall time of each in TRAINING_LOG.md: {total_minutes(log)} min for all "
        f"{len(cards)} on a 2-core CPU, most with one thread beside other jobs), slimmed to inference-only fp16 "
        "files by `python -m aae_core export` (two in 8 bits, `export --int8`, as their cards say); "
        f"{total_mib:.1f} MiB in all. The hidden size, 512 (1000 for semi-supervised-100), is measured against "
        "256 and 1000, and 8-bit weights against fp16, in docs/CHECKPOINT_SIZES.md. Every number below is what "
        "`python -m aae_core evaluate CHECKPOINT --data-dir DIR` prints for the shipped file (10,000 test images); "
        "`cards.json` holds them for the test that checks the files against their cards. Metrics: see the "
        "README's *Metrics*.\n\n"
    )
    (folder / "README.md").write_text(header + "\n".join(cards))
    (folder / "cards.json").write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    print(f"wrote {folder / 'README.md'} and {folder / 'cards.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
