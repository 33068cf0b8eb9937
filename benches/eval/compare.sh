#!/usr/bin/env bash
# A full `mllmu eval` (four sets, the reference protocol, default settings) against the
# reference's loop (benches/eval/reference_loop.py: one transformers `generate` per question,
# the same prompts and images), on the same checkpoint and benchmark, back to back, REPEATS
# times. Prints each run's wall times (whole process: start-up, loading, generation, scoring,
# files) and the median ratio reference / mllmu (above 1: mllmu is faster).
#
# Builds nothing. Needs the release binary and a Python with torch, transformers, pandas and
# pyarrow (benches/model/compare.sh's venv plus `pip install pandas pyarrow`).
#
# Usage: benches/eval/compare.sh [MODEL_DIR [BENCH_DIR]]
#        (default: the tiny fixture checkpoint on the fixture sample of the benchmark)
# Environment: REPEATS (3), THREADS (2), PYTHON (/work/venv-torch/bin/python), MLLMU.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODEL=${1:-$ROOT/tests/fixtures/tiny-llava}
BENCH=${2:-$ROOT/tests/fixtures/mllmu-sample}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/work/venv-torch/bin/python}
MLLMU=${MLLMU:-$ROOT/target/release/mllmu}

[[ -x "$MLLMU" ]] || { echo "compare.sh: no release binary at $MLLMU
hint: cargo build --release --features full --bin mllmu (or set MLLMU)" >&2; exit 1; }
[[ -x "$PYTHON" ]] || { echo "compare.sh: no python at $PYTHON (set PYTHON)" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads, $REPEATS runs" >&2
for i in $(seq "$REPEATS"); do
    rm -rf "$OUT/eval"
    t0=$(date +%s%N)
    RAYON_NUM_THREADS=$THREADS "$MLLMU" eval --model "$MODEL" --bench "$BENCH" --out "$OUT/eval" \
        --json > "$OUT/summary.json" 2> "$OUT/mllmu.log" || { cat "$OUT/mllmu.log" >&2; exit 1; }
    t1=$(date +%s%N)
    echo "{\"mllmu_ms\": $(( (t1 - t0) / 1000000 ))}" > "$OUT/mllmu-$i.json"
    "$PYTHON" "$ROOT/benches/eval/reference_loop.py" --report "$OUT/eval/report.json" \
        --model "$MODEL" --bench "$BENCH" --threads "$THREADS" > "$OUT/reference-$i.json" \
        2> "$OUT/reference.log" || { cat "$OUT/reference.log" >&2; exit 1; }
done

python3 - "$OUT" "$REPEATS" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    m = json.load(open(f"{out}/mllmu-{i}.json"))
    r = json.load(open(f"{out}/reference-{i}.json"))
    rows.append((m["mllmu_ms"] / 1000, r["total_s"], r["loop_s"], r["questions"], r["same_raw_output"], r["torch"]))
print(f"questions: {rows[0][3]}; reference answers equal to mllmu's: {rows[0][4]} of {rows[0][3]}; torch {rows[0][5]}")
print(f"{'run':>3}  {'mllmu s':>8}  {'reference s':>11}  {'(its loop s)':>12}  {'ratio':>6}")
for i, (m, r, loop, *_rest) in enumerate(rows, 1):
    print(f"{i:>3}  {m:8.2f}  {r:11.2f}  {loop:12.2f}  {r / m:6.1f}")
med = lambda k: statistics.median(x[k] for x in rows)
print(f"median: mllmu {med(0):.2f} s, reference {med(1):.2f} s: {med(1) / med(0):.1f}x faster")
PY
