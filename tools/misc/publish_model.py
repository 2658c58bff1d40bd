"""Make a release checkpoint from a training checkpoint (MMPose's ``publish_model.py``).

    python tools/misc/publish_model.py IN.pth OUT.pth [--fp16] [--compact | --deflate]
        [--no-hash]

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
files are named. The output is written completely or not at all.
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


def publish(src: str, dst: str, fp16: bool = False, add_hash: bool = True,
            compact: bool = False, deflate: bool = False) -> str:
    import torch

    if compact and deflate:
        raise ValueError('publish: --compact (non-zip) and --deflate (zip) exclude each other')
    from virtualpose_mm.engine.fileio import atomic_write_bytes
    from virtualpose_mm.engine.runner import read_checkpoint
    ckpt = read_checkpoint(src)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'), dict):
        raise ValueError(f'{src}: no state_dict in the checkpoint')
    sd = {}
    for k, v in ckpt['state_dict'].items():
        if fp16 and isinstance(v, torch.Tensor) and v.is_floating_point() and \
                not k.endswith('_extra_state'):
            v = v.half()
        sd[k] = v
    meta = {k: v for k, v in (ckpt.get('meta') or {}).items()
            if k in ('cfg', 'epoch', 'iter', 'mmengine_version', 'seed', 'experiment_name')}
    meta.update(source=osp.basename(src), weights_dtype='float16' if fp16 else 'float32')
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
    args = p.parse_args(argv)
    if args.compact and args.deflate:
        p.error('--compact and --deflate exclude each other')
    out = publish(args.input, args.output, args.fp16, not args.no_hash, args.compact,
                  args.deflate)
    print(f'{out}: {osp.getsize(out):,} bytes ({osp.getsize(out) / 2**20:.2f} MiB)')
    return 0


if __name__ == '__main__':
    from virtualpose_mm.engine.runner import run_tool
    sys.exit(run_tool(main, 'publish_model'))
