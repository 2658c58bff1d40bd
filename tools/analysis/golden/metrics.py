"""Golden checks of the evaluation metrics: Shelf/Campus PCP, Panoptic AP, MuPoTS-3D 3DPCK.

Each checker recomputes every stored metric value from the *inputs stored in the file*
(and, where the file names them, from the real-format files beside it) and compares with
the stored reference values. Nothing is taken from a particular case: thresholds, joint
groups, frame ranges and file names all come from the file, so unseen cases work too.

The closing line is ``max metric error: <x>``, the largest absolute difference over every
comparison (discrete comparisons count mismatches, so any mismatch shows there too).
"""
from __future__ import annotations

import math
import os
from typing import Dict, List

import numpy as np
import torch

from virtualpose_mm.datasets.io.actors_gt import load_actors_gt
from virtualpose_mm.datasets.joint_sets import coco17_to_shelf14
from virtualpose_mm.evaluation.functional.mupots_io import (load_mupots_predictions,
                                                            load_mupots_sequence)
from virtualpose_mm.evaluation.functional.mupots_pck import (evaluate_mupots,
                                                             mupots_frames_from_arrays)
from virtualpose_mm.evaluation.functional.panoptic_ap import panoptic_ap_metrics
from virtualpose_mm.evaluation.functional.pcp import shelf_campus_pcp
from .core import GoldenReport, register_checker

TOL = 1e-6


def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _max_err(ours, ref) -> float:
    """max |ours − ref|; equal infinities and NaN in both count as 0; shape mismatch = inf."""
    a, b = _np(ours), _np(ref)
    if a.shape != b.shape:
        return float('inf')
    if a.size == 0:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid='ignore'):
        d = np.where(same, 0.0, np.abs(a - b))
    if np.isnan(d).any():
        return float('nan')
    return float(d.max())


class _Acc:
    """Accumulates named max errors, then writes them as report rows."""

    def __init__(self):
        self.err: Dict[str, float] = {}
        self.tol: Dict[str, float] = {}
        self.note: Dict[str, str] = {}

    def put(self, name: str, err: float, tol: float = TOL, note: str = ''):
        old = self.err.get(name, 0.0)
        if math.isnan(err) or math.isnan(old):
            self.err[name] = float('nan')
        else:
            self.err[name] = max(old, err)
        self.tol[name] = tol
        if note:
            self.note[name] = note

    def cmp(self, name: str, ours, ref, tol: float = TOL, note: str = ''):
        self.put(name, _max_err(ours, ref), tol, note)

    def flush(self, report: GoldenReport):
        for k, v in self.err.items():
            report.add(k, v, self.tol[k], self.note.get(k, ''))


def _finish(report: GoldenReport) -> GoldenReport:
    errs = [r.error for r in report.rows]
    report.final_label = 'max metric error'
    report.final_unit = ''
    if not errs:
        report.final_value = float('nan')
    elif any(math.isnan(e) for e in errs):
        report.final_value = float('nan')
    else:
        report.final_value = max(errs)
    return report


# ----------------------------------------------------------------------------- Shelf/Campus
def _is_pcp(d, path):
    return 'actor_pcp' in d and 'preds' in d


