"""A tiny registered model, dataset, metric and hook, used only by the tests of the
training/evaluation tools (``tests/test_tools``). Importing this module registers them;
``import virtualpose_mm`` does not.
"""
from __future__ import annotations

import json
import os.path as osp

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.dist import get_rank, get_world_size
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from ..registry import DATASETS, HOOKS, METRICS, MODELS


@DATASETS.register_module()
class ToyPoseDataset(BaseDataset):
    """``num_samples`` frames; each input is a (8,) feature, the GT one person's
    (4, 3) joints = a fixed linear map of the feature (so the model can learn it)."""

    METAINFO = dict(dataset_name='toy')

    def __init__(self, num_samples: int = 16, seed: int = 0, **kwargs):
        self.num_samples = num_samples
        self.seed = seed
        kwargs.setdefault('serialize_data', False)
        super().__init__(**kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(self.seed)
        W = np.random.default_rng(1234).normal(size=(8, 12)).astype(np.float32)
        out = []
        for i in range(self.num_samples):
            x = rng.normal(size=8).astype(np.float32)
            out.append(dict(sample_idx=i, feat=x, joints=(x @ W).reshape(1, 4, 3)))
        return out

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        ds = PoseDataSample(metainfo=dict(sample_idx=info['sample_idx']))
        ds.gt_instances = InstanceData(keypoints_3d=torch.from_numpy(info['joints']))
        return dict(inputs=torch.from_numpy(info['feat']), data_samples=ds)


@MODELS.register_module()
class ToyPoseRegressor(BaseModel):
    """Linear regression from the (8,) feature to (4, 3) joints."""

    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.fc = nn.Linear(8, 12)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, (list, tuple)) else inputs
        y = self.fc(x).view(-1, 1, 4, 3)
        if mode == 'tensor':
            return y
        if mode == 'loss':
            gt = torch.stack([d.gt_instances.keypoints_3d for d in data_samples]).to(y)
            return dict(loss_joint=(y - gt).abs().mean())
        for d, p in zip(data_samples, y):
            d.pred_instances = InstanceData(keypoints_3d=p.detach(),
                                            scores=torch.ones(1))
        return data_samples


@METRICS.register_module()
class ToyMPJPE(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        for d in data_samples:
            pred = d['pred_instances']['keypoints_3d']
            gt = d['gt_instances']['keypoints_3d']
            self.results.append(float((pred - gt).norm(dim=-1).mean()))

    def compute_metrics(self, results):
        return dict(mpjpe=float(np.mean(results)))


@HOOKS.register_module()
class ToyRecordHook(Hook):
    """Writes ``<work_dir>/rank<r>.json``: world size, the iteration training started
    from, the iterations run, and the optimizer's momentum buffers at the start."""

    priority = 'LOWEST'

    def before_train(self, runner):
        self.record = dict(rank=get_rank(), world_size=get_world_size(),
                           start_iter=runner.iter, iters_run=0)
        opt = runner.optim_wrapper.optimizer
        bufs = [opt.state[p].get('momentum_buffer') for g in opt.param_groups
                for p in g['params'] if p in opt.state]
        self.record['momentum_at_start'] = [b.flatten().tolist() for b in bufs
                                            if b is not None]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.record['iters_run'] += 1
        self.record['last_loss'] = float(outputs['loss'])

    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        self.record['final_param_sum'] = float(sum(p.double().sum() for p in
                                                   model.parameters()))
        path = osp.join(runner.work_dir, f'rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.record, f)
