#!/usr/bin/env bash
# One GPU session's work in one call, within about 12 minutes of device time; every figure lands in OUT.
#
#   scripts/gpu_reproduce.sh DATA_DIR [OUT]            # on a CUDA machine: DATA_DIR holds the four MNIST IDX files
#   DRY_RUN=1 scripts/gpu_reproduce.sh DATA_DIR [OUT]  # the same steps on the CPU, tiny, to check the script itself
#
# 1. the device (torch, CUDA, GPU name, memory) -> OUT/device.txt
# 2. the trainer's throughput against the classic loop, and 15,000 minibatches of 100 end to end
#    (docs/PERFORMANCE.md's GPU targets: under 30 s, >= 10x the classic loop) -> OUT/throughput.txt
# 3. the semi-supervised 100-label experiment at the paper's size (1000-1000 MLPs) and the row's settings, one seed,
#    bf16, scored on a 10,000-image validation split every epoch; its checkpoint is written every epoch (a few seconds
#    apart), so a run its time limit stops goes on with `python -m aae_core train --resume CKPT --epochs N` (its
#    table is then not written: set EPOCHS to what fits) -> OUT/reproduce/, log in OUT/semi-supervised-100.log
# 4. clustering with 16 clusters, if time is left -> OUT/reproduce/, log in OUT/clustering-16.log
# Each step has its own time limit (THROUGHPUT_S, SEMI_S, CLUSTER_S seconds), so one slow step cannot eat the rest.
set -uo pipefail

DATA_DIR=${1:?usage: scripts/gpu_reproduce.sh DATA_DIR [OUT]}
OUT=${2:-gpu-results}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"

if [[ -n "${DRY_RUN:-}" ]]; then
    DEVICE=cpu
    THROUGHPUT=(--device cpu --batch-sizes 100 --repeats 1 --samples 2000)
    EXPERIMENT=(--dataset digits --epochs 2 --hidden 64,64 --validation 200 --threads 1)
    THROUGHPUT_S=${THROUGHPUT_S:-120} SEMI_S=${SEMI_S:-120} CLUSTER_S=${CLUSTER_S:-120}
else
    DEVICE=cuda
    THROUGHPUT=(--device cuda --full-run)
    EXPERIMENT=(--dataset mnist --data-dir "$DATA_DIR" --epochs "${EPOCHS:-300}" --precision bf16 --validation 10000)
    THROUGHPUT_S=${THROUGHPUT_S:-150} SEMI_S=${SEMI_S:-420} CLUSTER_S=${CLUSTER_S:-120}
fi

python - "$DEVICE" > "$OUT/device.txt" 2>&1 <<'PY'
import sys

import torch

print("torch", torch.__version__, "| CUDA available:", torch.cuda.is_available())
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print("GPU:", props.name, f"| {props.total_memory / 2**30:.0f} GiB | capability {props.major}.{props.minor}")
    print("bf16 supported:", torch.cuda.is_bf16_supported())
elif sys.argv[1] == "cuda":
    sys.exit("no CUDA device: run with DRY_RUN=1 to check the script on the CPU")
PY
status=$?
cat "$OUT/device.txt"
[[ $status -eq 0 ]] || exit $status

step() {  # step NAME SECONDS COMMAND...: run it under its time limit, log to OUT/NAME.log, say how it ended
    local name=$1 seconds=$2
    shift 2
    local started=$SECONDS
    timeout --signal=INT "$seconds" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local verdict="finished"
    [[ $rc -eq 124 || $rc -eq 130 ]] && verdict="stopped at its ${seconds} s limit (its checkpoint resumes with train --resume)"
    [[ $rc -ne 0 && $verdict == "finished" ]] && verdict="failed (exit $rc)"
    echo "$name: $verdict after $((SECONDS - started)) s" | tee -a "$OUT/steps.txt"
}

step throughput "$THROUGHPUT_S" python -m benchmarks.train_throughput "${THROUGHPUT[@]}"
cp "$OUT/throughput.log" "$OUT/throughput.txt"
# The row's own settings (input mask 0.2, hidden dropout 0.5, the decay after epoch 60: what the CPU validation runs
# chose, docs/REPRODUCTION.md); SET="input_mask=0.5 hidden_dropout=0" runs it with others.
overrides=()
for setting in ${SET:-}; do overrides+=(--set "$setting"); done
step semi-supervised-100 "$SEMI_S" python -m aae_core reproduce semi-supervised-100 --seeds 1 --quiet \
    "${overrides[@]}" --device "$DEVICE" --out "$OUT/reproduce" "${EXPERIMENT[@]}"
step clustering-16 "$CLUSTER_S" python -m aae_core reproduce clustering-16 --seeds 1 --quiet \
    --device "$DEVICE" --out "$OUT/reproduce" "${EXPERIMENT[@]}"
echo "figures in $OUT: device.txt throughput.txt steps.txt *.log reproduce/"
