"""A DDP wrapper that also works for CPU training (gloo), e.g. in tests and CI."""
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that drops ``device_ids`` for a CPU module.

    mmengine's runner always passes ``device_ids=[LOCAL_RANK]``, which torch rejects for a
    module on the CPU. ``tools/train.py`` selects this wrapper automatically when a
    distributed run has no CUDA device.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        params = list(module.parameters())
        if not params or params[0].device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
