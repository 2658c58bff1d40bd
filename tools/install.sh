#!/usr/bin/env bash
# One-command install of virtualpose_mm on the current OpenMMLab stack.
#
#   bash tools/install.sh            (what `make install` runs)
#
# Creates ./.venv (Python 3.11) and installs a pinned, tested stack:
#   torch 2.14.1 + torchvision 0.29.1, numpy 2.4, mmengine 0.10.7,
#   mmcv 2.1.0 built from source with its compiled ops (the wheel is cached outside the
#   repository, keyed by mmcv/torch/Python versions), mmpose 1.3.2 and mmdet 3.3.0 with
#   --no-deps plus their real runtime dependencies, xtcocotools built against numpy 2,
#   and this package in editable mode.
#
# Idempotent: every step first checks whether its result is already there.  A compatible
# torch that is already in .venv (for example a user's own CUDA build) is kept.
#
# Environment knobs:
#   VPMM_PYTHON      interpreter used to create .venv            (default: python3.11, python3)
#   VPMM_VENV        where the venv goes                          (default: <repo>/.venv)
#   VPMM_CACHE       wheel cache                                  (default: ~/.cache/virtualpose_mm)
#   MAX_JOBS         parallel compile jobs for mmcv               (default: nproc)
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VPMM_VENV:-$REPO/.venv}"
CACHE="${VPMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virtualpose_mm}"
LOG_DIR="$CACHE/logs"
mkdir -p "$CACHE/wheels" "$CACHE/src" "$LOG_DIR"

# ---- pinned versions (see README "Install" for why each one) --------------------------
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
TORCH_MIN=2.1            # an existing torch at least this new is kept
NUMPY_SPEC='numpy>=2.0,<2.5'
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMPOSE_VERSION=1.3.2
MMDET_VERSION=3.3.0
XTCOCOTOOLS_VERSION=1.14.3
SETUPTOOLS_SPEC='setuptools>=77,<81'   # mmcv 2.1.0's setup.py needs pkg_resources
# runtime dependencies of mmengine, mmcv, mmpose and mmdet that are really imported
# (mmpose's chumpy is never imported by the code paths we use and does not build)
RUNTIME_DEPS=(
  'addict' 'pyyaml' 'rich' 'termcolor' 'yapf' 'packaging' 'Pillow'
  'opencv-python-headless' 'matplotlib>=3.5,<3.10' 'scipy' 'json-tricks' 'munkres'
  'pycocotools' 'shapely' 'six' 'terminaltables' 'tqdm'
)
TEST_DEPS=('pytest' 'pytest-timeout' 'flake8>=6.0')   # = requirements/tests.txt (make test, make lint)

STEP=""
t_start=$(date +%s)
log() { printf '[install %3ds] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }
on_error() {
  local rc=$?
  echo "[install] FAILED at step: ${STEP:-?} (exit $rc)." >&2
  echo "[install] The last lines of its log ($LOG_DIR/${STEP// /_}.log) are above or in that file." >&2
  exit $rc
}
trap on_error ERR

# run_step NAME CMD... : runs CMD with its output in a per-step log; shows the tail on error
run_step() {
  STEP="$1"; shift
  local logf="$LOG_DIR/${STEP// /_}.log"
  log "step: $STEP"
  if ! "$@" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    false
  fi
}

# ---- 1. the virtual environment --------------------------------------------------------
STEP="python"
if [ ! -x "$VENV/bin/python" ]; then
  PY="${VPMM_PYTHON:-}"
  if [ -z "$PY" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
  fi
  ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  case "$ver" in
    3.9|3.10|3.11|3.12) ;;
    *) echo "[install] $PY is Python $ver; mmcv 2.1.0 / mmpose 1.3.2 need 3.9-3.12 (3.11 tested). Set VPMM_PYTHON." >&2; exit 1;;
  esac
  run_step "create venv" "$PY" -m venv "$VENV"
