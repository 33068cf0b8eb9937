#!/usr/bin/env bash
# Execute every notebook headlessly on the evcxr `rust` kernel and fail on any cell error.
# usage: notebooks/execute.sh [NOTEBOOK.ipynb ...]   (default: all notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p out
# Keep evcxr's build folder between notebooks of one run (the dependency graph compiles once).
export EVCXR_TMPDIR="${EVCXR_TMPDIR:-$PWD/out/evcxr-tmp}"
mkdir -p "$EVCXR_TMPDIR"
# 04-reproduce-paper runs its tiny variant (the fixture model, the mini benchmark): the full one
# is a GPU job of hours. 03 reads the runs 02 leaves in the temp folder.
export MLLMU_TINY="${MLLMU_TINY:-1}"
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=([0-9]*.ipynb)
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb" .ipynb)
  echo "== executing $nb"
  start=$(date +%s)
  jupyter nbconvert --to notebook --execute \
    --ExecutePreprocessor.kernel_name=rust \
    --ExecutePreprocessor.timeout=3600 \
    --output-dir out --output "$name.executed.ipynb" "$nb"
  echo "== $nb executed in $(( $(date +%s) - start )) s"
  python3 check_outputs.py "out/$name.executed.ipynb" --expect-html --expect-svg
done
