"""Keep freed memory in the testing process, so CPU inference does not page-fault its tensors."""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class KeepFreedMemoryHook(Hook):
    """Calls :func:`~dynmm_plugins.deploy.cpu_allocator.keep_freed_memory` before ``test``.

    glibc's malloc unmaps every freed block above 32 MiB, so each CPU forward pass
    page-faults its large feature maps in anew; with this hook they are reused.
    Only for testing (the process keeps its peak memory until it exits). Use it
    with ``mim test`` next to :class:`FoldBatchNormHook`::

        custom_hooks = [dict(type='FoldBatchNormHook'), dict(type='KeepFreedMemoryHook')]
    """

    priority = 'VERY_LOW'

    def before_test(self, runner) -> None:
        """Switch the process's allocator to keeping freed memory."""
        from dynmm_plugins.deploy.cpu_allocator import keep_freed_memory
        keep_freed_memory()
        runner.logger.info('KeepFreedMemoryHook: freed memory is kept in the process')