fi
PYV="$VENV/bin/python"
PIP=("$PYV" -m pip --disable-pip-version-check)
pyver=$("$PYV" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
log "venv: $VENV ($pyver)"

# what a complete install of this checkout is: the installer, the package's metadata and
# the venv; written after the final check passed, so a fresh or interrupted install never
# has it
STAMP="$VENV/.virtualpose_mm-install-stamp"
fingerprint() {
  { cat "$REPO/tools/install.sh" "$REPO/setup.py" "$REPO"/requirements/*.txt 2>/dev/null
    echo "$VENV $REPO $pyver"; } | sha256sum | cut -d' ' -f1
}
final_check() {
  (cd / && "$PYV" - "$REPO" <<'PYEOF'
import os, sys
import torch, numpy, mmengine, mmcv, mmpose, mmdet
import mmpose.models, mmpose.apis, mmdet.models, mmcv.ops  # noqa: F401
from mmcv.utils import ext_loader
ext_loader.load_ext('_ext', ['nms'])
import virtualpose_mm
where = os.path.dirname(os.path.dirname(os.path.abspath(virtualpose_mm.__file__)))
if os.path.realpath(where) != os.path.realpath(sys.argv[1]):
    sys.exit(f'[install] virtualpose_mm is imported from {where}, not {sys.argv[1]}')
try:
    from virtualpose_mm.ops import winograd_available, winograd_unavailable_reason as r
    from virtualpose_mm.ops import (sample_views_kernel_available as sa,
                                    sample_views_kernel_unavailable_reason as sr)
    print('[install] Winograd kernel:', 'ready' if winograd_available() else f'off ({r()})')
    print('[install] view-sampling kernel:', 'ready' if sa() else f'off ({sr()})')
except Exception as e:  # the models fall back to oneDNN / grid_sample
    print(f'[install] CPU kernel check did not run ({e}); models use oneDNN / grid_sample')
print(f'[install] ok: torch {torch.__version__}, numpy {numpy.__version__}, '
      f'mmengine {mmengine.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmpose {mmpose.__version__}, mmdet {mmdet.__version__}, '
      f'virtualpose_mm {virtualpose_mm.__version__}')
PYEOF
  )
}

# fast path: this checkout was installed completely into this venv with this installer:
# one process checks the stack (about 10 s instead of 40 s of per-step checks)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
  STEP="final check"
  if final_check; then
    log "done (already installed; the checks of every step: rm $STAMP)"
    exit 0
  fi
  log "the installed stack failed its check; running every step"
  rm -f "$STAMP"
fi

# pip_has SPEC... : true when every requirement is already satisfied in the venv
pip_has() {
  "$PYV" - "$@" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        v = version(req.name)
    except PackageNotFoundError:
        sys.exit(1)
    if req.specifier and not req.specifier.contains(v, prereleases=True):
        sys.exit(1)
EOF
}

if ! "$PYV" -c 'import packaging' >/dev/null 2>&1 || ! pip_has 'pip>=23' "$SETUPTOOLS_SPEC" wheel; then
  run_step "base tools" "${PIP[@]}" install -q --upgrade 'pip>=23' "$SETUPTOOLS_SPEC" wheel packaging
fi

# ---- 2. torch --------------------------------------------------------------------------
have_torch=$("$PYV" - "$TORCH_MIN" <<'EOF' || true
import sys
try:
    import torch, torchvision  # noqa: F401
    from packaging.version import Version
    ok = Version(torch.__version__.split('+')[0]) >= Version(sys.argv[1])
    print(torch.__version__ if ok else '')
except Exception:
    print('')
EOF
)
if [ -n "$have_torch" ]; then
  log "keeping installed torch $have_torch"
else
  run_step "torch" "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
TORCH_FULL=$("$PYV" -c 'import torch; print(torch.__version__)')
TORCH_CUDA=$("$PYV" -c 'import torch; print("cu" + torch.version.cuda.replace(".", "") if torch.version.cuda else "cpu")')

# ---- 3. numpy and the runtime dependencies --------------------------------------------
if ! pip_has "$NUMPY_SPEC" "${RUNTIME_DEPS[@]}" "${TEST_DEPS[@]}" cython; then
  run_step "runtime deps" "${PIP[@]}" install "$NUMPY_SPEC" "${RUNTIME_DEPS[@]}" "${TEST_DEPS[@]}" 'cython>=3'
fi

# ---- 4. mmengine ------------------------------------------------------------------------
if ! pip_has "mmengine==$MMENGINE_VERSION"; then
  run_step "mmengine" "${PIP[@]}" install --no-deps "mmengine==$MMENGINE_VERSION"
fi

# ---- 5. xtcocotools from source against the installed numpy ----------------------------
if ! "$PYV" -c 'import xtcocotools.coco' >/dev/null 2>&1; then
  run_step "xtcocotools" "${PIP[@]}" install --no-deps --no-build-isolation \
    --no-binary xtcocotools "xtcocotools==$XTCOCOTOOLS_VERSION"
fi

# ---- 6. mmcv with compiled ops (cached wheel) --------------------------------------------
mmcv_ok() { "$PYV" -c "import mmcv, mmcv.ops; from mmcv.utils import ext_loader; ext_loader.load_ext('_ext', ['nms']); assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1; }
if ! mmcv_ok; then
  key="mmcv-$MMCV_VERSION-torch${TORCH_FULL//+/_}-$pyver"
  wheel_dir="$CACHE/wheels/$key"
  whl=$(ls "$wheel_dir"/mmcv-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$whl" ]; then
    src_dir="$CACHE/src"
    sdist=$(ls "$src_dir"/mmcv-$MMCV_VERSION.tar.gz 2>/dev/null || true)
    if [ -z "$sdist" ]; then
      # metadata preparation imports torch and pkg_resources, hence --no-build-isolation
      run_step "mmcv download" "${PIP[@]}" download --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==$MMCV_VERSION" -d "$src_dir"
      sdist="$src_dir/mmcv-$MMCV_VERSION.tar.gz"
    fi
    build_root=$(mktemp -d)
    tar -xzf "$sdist" -C "$build_root"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 asks for C++17
    sed -i 's/-std=c++17/-std=c++20/g' "$build_root/mmcv-$MMCV_VERSION/setup.py"
    if ! pip_has ninja; then run_step "ninja" "${PIP[@]}" install -q ninja; fi
    log "building mmcv $MMCV_VERSION with ops for torch $TORCH_FULL ($TORCH_CUDA); 10-20 min on 2 cores"
    # Only the CPU ops are compiled; our models need no mmcv CUDA op.
    pushd "$build_root/mmcv-$MMCV_VERSION" >/dev/null
    MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES='' MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      run_step "mmcv build" env MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES='' \
      MAX_JOBS="${MAX_JOBS:-$(nproc)}" "${PIP[@]}" wheel --no-deps --no-build-isolation \
      -w "$build_root/dist" .
    popd >/dev/null
    mkdir -p "$wheel_dir.tmp"
    cp "$build_root"/dist/mmcv-*.whl "$wheel_dir.tmp/"
    rm -rf "$wheel_dir"; mv "$wheel_dir.tmp" "$wheel_dir"   # the cache holds complete wheels only
    rm -rf "$build_root"
    whl=$(ls "$wheel_dir"/mmcv-*.whl | head -n 1)
  else
    log "using cached mmcv wheel $whl"
  fi
  run_step "mmcv install" "${PIP[@]}" install --no-deps --force-reinstall "$whl"
  mmcv_ok || { STEP="mmcv check"; echo "[install] mmcv installed but mmcv.ops has no compiled _ext" >&2; false; }
fi

# ---- 7. mmpose and mmdet without their broken dependency pins ------------------------------
if ! pip_has "mmpose==$MMPOSE_VERSION" "mmdet==$MMDET_VERSION"; then
  run_step "mmpose mmdet" "${PIP[@]}" install --no-deps "mmpose==$MMPOSE_VERSION" "mmdet==$MMDET_VERSION"
fi

# ---- 8. this package -------------------------------------------------------------------
# (checked from / so that the current directory cannot make the import succeed)
installed_from=$(cd / && "$PYV" -c 'import virtualpose_mm, os; print(os.path.dirname(os.path.dirname(os.path.abspath(virtualpose_mm.__file__))))' 2>/dev/null || true)
if [ "$installed_from" != "$REPO" ]; then
  run_step "virtualpose_mm" "${PIP[@]}" install --no-deps --no-build-isolation -e "$REPO"
fi

# ---- 8b + 9. the CPU kernels and the final check, in one process ------------------------
# The CPU kernels: Winograd 3x3x3 convolution (VoxelPose V2V nets) and fused view sampling
# (all voxel models' projections), compiled once (about a minute each) into
# ~/.cache/virtualpose_mm/torch_extensions so that no demo or test pays for it; where they
# cannot be built (no AVX2+FMA, no compiler) the models use oneDNN / grid_sample and say
# why, so that part only reports. The final check imports the whole stack and checks that
# virtualpose_mm is this checkout.
STEP="final check"
final_check
fingerprint > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
log "done"
