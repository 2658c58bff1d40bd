"""Make a release checkpoint from a training checkpoint (MMPose's ``publish_model.py``).

    python tools/misc/publish_model.py IN.pth OUT.pth [--fp16] [--compact | --deflate]
        [--no-hash] [--drop PREFIX ...] [--graft DST_PREFIX=CKPT:SRC_PREFIX ...]
        [--widen PREFIX=FACTOR ... [--seed N]] [--int8 PREFIX ...]

Keeps the model weights and a small ``meta`` (the config text, the epoch/iteration, the
source file name); drops the optimizer, the scheduler and the message hub. ``--fp16`` stores
floating-point weights as float16 (half the size; the model casts them back to float32 on
load: ≤ 0.5e-3 relative change per weight). ``--compact`` writes torch's non-zip
serialisation, which has no per-tensor zip record (about 150 bytes saved per tensor: 0.4 %
of a 15 MB float16 model of 450 tensors); ``torch.load`` (and so mmengine) reads both
formats, ``weights_only=True`` included. ``--deflate`` writes the zip serialisation with
every record deflate-compressed (zlib level 9) instead of stored: float16 weights shrink
by about 8 % (their exponent bits repeat), and ``torch.load`` reads such a file as any
other (without memory-mapping: it has to inflate). Unless ``--no-hash``, the first 8 hex digits of
the output's SHA-256 are appended to its name (``OUT-<sha8>.pth``), as OpenMMLab model zoo
files are named. ``--graft depth_refiner.=OTHER.pth:refiner.`` adds the weights under
``refiner.`` of another checkpoint under ``depth_refiner.`` (e.g. VirtualPose's
``depth_refiner``, trained as another config's ``refiner``); the source prefix must hold
weights and the destination prefix none yet (either is an error naming the file).
``--drop refiner.`` leaves out the input's weights under ``refiner.`` (the prefix must hold
some), before the grafts: ``--drop refiner. --graft refiner.=OTHER.pth:refiner.`` replaces
a submodule by another run's (e.g. parts of one model trained in separate runs).
``--widen refiner.=2`` makes the :class:`LiftingPoseRefiner` under ``refiner.`` twice as
wide (``hidden_channels`` × 2) computing the same function
(:func:`virtualpose_mm.models.heads.widen_refiner_state_dict`: Net2Net's wider operation,
random shares seeded by ``--seed``), after the grafts: a start for training a wider refiner
from a trained one (its config sets the wider ``hidden_channels``). ``--int8 pose_net.``
stores the weight tensors (≥ 2-D: convolutions, linear layers) under ``pose_net.`` as int8
with a float16 scale per output channel, a quarter of float32
(:mod:`virtualpose_mm.models.utils.int8_weights`; the package's estimators read them back
as float32 on load; each weight within half a step, 0.4 % of its channel's largest). The
output is written completely or not at all.
"""
import argparse
import hashlib
import io
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def deflate_zip(data: bytes) -> bytes:
    """The zip archive ``data`` (torch's serialisation) with every record deflated at
    level 9, in the same order and under the same names."""
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, \
            zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return out.getvalue()


def parse_graft(spec: str):
    """``'DST_PREFIX=CKPT:SRC_PREFIX'`` → ``(dst_prefix, ckpt, src_prefix)``."""
    dst, sep, rest = spec.partition('=')
    ckpt, sep2, src = rest.rpartition(':')
    if not sep or not sep2 or not dst or not ckpt or not src:
        raise ValueError(f'publish: --graft wants DST_PREFIX=CKPT:SRC_PREFIX (e.g. '
                         f'depth_refiner.=work_dirs/x/iter_8000.pth:refiner.), got {spec!r}')
    return dst, ckpt, src


def parse_widen(spec: str):
    """``PREFIX=FACTOR`` → (prefix, factor)."""
    prefix, sep, factor = spec.rpartition('=')
    if not sep or not prefix or not factor.isdigit() or int(factor) < 2:
        raise ValueError(f'publish: --widen {spec!r} is not PREFIX=FACTOR (an integer ≥ 2)')
    return prefix, int(factor)


def graft_weights(state_dict: dict, src_file: str, dst_prefix: str, ckpt_file: str,
                  src_prefix: str) -> dict:
    """``state_dict`` plus the weights under ``src_prefix`` of checkpoint ``ckpt_file``,
    renamed to start with ``dst_prefix`` (``src_file`` names ``state_dict``'s file in
    errors)."""
    from virtualpose_mm.engine.runner import read_checkpoint
    from virtualpose_mm.models.utils.state_dict_mapping import rename_state_dict
    taken = [k for k in state_dict if k.startswith(dst_prefix)]
    if taken:
        raise ValueError(f'{src_file}: already has {len(taken)} weights under '
                         f'{dst_prefix!r} (e.g. {taken[0]!r}); nothing to graft onto')
    other = read_checkpoint(ckpt_file)
    if not isinstance(other, dict) or not isinstance(other.get('state_dict'), dict):
        raise ValueError(f'{ckpt_file}: no state_dict in the checkpoint')
    # the keys outside src_prefix are the rename's 'unknown' ones: not grafted
    grafted, _ = rename_state_dict(other['state_dict'], [(src_prefix, dst_prefix)])
    if not grafted:
        raise ValueError(f'{ckpt_file}: no weights under {src_prefix!r} to graft')
    return {**state_dict, **grafted}


