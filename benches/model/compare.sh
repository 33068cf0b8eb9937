#!/usr/bin/env bash
# Times the same checkpoint with `mllmu bench-model` and with PyTorch + transformers
# (benches/model/pytorch_bench.py), one after the other with the same thread count, and
# prints metric, mllmu s, PyTorch s, ratio (mllmu / PyTorch; below 1 means mllmu is faster).
#
# Builds nothing. Needs the release binary and the PyTorch venv:
#   cargo build --release --features full --bin mllmu
#   python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch==2.4.0 transformers==4.45.1 pillow numpy safetensors
#   /work/venv-torch/bin/python benches/model/make_checkpoint.py     # -> target/bench-model-40m
#
# Usage: benches/model/compare.sh [MODEL_DIR]
# Environment: THREADS (2), REPEATS (5), WARMUP (1), OPTIMIZER (transformers | torch),
#              PYTHON (/work/venv-torch/bin/python), MLLMU (the release binary).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODEL=${1:-$ROOT/target/bench-model-40m}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-5}
WARMUP=${WARMUP:-1}
OPTIMIZER=${OPTIMIZER:-transformers}
PYTHON=${PYTHON:-/work/venv-torch/bin/python}
if [[ -z "${MLLMU:-}" ]]; then
    TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' ||
        echo "$ROOT/target")
    MLLMU=$TARGET/release/mllmu
fi

[[ -x "$MLLMU" ]] || { echo "compare.sh: no release binary at $MLLMU
hint: cargo build --release --features full --bin mllmu (or set MLLMU)" >&2; exit 1; }
[[ -x "$PYTHON" ]] || { echo "compare.sh: no python at $PYTHON
hint: create the venv (see the header of this script) or set PYTHON" >&2; exit 1; }
[[ -f "$MODEL/config.json" ]] || { echo "compare.sh: no checkpoint at $MODEL
hint: $PYTHON benches/model/make_checkpoint.py --out $MODEL" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS, repeats $REPEATS, warm-up $WARMUP" >&2
echo "mllmu:   $MLLMU bench-model --model $MODEL --threads $THREADS --device cpu --dtype f32" >&2
"$MLLMU" bench-model --model "$MODEL" --threads "$THREADS" --repeats "$REPEATS" \
    --warmup "$WARMUP" --device cpu --dtype f32 --json > "$OUT/mllmu.json"
echo "pytorch: $PYTHON benches/model/pytorch_bench.py --optimizer $OPTIMIZER" >&2
"$PYTHON" "$ROOT/benches/model/pytorch_bench.py" --model "$MODEL" --threads "$THREADS" \
    --repeats "$REPEATS" --warmup "$WARMUP" --device cpu --dtype f32 \
    --optimizer "$OPTIMIZER" --json 2> "$OUT/pytorch.log" > "$OUT/pytorch.json" ||
    { cat "$OUT/pytorch.log" >&2; exit 1; }

python3 - "$OUT/mllmu.json" "$OUT/pytorch.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))
print(f"params: mllmu {m['params']}, PyTorch {p['params']}; threads: mllmu {m['threads']}, "
      f"PyTorch {p['threads']}; torch {p['torch']}, transformers {p['transformers']}, "
      f"{p['optimizer']}, attention {p['attn_implementation']}")
same_ids = m["ids_sha256"] == p["ids_sha256"]
print(f"same input ids: {same_ids}; pixel sums {m['pixel_sum']:.4f} / {p['pixel_sum']:.4f}")
print(f"{'metric':<22}{'mllmu s':>10}{'PyTorch s':>12}{'ratio':>8}")
for k in ("forward_b4x128_s", "generate_50_s", "train_step_b4x128_s"):
    print(f"{k:<22}{m[k]:>10.4f}{p[k]:>12.4f}{m[k] / p[k]:>8.3f}")
if not same_ids:
    sys.exit("compare.sh: the two benchmarks did not use the same input ids")
PY
