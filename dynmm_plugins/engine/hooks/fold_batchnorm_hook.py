"""Fold BatchNorm into the convolutions before testing, so inference costs what its FLOPs say."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class FoldBatchNormHook(Hook):
    """Folds every inference BatchNorm of the model into its convolution before ``test``.

    Runs once, at ``before_test`` (after the checkpoint is loaded), and only for
    testing: folding is irreversible, so validation during training is left
    alone. Outputs are unchanged up to float rounding (checked by
    :func:`~dynmm_plugins.deploy.fold_batchnorm`). Use it with ``mim test``::

        _base_ = ['dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py']
        custom_hooks = [dict(type='FoldBatchNormHook')]
    """

    priority = 'VERY_LOW'

    def before_test(self, runner) -> None:
        """Fold the (unwrapped) model in eval mode."""
        from dynmm_plugins.deploy.folding import fold_batchnorm
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.eval()
        folded = fold_batchnorm(model)
        runner.logger.info(f'FoldBatchNormHook: folded {folded} BatchNorm layers into convolutions')
