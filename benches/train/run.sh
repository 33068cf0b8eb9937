#!/usr/bin/env bash
# Training-step throughput: mllmu next to PyTorch on the same synthetic batch, same run.
#
#   benches/train/run.sh [MODEL_DIR] [DEVICE] [BATCH] [STEPS]
#
# MODEL_DIR defaults to the ~40M checkpoint made by benches/model/ when it exists
# (benches/model/llava-40m), else the tiny fixture. Set RELEASE=1 for an optimised build
# (the only fair comparison; it rebuilds every dependency once), VENV for the PyTorch venv
# (default /work/venv-torch). Each side prints one JSON line; all are appended to
# $OUT (default /tmp/mllmu-train-bench.jsonl).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="${1:-}"
if [[ -z "$MODEL" ]]; then
  if [[ -f benches/model/llava-40m/config.json ]]; then MODEL=benches/model/llava-40m; else MODEL=tests/fixtures/tiny-llava; fi
fi
DEVICE="${2:-cpu}"; BATCH="${3:-4}"; STEPS="${4:-5}"
VENV="${VENV:-/work/venv-torch}"
PROFILE=(); [[ "${RELEASE:-0}" == 1 ]] && PROFILE=(--release)
FEATURES=full; [[ "$DEVICE" == cuda* ]] && FEATURES=full,cuda
OUT="${OUT:-/tmp/mllmu-train-bench.jsonl}"
for MODE in full lora; do
  MLLMU_BENCH_MODEL="$MODEL" MLLMU_BENCH_DEVICE="$DEVICE" MLLMU_BENCH_BATCH="$BATCH" \
  MLLMU_BENCH_STEPS="$STEPS" MLLMU_BENCH_MODE="$MODE" \
    cargo test "${PROFILE[@]}" --features "$FEATURES" --test train_run_bench -- --ignored --nocapture \
    2>/dev/null | grep '^{"' | tee -a "$OUT"
done
if [[ -x "$VENV/bin/python" ]]; then
  "$VENV/bin/python" benches/train/torch_step.py --model "$MODEL" --device "$DEVICE" \
    --batch "$BATCH" --steps "$STEPS" 2>/dev/null | tee -a "$OUT"
else
  echo "no PyTorch venv at $VENV: skipped the PyTorch side" >&2
fi
