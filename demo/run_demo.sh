#!/usr/bin/env bash
# `make demo`: the main job of the package end to end on the embedded default data.
#
# VoxelPose for a real camera rig from nothing but its calibration: the 5 real Shelf
# cameras (demo/data/calibration_shelf.json) and the CMU mocap pose bank shipped in the
# package. It trains a small VoxelPose on virtual scenes rendered through those cameras
# (the "own rig" recipe; about 5 minutes on 2 CPU cores), evaluates it on unseen virtual
# frames (AP / recall / MPJPE), and predicts two frames, writing their 3D poses as JSON
# and a picture of predictions against ground truth.
#
# The model is deliberately tiny and trained for one short epoch so the demo runs on a
# laptop CPU: it finds most people but its joints are coarse (see README, "Demo").
# Output: demo_output/ (set DEMO_OUT to change). A second run reuses the checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CFG=configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py
OUT=${DEMO_OUT:-demo_output}
CKPT=$OUT/train/epoch_1.pth
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if [ ! -f "$CKPT" ]; then
  echo "== 1/3 training VoxelPose on virtual scenes through the real Shelf cameras (~5 min)"
  "$PY" tools/train.py "$CFG" --work-dir "$OUT/train" --no-validate \
    --cfg-options default_hooks.logger.interval=50
else
  echo "== 1/3 using the checkpoint of an earlier run: $CKPT (delete it to retrain)"
fi
echo "== 2/3 evaluating on 40 unseen virtual frames"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$OUT/test" --out "$OUT/metrics.json"
echo "== 3/3 predicting two frames"
"$PY" demo/voxelpose_demo.py "$CFG" "$CKPT" --indices 0 1 --out-dir "$OUT"
"$PY" - "$OUT/metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
print('\nDemo results on unseen virtual frames (Shelf rig): '
      f"recall@500mm {m['virtual/Recall@500']:.2f}, MPJPE {m['virtual/MPJPE@500']:.0f} mm, "
      f"AP@150 {m['virtual/AP@150']:.2f}, mAP {m['virtual/mAP']:.3f}")
PYEOF
echo "Poses: $OUT/frame0.json, $OUT/frame1.json   pictures: $OUT/frame0.png, $OUT/frame1.png"