@register_checker('shelf_campus_pcp', _is_pcp)
def check_pcp(d: dict, path: str, device: str = 'cpu') -> GoldenReport:
    dataset = str(d.get('dataset', 'shelf')).lower()
    if dataset not in ('shelf', 'campus'):
        raise ValueError(f'{path}: dataset {dataset!r} is neither shelf nor campus')
    report = GoldenReport(kind=f'{dataset} PCP ({os.path.basename(path)})')
    frame_range = [int(f) for f in d['frame_range']]
    preds_all = _np(d['preds'])  # (F, M, 17, 5); the reference evaluated float64 copies
    if preds_all.shape[0] != len(frame_range):
        raise ValueError(f'{path}: preds has {preds_all.shape[0]} frames, frame_range '
                         f'{len(frame_range)}')
    thr = float(d.get('recall_threshold', 500.0))
    preds = []
    for p in preds_all:
        p = p[p[:, 0, 3] >= 0, :, :3]
        preds.append(coco17_to_shelf14(p, head=dataset))
    acc = _Acc()

    def score(gt, present, tag):
        res = shelf_campus_pcp(preds, gt, present, recall_threshold=thr)
        acc.cmp(f'actor PCP{tag}', res['actor_pcp'], d['actor_pcp'])
        acc.cmp(f'average PCP{tag}', res['avg_pcp'], d['avg_pcp'])
        for group, ref in d['bone_pcp'].items():
            if group not in res['bone_pcp']:
                acc.put(f'bone PCP{tag}', float('inf'), note=f'unknown group {group!r}')
                continue
            acc.cmp(f'bone PCP{tag}', res['bone_pcp'][group], ref)
        acc.cmp(f'recall@500{tag}', res['recall'], d['recall_500mm'])
        return res

    # GT stored in the .pt (metres → mm exactly as the reference: × 1000.0)
    gt_pt = _np(d['gt_14_m']) * 1000.0 if 'gt_14_m' in d else None
    present_pt = _np(d['gt_present'], bool) if 'gt_present' in d else None
    if 'gt_coco_mm' in d and gt_pt is not None:
        conv = coco17_to_shelf14(_np(d['gt_coco_mm']), head=dataset)
        m = present_pt
        acc.cmp(f'COCO→Shelf-14 ({dataset} head) of stored GT [mm]', conv[m], gt_pt[m])

    mat_name = d.get('actorsGT_mat_file')
    mat_path = os.path.join(os.path.dirname(os.path.abspath(path)), mat_name) \
        if mat_name else None
    if mat_path and os.path.isfile(mat_path):
        agt = load_actors_gt(mat_path)
        if max(frame_range) >= agt.num_frames:
            raise ValueError(f'{mat_path}: frame_range reaches frame {max(frame_range)}, but '
                             f'actor3D has {agt.num_frames} frames')
        gt = agt.joints[:, frame_range]
        present = agt.present[:, frame_range]
        if present_pt is not None:
            acc.put('actorsGT.mat presence vs stored (mismatches)',
                    float(np.sum(present != present_pt)) if present.shape == present_pt.shape
                    else float('inf'), 0.0)
        if gt_pt is not None and present.shape == present_pt.shape:
            m = present & present_pt
            acc.cmp('actorsGT.mat joints vs stored [mm]', gt[m], gt_pt[m])
        score(gt, present, '')
        if gt_pt is not None:
            score(gt_pt, present_pt, ' (stored GT arrays)')
    else:
        if gt_pt is None:
            raise ValueError(f'{path}: no GT: neither {mat_name} beside it nor gt_14_m')
        report.notes.append(f'note: {mat_name or "actorsGT .mat"} not found beside the file; '
                            'GT taken from gt_14_m / gt_present')
        score(gt_pt, present_pt, '')
    acc.flush(report)
    return _finish(report)


# ----------------------------------------------------------------------------- Panoptic
def _is_panoptic(d, path):
    return 'aps' in d and 'preds' in d


@register_checker('panoptic_ap', _is_panoptic)
def check_panoptic(d: dict, path: str, device: str = 'cpu') -> GoldenReport:
    report = GoldenReport(kind=f'Panoptic AP ({os.path.basename(path)})')
    preds = _np(d['preds'])  # (F, M, K, 5)
    gts = d['gt']
    if len(gts) != preds.shape[0]:
        raise ValueError(f'{path}: {len(gts)} GT frames but {preds.shape[0]} prediction frames')
    frames = []
    for p, g in zip(preds, gts):
        p = p[p[:, 0, 3] >= 0]
        frames.append(dict(pred=p[:, :, :3], scores=p[:, 0, 4], gt=_np(g['joints_3d']),
                           gt_visible=_np(g['joints_3d_vis'])))
    thresholds = [float(t) for t in d.get('mpjpe_thresholds', (25, 50, 75, 100, 125, 150))]
    res = panoptic_ap_metrics(frames, thresholds, 500.0)
    acc = _Acc()
    if 'eval_list_unsorted' in d:
        el = d['eval_list_unsorted']
        ours = res['eval_list']
        if len(el) != len(ours['mpjpe']):
            acc.put('eval list length', float(abs(len(el) - len(ours['mpjpe']))), 0.0)
        else:
            acc.cmp('eval list: closest-GT MPJPE [mm]', ours['mpjpe'], [e['mpjpe'] for e in el])
            acc.cmp('eval list: score', ours['score'], [e['score'] for e in el])
            acc.put('eval list: gt_id (mismatches)',
                    float(np.sum(ours['gt_id'] != np.asarray([e['gt_id'] for e in el]))), 0.0)
    if 'total_gt' in d:
        acc.put('total GT (difference)', float(abs(res['total_gt'] - int(d['total_gt']))), 0.0)
    acc.cmp('AP@thresholds', res['aps'], d['aps'])
    if 'recalls_at_thresholds' in d:
        acc.cmp('recall@thresholds', res['recalls'], d['recalls_at_thresholds'])
    if 'mpjpe_500mm' in d:
        acc.cmp('MPJPE@500 [mm]', res['mpjpe'], d['mpjpe_500mm'])
    if 'recall_500mm' in d:
        acc.cmp('recall@500', res['recall'], d['recall_500mm'])
    acc.flush(report)
    return _finish(report)


