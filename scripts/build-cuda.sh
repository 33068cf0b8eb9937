#!/usr/bin/env bash
# Build `mllmu` with candle's CUDA backend on a machine WITHOUT a GPU, and pack what a GPU
# machine needs into target/gpu-bundle/.
#
#   scripts/build-cuda.sh                 # build + bundle
#   CUDA_COMPUTE_CAP=80 scripts/build-cuda.sh   # A100 instead of H100/H200 (default 90)
#
# The recipe is the one verified in ../shared/STACK.md ("Building with CUDA"): nvcc and the CUDA
# libraries come from PyPI's CUDA 13.0.x wheels (pinned to match driver 580 / CUDA 13.0 on the GPU
# machines: newer PTX does not load there), unversioned `.so` links are added, and a link-time stub
# `libcuda.so` stands in for the driver. The stub is for linking only: never run the CUDA binary
# here. The GPU machine has the driver and CUDA 13 libraries (PyTorch's), but no Rust and no
# network, so the binary is carried there as built here.
#
# Set PIP_FIND_LINKS to a folder of already downloaded wheels to build without the network.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$(date +%s)
stamp() { echo "[build-cuda +$(( $(date +%s) - t0 ))s] $*"; }

cap=${CUDA_COMPUTE_CAP:-90}
tk=$root/target/cuda-toolkit
venv=$tk/venv
out=$root/target/gpu-bundle

stamp "CUDA 13.0 toolkit from PyPI into $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
  "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-cublas==13.0.*" \
  "nvidia-curand" "nvidia-cuda-nvrtc==13.0.*"
cu=$("$venv/bin/python" - <<'EOF'
import glob, os, sys
hits = glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages", "nvidia", "cu13"))
print(hits[0] if hits else "")
EOF
)
[ -n "$cu" ] && [ -x "$cu/bin/nvcc" ] || { echo "build-cuda: nvcc not found in the venv ($venv)" >&2; exit 1; }
stamp "toolkit at $cu ($("$cu/bin/nvcc" --version | tail -n 2 | head -n 1))"

# Unversioned links: the wheels ship versioned sonames only.
for so in libcublas libcublasLt libcudart libnvrtc libcurand; do
  real=$(ls "$cu/lib/$so.so."* 2>/dev/null | sort | head -n 1 || true)
  [ -n "$real" ] || { echo "build-cuda: $so.so.* missing in $cu/lib" >&2; exit 1; }
  ln -sf "$(basename "$real")" "$cu/lib/$so.so"
done

stamp "link-time stub libcuda.so (every cu* function cudarc declares, empty)"
cudarc_dir=$(cargo metadata --format-version 1 --features full,cuda 2>/dev/null |
  "$venv/bin/python" -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cudarc").rsplit("/",1)[0])')
stub=$tk/stub
mkdir -p "$stub"
grep -o 'fn cu[A-Za-z0-9_]*(' "$cudarc_dir/src/driver/sys/mod.rs" | sed 's/^fn //; s/($//' | sort -u |
  awk '{ printf "int %s(void) { return 0; }\n", $1 }' > "$stub/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub/libcuda.so.1" "$stub/libcuda_stub.c"
ln -sf libcuda.so.1 "$stub/libcuda.so"
stamp "stub defines $(wc -l < "$stub/libcuda_stub.c") functions"

stamp "cargo build --release --features full,cuda (CUDA_COMPUTE_CAP=$cap)"
export CUDA_HOME=$cu NVCC=$cu/bin/nvcc PATH=$cu/bin:$PATH
export CUDA_COMPUTE_CAP=$cap CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH=$stub:$cu/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
export CARGO_TARGET_DIR=$root/target/cuda
cargo build --release --features full,cuda --bin mllmu
bin=$CARGO_TARGET_DIR/release/mllmu

stamp "bundle into $out"
rm -rf "$out"
mkdir -p "$out/files"
gzip -9 -c "$bin" > "$out/mllmu.gz"
cp -r tests/fixtures/tiny-llava "$out/files/tiny-llava"
cp benches/gpu/torch_check.py "$out/files/torch_check.py"
cp benches/gpu/run.sh "$out/run.sh"
chmod +x "$out/run.sh"
( cd "$out" && sha256sum mllmu.gz > SHA256SUMS )
size=$(du -sm "$out" | cut -f1)
stamp "bundle: ${size} MiB ($(du -h "$out/mllmu.gz" | cut -f1) compressed binary); built in $(( $(date +%s) - t0 )) s"
[ "$size" -lt 40 ] || { echo "build-cuda: bundle is ${size} MiB, over the 40 MiB budget" >&2; exit 1; }
