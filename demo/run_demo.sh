#!/usr/bin/env bash
# `make demo`: the main job of the package on the embedded default data, no training.
#
# 1. The multi-view demo (demo/body3d_multiview_detect_and_regress_img_demo.py) on three
#    REAL Shelf frames: the 2D detections of the five real cameras (data/demo/shelf) through
#    the embedded checkpoint (DEMO_MODEL: faster-voxelpose, the default,
#    checkpoints/faster-voxelpose_shelf_virtual_cpu.pth, or voxelpose,
#    checkpoints/voxelpose_shelf_virtual_cpu.pth; both trained on virtual scenes through the
#    real Shelf cameras: `make demo-train`). Prints per frame
#    the people found and the median reprojection error of their 3D joints against the 2D
#    detections; writes JSON and pictures.
# 2. The same three real frames scored against the Shelf ground truth (PCP).
# 3. Held-out virtual frames of the Shelf rig (poses of the CMU bank's test split, a seed
#    training never used, detector-like heatmap noise): AP, recall, MPJPE.
# 4. VirtualPose from ONE camera (demo/body3d_monocular_img_demo.py, the embedded stage-2
#    checkpoint checkpoints/virtualpose_virtualcam_cpu.pth, trained on virtual cameras
#    only; make demo-train-virtualpose reproduces it; DEMO_MONO_CONFIG and
#    DEMO_MONO_CHECKPOINT run another, e.g. checkpoints/virtualpose_virtualcam-viewcube_cpu.pth
#    with its config):
#    each real Shelf camera's detections of the same frames, one camera at a time; prints
#    the people found and each one's 3D root distance to the roots of step 1. The people
#    scoring under DEMO_MONO_BBOX_THR (the demo's --bbox-thr, default 0.3) are left out
#    and counted; 0 keeps every person the model returns.
# Output: demo_output/ (set DEMO_OUT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEMO_MODEL=${DEMO_MODEL:-faster-voxelpose}
case "$DEMO_MODEL" in
  faster-voxelpose)
    CFG=configs/faster_voxelpose/faster-voxelpose_shelf_virtual_cpu.py
    REAL_CFG=configs/faster_voxelpose/faster-voxelpose_shelf_virtual_cpu_real-shelf-demo.py
    CKPT=${DEMO_CHECKPOINT:-checkpoints/faster-voxelpose_shelf_virtual_cpu.pth} ;;
  voxelpose)
    CFG=configs/voxelpose/voxelpose_shelf_virtual_cpu.py
    REAL_CFG=configs/voxelpose/voxelpose_shelf_virtual_cpu_real-shelf-demo.py
    CKPT=${DEMO_CHECKPOINT:-checkpoints/voxelpose_shelf_virtual_cpu.pth} ;;
  *) echo "DEMO_MODEL must be faster-voxelpose or voxelpose, got '$DEMO_MODEL'" >&2; exit 2 ;;
esac
MONO_CFG=${DEMO_MONO_CONFIG:-configs/virtualpose/virtualpose_virtualcam_cpu.py}
MONO_CKPT=${DEMO_MONO_CHECKPOINT:-checkpoints/virtualpose_virtualcam_cpu.pth}
MONO_BBOX_THR=${DEMO_MONO_BBOX_THR:-0.3}
OUT=${DEMO_OUT:-demo_output}
NUM_VIRTUAL=${DEMO_NUM_VIRTUAL:-40}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore}

echo "== 1/4 multi-view demo ($DEMO_MODEL, $CKPT) on real Shelf frames 0-2 (2D detections of the 5 cameras)"
"$PY" demo/body3d_multiview_detect_and_regress_img_demo.py "$CFG" "$CKPT" \
  --camera-param-file data/demo/shelf/calibration_shelf.json --image-size 1032 776 \
  --kpt2d-file data/demo/shelf/pred_shelf_maskrcnn_hrnet_coco.pkl \
  --out-img-root "$OUT/shelf" --out-json "$OUT/shelf/results.json" --visualize-single-view
echo "== 2/4 the same real frames against the Shelf ground truth"
"$PY" tools/test.py "$REAL_CFG" "$CKPT" \
  --work-dir "$OUT/test_real" --out "$OUT/real_shelf_metrics.json" > "$OUT/test_real.log" 2>&1 \
  || { tail -20 "$OUT/test_real.log"; exit 1; }
echo "== 3/4 $NUM_VIRTUAL held-out virtual Shelf-rig frames (CMU test-split poses, unseen seed)"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$OUT/test_virtual" \
  --out "$OUT/virtual_metrics.json" \
  --cfg-options test_dataloader.dataset.num_samples="$NUM_VIRTUAL" \
  > "$OUT/test_virtual.log" 2>&1 || { tail -20 "$OUT/test_virtual.log"; exit 1; }
"$PY" - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
r = json.load(open(f'{out}/real_shelf_metrics.json'))
v = json.load(open(f'{out}/virtual_metrics.json'))
print(f"\nReal Shelf frames 0-2 vs ground truth: PCP {r['shelf/PCP_avg']:.3f}, "
      f"recall@500mm {r['shelf/Recall@500']:.2f} (a check that the real-data evaluation "
      "runs, not an accuracy figure: the fixture's actorsGT.mat, from MMPose's test data, is "
      "not of the frames of its detections; README, 'make demo')")
print(f"Held-out virtual frames: MPJPE {v['virtual/MPJPE@500']:.1f} mm, "
      f"recall@500mm {v['virtual/Recall@500']:.3f}, AP@100 {v['virtual/AP@100']:.3f}, "
      f"mAP {v['virtual/mAP']:.3f}")
PYEOF
echo "== 4/4 VirtualPose, one real Shelf camera at a time ($MONO_CKPT), against step 1's roots"
if [ -f "$MONO_CKPT" ]; then
  "$PY" demo/body3d_monocular_img_demo.py "$MONO_CFG" "$MONO_CKPT" \
    --kpt2d-file data/demo/shelf/pred_shelf_maskrcnn_hrnet_coco.pkl --camera-index 0 1 2 3 4 \
    --camera-param-file data/demo/shelf/calibration_shelf.json --image-size 1032 776 \
    --reference-json "$OUT/shelf/results.json" --out-dir "$OUT/monocular" \
    --bbox-thr "$MONO_BBOX_THR" \
    > "$OUT/monocular.log" 2>&1 || { tail -20 "$OUT/monocular.log"; exit 1; }
  grep -E '^cam|^root distance' "$OUT/monocular.log"
else
  echo "skipped: $MONO_CKPT does not exist; make demo-train-virtualpose trains it"
  echo "  (about 2 h on one CPU thread) and runs this demo with it"
fi
echo "JSON and pictures: $OUT/shelf/ (<frame>.json, <frame>_3d.png, <frame>_view_<camera>.png)"
if [ -f "$MONO_CKPT" ]; then
  echo "  and $OUT/monocular/ (cam<camera>_<frame>.json, _2d.png, _3d.png)"
fi
