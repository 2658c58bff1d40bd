#!/usr/bin/env bash
# Set up virtualpose_mm on a lent GPU machine (DESIGN.md §8): Python 3.12 with CUDA
# PyTorch and torchvision already installed, no network.
#
#   bash tools/device/gpu_env.sh prepare      # HERE (has the package registries):
#                                             #   downloads py3.12 wheels + the mmcv and
#                                             #   xtcocotools sources into .whl/
#   source tools/device/gpu_env.sh install    # THERE (carry .whl): installs into
#                                             #   /tmp/site, builds mmcv (CPU ops) and
#                                             #   xtcocotools, exports PYTHONPATH
#   bash tools/device/gpu_env.sh bench [REF]  # THERE, after install: the VoxelPose
#                                             #   benchmark on CUDA (all cubes per call,
#                                             #   channels-last, cudnn.benchmark, TF32 and
#                                             #   bf16 lines with their pose error), against
#                                             #   the reference checkout REF when given
#                                             #   (default ../shared/reference/voxelpose-
#                                             #   pytorch; needs easydict, in WHEELS)
#
# .whl/ is ignored by git (.gitignore) and travels with `carry: [".whl"]` (~9 MB).
# Written 2026-11 without a GPU session: `prepare` was run here; `install` has not yet
# run on a device machine.
# mmcv is built with MMCV_WITH_OPS=1 and CUDA hidden, so only its CPU ops compile
# (our models use no mmcv CUDA op): a few minutes with 16 cores.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WHL="$REPO/.whl"
MMCV_VERSION=2.1.0
XTCOCO_VERSION=1.14.3
# Pure-Python (or cp312 manylinux) packages the GPU image lacks; the image already has
# torch, torchvision, numpy, scipy, opencv-python-headless, matplotlib, pyyaml, rich,
# pytest, cython, packaging, pillow.
WHEELS=(mmengine==0.10.7 mmpose==1.3.2 mmdet==3.3.0 addict yapf platformdirs termcolor
        json-tricks munkres terminaltables shapely pycocotools pytest-timeout
        easydict                # the voxelpose-pytorch reference (benchmark only)
        'setuptools>=77,<81')   # mmcv's setup.py needs pkg_resources

prepare() {
  set -e
  mkdir -p "$WHL/src"
  local PY=python3
  [ -x "$REPO/.venv/bin/python" ] && PY="$REPO/.venv/bin/python"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any -d "$WHL" "${WHEELS[@]}"
  # sources: their metadata step imports torch / numpy / pkg_resources, hence the venv
  # and --no-build-isolation (tools/install.sh keeps the mmcv sdist in its cache)
  local cached="${VPMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtualpose_mm}/src/mmcv-$MMCV_VERSION.tar.gz"
  if [ -f "$cached" ]; then
    cp "$cached" "$WHL/src/"
  else
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$WHL/src"
  fi
  "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    "xtcocotools==$XTCOCO_VERSION" -d "$WHL/src"
  ls -la "$WHL" "$WHL/src"
  du -sh "$WHL"
}

install() {
  local SITE=/tmp/site
  mkdir -p "$SITE"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHL"/*.whl || return 1
  export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
  if ! python3 -c 'import mmcv.ops; from mmcv.utils import ext_loader; ext_loader.load_ext("_ext", ["nms"])' 2>/dev/null; then
    local build
    build=$(mktemp -d)
    tar -xzf "$WHL/src/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES='' \
      MAX_JOBS=$(nproc) python3 -m pip install -q --no-deps --no-build-isolation \
      --no-index --target "$SITE" . ) || { echo "mmcv build failed" >&2; return 1; }
  fi
  if ! python3 -c 'import xtcocotools.coco' 2>/dev/null; then
    python3 -m pip install -q --no-deps --no-build-isolation --no-index --target "$SITE" \
      "$WHL/src/xtcocotools-$XTCOCO_VERSION.tar.gz" || { echo "xtcocotools build failed" >&2; return 1; }
  fi
  python3 -c 'import torch, mmcv, mmpose, mmpose.models, virtualpose_mm; print("gpu env ok:", torch.__version__, torch.cuda.is_available(), mmcv.__version__, mmpose.__version__)'
}

bench() {
  # the same benchmark as on the CPU, unchanged, on the GPU (device-agnostic code paths;
  # written without a GPU session: not yet run on a device machine)
  local REF="${1:-$REPO/../shared/reference/voxelpose-pytorch}"
  local CFG="$REPO/configs/voxelpose/voxelpose_prn64x64x64_cpn80x80x20_shelf_cam5.py"
  local args=(--device cuda --tf32 --bf16 --repeats 5)
  if [ -d "$REF/lib" ] && python3 -c 'import easydict' 2>/dev/null; then
    args+=(--reference-root "$REF")
  else
    echo "reference not found or easydict missing: timing ours only" >&2
    args+=(--compare-loop --num-proposals 10)
  fi
  (cd "$REPO" && python3 tools/analysis/benchmark_voxelpose.py "$CFG" "${args[@]}" --train)
}

case "${1:-}" in
  prepare) prepare ;;
  install) install ;;
  bench) shift; bench "$@" ;;
  *) echo "usage: bash $0 prepare   |   source $0 install   |   bash $0 bench [REF]" >&2; false ;;
esac
