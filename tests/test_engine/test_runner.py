"""virtualpose_mm.engine.runner: leaving the distributed group at the end of a tool."""
import sys
import textwrap

from tests.helpers import run_tool

# One gloo process: a DistributedDataParallel model left in a reference cycle (as the
# finished mmengine runner leaves it: its loops and hooks point back at it) must be freed
# by _close_process_group before the group is destroyed, not at interpreter exit.
SCRIPT = textwrap.dedent('''
    import gc, os, shutil, tempfile, weakref
    import torch
    import torch.distributed as dist
    from virtualpose_mm.engine.runner import _close_process_group

    gc.disable()                        # only an explicit collection may free the cycle
    tmp = tempfile.mkdtemp()
    dist.init_process_group('gloo', init_method='file://' + os.path.join(tmp, 'store'),
                            rank=0, world_size=1)
    holder = {}
    holder['model'] = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    holder['self'] = holder             # the cycle
    alive = weakref.ref(holder['model'])
    del holder
    assert alive() is not None          # the cycle keeps it
    _close_process_group()
    assert alive() is None, 'the DDP model outlived the process group'
    assert not dist.is_initialized()
    shutil.rmtree(tmp)
    print('closed cleanly')
''')


def test_close_process_group_frees_the_model_before_destroying_the_group():
    proc = run_tool([sys.executable, '-c', SCRIPT])
    assert 'closed cleanly' in proc.stdout
