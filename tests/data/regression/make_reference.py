"""(Kept for provenance: how the reference files here were written; run from the repository root
with the code of that commit.)

Predictions of the trained demo model on its first 8 validation frames (the reference
for the architecture refactor: the same weights must give the same poses, <= 0.01 mm)."""
import sys
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
import virtualpose_mm  # noqa
from virtualpose_mm.engine.config_checks import resolve_config_variables
from virtualpose_mm.registry import DATASETS, MODELS
from mmengine.dataset import pseudo_collate

init_default_scope('mmpose')
cfg = Config.fromfile('configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py')
resolve_config_variables(cfg)
ckpt = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
sd = {k: (v.half() if v.is_floating_point() and not k.endswith('_extra_state') else v)
      for k, v in ckpt['state_dict'].items()}
torch.save({'state_dict': sd,
            'meta': {'source': 'tools/train.py '
                               'configs/voxelpose/voxelpose_demo_shelf_virtual_cpu.py '
                               '(1 epoch, commit fd757c1)'}},
           sys.argv[2])
model = MODELS.build(cfg.model)
model.load_state_dict({k: (v.float() if v.dtype == torch.float16 else v) for k, v in sd.items()})
model.eval()
ds_cfg = cfg.val_dataloader.dataset.copy()
ds_cfg.num_samples = 8
ds = DATASETS.build(ds_cfg)
kps, counts, scores = [], [], []
with torch.no_grad():
    for i in range(8):
        batch = model.data_preprocessor(pseudo_collate([ds[i]]), False)
        out = model(**batch, mode='predict')[0].pred_instances
        k = out.keypoints_3d if 'keypoints_3d' in out else out.keypoints
        kps.append(np.asarray(k).reshape(-1, 17, 3))
        counts.append(len(kps[-1]))
        scores.append(np.asarray(out.scores if 'scores' in out else out.bbox_scores).reshape(-1))
np.savez_compressed(sys.argv[3], keypoints=np.concatenate(kps), counts=np.array(counts),
                    scores=np.concatenate(scores))
print(counts, np.concatenate(kps).shape)