def publish(src: str, dst: str, fp16: bool = False, add_hash: bool = True,
            compact: bool = False, deflate: bool = False, grafts=(), drops=(),
            widen=(), seed: int = 0, int8=()) -> str:
    import torch

    if compact and deflate:
        raise ValueError('publish: --compact (non-zip) and --deflate (zip) exclude each other')
    from virtualpose_mm.engine.fileio import atomic_write_bytes
    from virtualpose_mm.engine.runner import read_checkpoint
    ckpt = read_checkpoint(src)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'), dict):
        raise ValueError(f'{src}: no state_dict in the checkpoint')
    grafts = [parse_graft(g) for g in grafts]
    state_dict = ckpt['state_dict']
    for prefix in drops:
        if not prefix:
            raise ValueError('publish: --drop needs a non-empty prefix')
        kept = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
        if len(kept) == len(state_dict):
            raise ValueError(f'{src}: no weights under {prefix!r} to drop')
        state_dict = kept
    for dst_prefix, ckpt_file, src_prefix in grafts:
        state_dict = graft_weights(state_dict, src, dst_prefix, ckpt_file, src_prefix)
    widen = [parse_widen(w) for w in widen]
    if widen:
        from virtualpose_mm.models.heads import widen_refiner_state_dict
        gen = torch.Generator().manual_seed(int(seed))
        for prefix, factor in widen:
            state_dict = widen_refiner_state_dict(state_dict, prefix, factor, gen, src)
    if int8:
        from virtualpose_mm.models.utils.int8_weights import quantize_state_dict
        state_dict = quantize_state_dict(state_dict, int8, src)
    sd = {}
    for k, v in state_dict.items():
        if fp16 and isinstance(v, torch.Tensor) and v.is_floating_point() and \
                not k.endswith('_extra_state'):
            v = v.half()
        sd[k] = v
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items()
            if k in ('cfg', 'epoch', 'iter', 'mmengine_version', 'seed', 'experiment_name')}
    meta.update(source=osp.basename(src), weights_dtype='float16' if fp16 else 'float32')
    if int8:
        meta.update(int8=list(int8))
    if drops:
        meta.update(dropped=list(drops))
    if widen:
        meta.update(widened=[f'{p}={f}' for p, f in widen], widen_seed=int(seed))
    if grafts:
        meta.update(grafted=[f'{d}={osp.basename(c)}:{s}' for d, c, s in grafts])
    buf = io.BytesIO()
    torch.save({'state_dict': sd, 'meta': meta}, buf,
               _use_new_zipfile_serialization=not compact)
    data = buf.getvalue()
    if deflate:
        data = deflate_zip(data)
    if add_hash:
        root, ext = osp.splitext(dst)
        dst = f'{root}-{hashlib.sha256(data).hexdigest()[:8]}{ext or ".pth"}'
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    atomic_write_bytes(dst, data)
    return dst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input')
    p.add_argument('output')
    p.add_argument('--fp16', action='store_true', help='store float weights as float16')
    p.add_argument('--compact', action='store_true',
                   help="torch's non-zip serialisation (no per-tensor zip records)")
    p.add_argument('--deflate', action='store_true',
                   help='zip serialisation with deflate-compressed records (~8 %% smaller '
                   'for float16 weights)')
    p.add_argument('--no-hash', action='store_true', help='do not add the SHA-256 prefix')
    p.add_argument('--graft', action='append', default=[], metavar='DST=CKPT:SRC',
                   help="add CKPT's weights under the prefix SRC under the prefix DST "
                   '(repeatable)')
    p.add_argument('--drop', action='append', default=[], metavar='PREFIX',
                   help="leave out the input's weights under PREFIX, before the grafts "
                   '(repeatable)')
    p.add_argument('--widen', action='append', default=[], metavar='PREFIX=FACTOR',
                   help='make the LiftingPoseRefiner under PREFIX FACTOR times wider, '
                   'computing the same function (after the grafts; repeatable)')
    p.add_argument('--int8', action='append', default=[], metavar='PREFIX',
                   help='store the weight tensors (≥ 2-D) under PREFIX as int8 with '
                   'per-channel scales, read back as float on load (repeatable)')
    p.add_argument('--seed', type=int, default=0,
                   help="seed of --widen's random shares (default 0)")
    args = p.parse_args(argv)
    if args.compact and args.deflate:
        p.error('--compact and --deflate exclude each other')
    out = publish(args.input, args.output, args.fp16, not args.no_hash, args.compact,
                  args.deflate, args.graft, args.drop, args.widen, args.seed, args.int8)
    print(f'{out}: {osp.getsize(out):,} bytes ({osp.getsize(out) / 2**20:.2f} MiB)')
    return 0


if __name__ == '__main__':
    from virtualpose_mm.engine.runner import run_tool
    sys.exit(run_tool(main, 'publish_model'))