# ----------------------------------------------------------------------------- MuPoTS
def _is_mupots(d, path):
    return str(d.get('format', '')).startswith('golden MuPoTS-3D')


def _mupots_params(d: dict) -> dict:
    """Evaluation parameters stored in the file (official defaults where absent)."""
    kw = {}
    if 'pck_joint_groups_0based' in d:
        kw['groups'] = [(str(n), [int(j) for j in idx]) for n, idx in
                        d['pck_joint_groups_0based']]
    th = d.get('thresholds', {})
    if 'pck_mm' in th:
        kw['pck_threshold'] = float(th['pck_mm'])
    if 'auc_mm' in th:
        kw['auc_thresholds'] = [float(t) for t in th['auc_mm']]
    if 'match_px' in th:
        kw['match_threshold'] = float(th['match_px'])
    if 'matching_joints_0based' in d:
        kw['matching_joints'] = [int(j) for j in d['matching_joints_0based']]
    if 'bone_parent_0based' in d:
        kw['parents'] = [int(j) for j in d['bone_parent_0based']]
    if 'bone_traversal_0based' in d:
        kw['traversal'] = [int(j) for j in d['bone_traversal_0based']]
    if 'root_joint_0based' in d:
        kw['root'] = int(d['root_joint_0based'])
    if 'unmatched_prediction_value' in d:
        kw['unmatched_value'] = float(d['unmatched_prediction_value'])
    return kw


def _parse_csv_rows(text: str) -> List[List[float]]:
    """Numeric rows of an Octave ``writetable`` CSV (label cells and blanks dropped)."""
    rows = []
    for line in text.strip().splitlines():
        cells = line.split(',')
        vals = []
        for c in cells:
            c = c.strip()
            if not c:
                continue
            try:
                vals.append(float(c))
            except ValueError:
                vals = None
                break
        if vals is None:  # a header row: only keep rows whose label starts a data row
            first = cells[0].strip()
            if first.startswith('TestSeq'):
                rows.append([float(c) for c in cells[1:] if c.strip()])
            continue
        rows.append(vals)
    return rows


