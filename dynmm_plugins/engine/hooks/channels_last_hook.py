"""Put the model's convolution weights in channels-last layout before testing (CPU inference)."""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Converts the model's 4-D weights to ``torch.channels_last`` before ``test``.

    A convolution with channels-last weights returns channels-last feature maps,
    so the whole network then runs in oneDNN's own layout on the CPU instead of
    converting NCHW maps at every convolution. Outputs are unchanged up to float
    rounding; the logits come out channels-last. Runs after
    :class:`FoldBatchNormHook` (the fold writes new weights). Use it with
    ``mim test``::

        custom_hooks = [dict(type='FoldBatchNormHook'), dict(type='KeepFreedMemoryHook'),
                        dict(type='ChannelsLastHook')]
    """

    priority = 'LOWEST'

    def before_test(self, runner) -> None:
        """Convert the (unwrapped) model's weights."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
        runner.logger.info('ChannelsLastHook: convolution weights in channels-last layout')
