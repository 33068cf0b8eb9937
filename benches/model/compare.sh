#!/usr/bin/env bash
# Times the same checkpoint with `mllmu bench-model` (fused kernels, and `--composite`: every
# operation through candle's primitives, the "before") and with PyTorch + transformers
# (benches/model/pytorch_bench.py), back to back at each thread count, and prints per metric
# the three medians and the ratios mllmu / PyTorch (below 1 means mllmu is faster).
#
# The sides take turns: ROUNDS rounds, each running composite, fused and PyTorch once
# (REPEATS timed runs each), and a median is taken over all of one side's runs. On a shared
# machine whose speed drifts over minutes, alternating keeps the drift from landing on one
# side only.
#
# Builds nothing. Needs the release binary and the PyTorch venv:
#   cargo build --release --features full --bin mllmu
#   python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch==2.4.0 transformers==4.45.1 pillow numpy safetensors
#   /work/venv-torch/bin/python benches/model/make_checkpoint.py     # -> target/bench-model-40m
#
# Usage: benches/model/compare.sh [MODEL_DIR]
# Environment: THREADS ("1 2": the thread counts), ROUNDS (3), REPEATS (3), WARMUP (1),
#              OPTIMIZER (transformers | torch),
#              PYTHON (/work/venv-torch/bin/python), MLLMU (the release binary).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODEL=${1:-$ROOT/target/bench-model-40m}
THREADS=${THREADS:-1 2}
ROUNDS=${ROUNDS:-3}
REPEATS=${REPEATS:-3}
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
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS, rounds $ROUNDS, repeats $REPEATS, warm-up $WARMUP" >&2
for r in $(seq "$ROUNDS"); do
    for t in $THREADS; do
        for mode in composite fused; do
            flag=""; [[ $mode == composite ]] && flag="--composite"
            echo "round $r, mllmu ($mode, $t threads): $MLLMU bench-model --model $MODEL --threads $t $flag" >&2
            "$MLLMU" bench-model --model "$MODEL" --threads "$t" --repeats "$REPEATS" \
                --warmup "$WARMUP" --device cpu --dtype f32 --json $flag > "$OUT/mllmu-$mode-$t-$r.json"
        done
        echo "round $r, pytorch ($t threads): $PYTHON benches/model/pytorch_bench.py --optimizer $OPTIMIZER" >&2
        "$PYTHON" "$ROOT/benches/model/pytorch_bench.py" --model "$MODEL" --threads "$t" \
            --repeats "$REPEATS" --warmup "$WARMUP" --device cpu --dtype f32 \
            --optimizer "$OPTIMIZER" --json 2> "$OUT/pytorch.log" > "$OUT/pytorch-$t-$r.json" ||
            { cat "$OUT/pytorch.log" >&2; exit 1; }
    done
done

python3 - "$OUT" "$ROUNDS" $THREADS <<'PY'
import json, statistics, sys
out, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
METRICS = {"forward_b4x128_s": "forward", "generate_50_s": "generate",
           "train_step_b4x128_s": "train_step"}

def load(name):
    """One side's runs of every round, pooled: each metric the median of all samples."""
    runs = [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    pooled = dict(runs[0])
    for k, s in METRICS.items():
        pooled[k] = statistics.median(x for run in runs for x in run["samples"][s])
    pooled["same_ids"] = len({run["ids_sha256"] for run in runs}) == 1
    pooled["rounds"] = runs
    return pooled

sides = {t: [load(f"{side}-{t}") for side in ("mllmu-composite", "mllmu-fused", "pytorch")]
         for t in threads}
_, m0, first = sides[threads[0]]
print(f"params: mllmu {m0['params']}, PyTorch {first['params']}; torch {first['torch']}, "
      f"transformers {first['transformers']}, {first['optimizer']}, attention "
      f"{first['attn_implementation']}; median of {rounds * m0['repeats']} runs per side "
      f"({rounds} alternating rounds of {m0['repeats']})")
ok = True
print(f"{'metric':<22}{'threads':>8}{'composite s':>13}{'fused s':>10}{'PyTorch s':>11}"
      f"{'before':>8}{'after':>8}")
for t in threads:
    c, f, p = sides[t]
    ok &= c["ids_sha256"] == f["ids_sha256"] == p["ids_sha256"]
    ok &= c["same_ids"] and f["same_ids"] and p["same_ids"]
    for k in METRICS:
        print(f"{k:<22}{t:>8}{c[k]:>13.4f}{f[k]:>10.4f}{p[k]:>11.4f}"
              f"{c[k] / p[k]:>8.3f}{f[k] / p[k]:>8.3f}")
print("before = composite / PyTorch, after = fused / PyTorch")
print("each round alone (fused / PyTorch, medians of one round's runs):")
for t in threads:
    _, f, p = sides[t]
    for k in METRICS:
        per = [fr[k] / pr[k] for fr, pr in zip(f["rounds"], p["rounds"])]
        print(f"  {k:<22}{t:>3} threads: " + " ".join(f"{x:.3f}" for x in per))
print(f"same input ids: {ok}; pixel sums {m0['pixel_sum']:.4f} / {first['pixel_sum']:.4f}")
if not ok:
    sys.exit("compare.sh: the benchmarks did not use the same input ids")
PY