def _compare_mupots(acc: _Acc, ours: dict, ref: dict, scenario: str, tag: str = ''):
    """Compare one scenario's results (all modes) with the stored ones."""
    for mode, r in ref.items():
        o = ours[mode]
        acc.cmp(f'{scenario}: PCK / AUC per sequence{tag}', o['pck'], r['pck'])
        acc.cmp(f'{scenario}: PCK / AUC per sequence{tag}', o['auc'], r['auc'])
        acc.cmp(f'seq-mean and pooled PCK / AUC{tag}', o['pck_total_seq_mean'],
                r['pck_total_seq_mean'])
        acc.cmp(f'seq-mean and pooled PCK / AUC{tag}', o['auc_total_seq_mean'],
                r['auc_total_seq_mean'])
        acc.cmp(f'seq-mean and pooled PCK / AUC{tag}', o['pooled_pck'], r['pooled_pck'])
        acc.cmp(f'seq-mean and pooled PCK / AUC{tag}', o['pooled_auc'], r['pooled_auc'])
        acc.cmp(f'MPJPE table [mm]{tag}', o['mpjpe'], r['mpjpe'])
        acc.cmp(f'MPJPE table [mm]{tag}', o['mpjpe_average'], r['mpjpe_average'])
        for t in ('visible_joints', 'occluded_joints'):
            for k in ('mpjpe', 'mpjpe_total', 'pck_fraction', 'pck_fraction_total',
                      'joint_count'):
                if k in r.get(t, {}):
                    acc.cmp(f'visible / occluded tables{tag}', o[t][k], r[t][k])
        acc.put(f'undetected / annotated people (difference){tag}',
                max(_max_err(o['undetected_people'], r['undetected_people']),
                    _max_err(o['annotated_people'], r['annotated_people'])), 0.0)
        n_seq = len(r['per_joint_error'])
        if len(o['per_joint_error']) != n_seq:
            acc.put(f'per-joint errors [mm]{tag}', float('inf'))
            continue
        for s in range(n_seq):
            acc.cmp(f'per-joint errors [mm]{tag}', o['per_joint_error'][s],
                    r['per_joint_error'][s])
            if 'visibility_mask' in r:
                acc.cmp(f'visibility / occlusion masks{tag}', o['visibility_mask'][s],
                        r['visibility_mask'][s], 0.0)
                acc.cmp(f'visibility / occlusion masks{tag}', o['occlusion_mask'][s],
                        r['occlusion_mask'][s], 0.0)
        mism = 0
        for s, frames in enumerate(r.get('matching', [])):
            for f, m_ref in enumerate(frames):
                m = o['matching'][s][f] if f < len(o['matching'][s]) else 'missing'
                if m_ref is None or m is None or isinstance(m, str):
                    mism += int(not (m_ref is None and m is None))
                    continue
                ours_1b = np.asarray(m) + 1  # official: 1-based index, 0 = unmatched
                ref_1b = _np(m_ref, np.int64)
                mism += int(ours_1b.shape != ref_1b.shape) or int(np.sum(ours_1b != ref_1b))
        acc.put(f'matching (mismatched GT){tag}', float(mism), 0.0)
        if 'csv' in r and not tag:
            rows = _parse_csv_rows(r['csv'])
            S = len(o['pck'])
            want = [list(o['mpjpe'][s]) + [o['mpjpe_average'][s]] for s in range(S)] + \
                [list(o['pck'][s]) for s in range(S)] + [list(o['auc'][s]) for s in range(S)]
            acc.put('CSV tables (main, visible, occluded)', _csv_err(rows, want))
        for t in ('visible_joints', 'occluded_joints'):
            if 'csv' in r.get(t, {}) and not tag:
                rows = _parse_csv_rows(r[t]['csv'])
                tb = o[t]
                S = len(tb['mpjpe'])
                want = [list(tb['mpjpe'][s]) + [tb['mpjpe_total'][s], 0.0] for s in range(S)] + \
                    [list(tb['pck_fraction'][s]) + [tb['pck_fraction_total'][s],
                                                    tb['joint_count'][s]] for s in range(S)]
                acc.put('CSV tables (main, visible, occluded)', _csv_err(rows, want))


def _csv_err(rows, want) -> float:
    if len(rows) != len(want) or any(len(a) != len(b) for a, b in zip(rows, want)):
        return float('inf')
    return max((_max_err(a, b) for a, b in zip(want, rows)), default=0.0)


def _stored_predictions(preds: dict, seq: dict) -> dict:
    out = {}
    name = seq['name']
    for f in range(int(seq['num_frames']) if 'num_frames' in seq else
                   seq['is_valid'].shape[0]):
        key = f'{name}_img_{f:06d}'
        if key in preds:
            out[f] = (_np(preds[key]['pred_2d']), _np(preds[key]['pred_3d']))
    return out


def _frames(seqs: List[dict], preds_by_seq: List[dict]) -> List[list]:
    return [mupots_frames_from_arrays(s['annot2'], s['univ_annot3'], s['is_valid'],
                                      s.get('occlusion'), p, s['name'])
            for s, p in zip(seqs, preds_by_seq)]


