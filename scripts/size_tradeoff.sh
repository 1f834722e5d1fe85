#!/usr/bin/env bash
# Size against quality of the shipped 2-D mixture AAE: train it at several hidden sizes with the shipped settings,
# slim each like scripts/train_checkpoints.sh does, and print the file size beside what `evaluate` measures.
#
#   scripts/size_tradeoff.sh DATA_DIR [HIDDEN ...]      # default sizes: 256 512 1000
#
# Environment: EPOCHS (10), PRECISION (bf16), THREADS (0), RUNS (runs/sizes).
set -euo pipefail
data=${1:?usage: $0 DATA_DIR [HIDDEN ...]}
shift
sizes=("${@:-256 512 1000}")
read -r -a sizes <<< "${sizes[*]}"
runs=${RUNS:-runs/sizes}
mkdir -p "$runs"
echo "| hidden | slim file (MiB) | ten such models (MiB) | train (s) | recon_nll | prior_swd | prior_gap | component_purity | knn_accuracy |"
echo "|---|---|---|---|---|---|---|---|---|"
for h in "${sizes[@]}"; do
  full="$runs/aae-2d-mixture-$h.safetensors"
  slim="$runs/aae-2d-mixture-$h-slim.safetensors"
  start=$(date +%s)
  python -m aae_core train --model aae --prior mixture --latent-dim 2 --hidden "$h,$h" --disc-hidden "$h,$h" \
    --dataset mnist --data-dir "$data" --epochs "${EPOCHS:-10}" --seed 0 --precision "${PRECISION:-bf16}" \
    --threads "${THREADS:-0}" --quiet --out "$full" > /dev/null
  seconds=$(( $(date +%s) - start ))
  python -m aae_core export "$full" --out "$slim" > /dev/null
  python - "$slim" "$data" "$h" "$seconds" <<'PY'
import json, subprocess, sys
from pathlib import Path
slim, data, hidden, seconds = sys.argv[1:]
out = subprocess.run([sys.executable, "-m", "aae_core", "evaluate", slim, "--data-dir", data, "--json"],
                     check=True, capture_output=True, text=True).stdout
m = json.loads(out)
m = m.get("metrics", m)
mib = Path(slim).stat().st_size / 2**20
cells = [f"{m[k]:.3f}" for k in ("recon_nll", "prior_swd", "prior_gap", "component_purity", "knn_accuracy")]
print(f"| {hidden} | {mib:.2f} | {10 * mib:.1f} | {seconds} | " + " | ".join(cells) + " |")
PY
done