@register_checker('mupots_pck', _is_mupots)
def check_mupots(d: dict, path: str, device: str = 'cpu') -> GoldenReport:
    report = GoldenReport(kind=f'MuPoTS-3D 3DPCK ({os.path.basename(path)})')
    kw = _mupots_params(d)
    acc = _Acc()
    seqs = [dict(name=s['name'], annot2=_np(s['annot2']), univ_annot3=_np(s['univ_annot3']),
                 is_valid=_np(s['is_valid'], bool),
                 occlusion=_np(s['occlusion']) if 'occlusion' in s else None,
                 annot3=_np(s['annot3']) if 'annot3' in s else None,
                 num_frames=int(s.get('num_frames', _np(s['is_valid']).shape[0])))
            for s in d['sequences']]
    base = os.path.dirname(os.path.abspath(path))
    mat_root = os.path.join(base, 'MultiPersonTestSet')
    mat_seqs = None
    missing = [s['name'] for s in seqs
               if not os.path.isfile(os.path.join(mat_root, s['name'], 'annot.mat'))]
    if os.path.isdir(mat_root) and missing:
        report.notes.append(f'note: {mat_root} lacks annot.mat for {missing}; checked the '
                            'stored inputs only')
    elif os.path.isdir(mat_root):
        mat_seqs = [load_mupots_sequence(os.path.join(mat_root, s['name']), s['name'])
                    for s in seqs]
        for s, m in zip(seqs, mat_seqs):
            for k in ('annot2', 'univ_annot3', 'annot3', 'occlusion'):
                if s.get(k) is None:
                    continue
                if m.get(k) is None:
                    acc.put('annot.mat / occlusion.mat vs stored sequences', float('inf'), 0.0,
                            f'{s["name"]}: {k} missing in the .mat files')
                    continue
                acc.cmp('annot.mat / occlusion.mat vs stored sequences', m[k], s[k], 0.0)
            acc.cmp('annot.mat / occlusion.mat vs stored sequences', m['is_valid'],
                    s['is_valid'], 0.0)
    else:
        report.notes.append('note: no MultiPersonTestSet/ beside the file; checked the stored '
                            'inputs only')
    n_mat = 0
    for scenario, ref in d['results'].items():
        modes = list(ref.keys())
        stored = d['predictions'][scenario]
        preds_by_seq = [_stored_predictions(stored, s) for s in seqs]
        ours = evaluate_mupots(_frames(seqs, preds_by_seq), modes=modes, **kw)
        _compare_mupots(acc, ours, ref, scenario)
        pred_dir = os.path.join(base, 'predictions', scenario)
        if mat_seqs is not None and os.path.isdir(pred_dir):
            mp = load_mupots_predictions(pred_dir)
            if sorted(mp) != sorted(stored):
                acc.put('prediction .mat vs stored predictions', float('inf'),
                        note=f'{scenario}: different image keys')
            else:
                for k in stored:
                    acc.cmp('prediction .mat vs stored predictions', mp[k][0],
                            stored[k]['pred_2d'], 0.0)
                    acc.cmp('prediction .mat vs stored predictions', mp[k][1],
                            stored[k]['pred_3d'], 0.0)
            mat_preds = [{int(k.rsplit('_', 1)[1]): v for k, v in mp.items()
                          if k.startswith(s['name'] + '_img_')} for s in mat_seqs]
            ours_mat = evaluate_mupots(_frames(mat_seqs, mat_preds), modes=modes, **kw)
            _compare_mupots(acc, ours_mat, ref, scenario, tag=' [from .mat files]')
            n_mat += 1
    # collapse the per-scenario .mat rows into one line per quantity
    # (scenario rows first, then one row per quantity)
    merged = _Acc()
    scen = [n for n in acc.err if ': PCK / AUC per sequence' in n and '[from .mat' not in n]
    for name in scen + [n for n in acc.err if n not in scen]:
        key = name
        if ' [from .mat files]' in name and ': PCK / AUC per sequence' in name:
            key = 'PCK / AUC per sequence, all scenarios [from .mat files]'
        merged.put(key, acc.err[name], acc.tol[name], acc.note.get(name, ''))
    merged.flush(report)
    if mat_seqs is not None:
        report.notes.append(f'recomputed {n_mat} of {len(d["results"])} scenarios also from '
                            'the .mat files beside the golden file')
    return _finish(report)
