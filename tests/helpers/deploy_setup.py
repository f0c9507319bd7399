"""Set-up shared by the deploy tests: the synthetic configs at 64x96 with random weights.

The weights, BatchNorm statistics included, are random (seeded) so that folding
BatchNorm changes real numbers and the gate sends samples to several branches.
"""
import os.path as osp

from . import REPO

import torch

DYNAMIC = osp.join(REPO, 'mmseg_configs/dynmm/dynmm_esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
STATIC = osp.join(REPO, 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
SIZE = (64, 96)


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm random running statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(c, generator=generator))
                m.weight.copy_(0.5 + torch.rand(c, generator=generator))
                m.bias.copy_(0.1 * torch.randn(c, generator=generator))


def write_case(root: str, config: str, name: str, data_root: str) -> dict:
    """A config at 64x96 on ``data_root`` and a checkpoint of random weights for it."""
    from dynmm_plugins.apis.model_loading import load_model
    from dynmm_plugins.apis.training import synthetic_train_config
    cfg = synthetic_train_config(config, data_root, osp.join(root, name), iters=1, size=SIZE)
    cfg_path = osp.join(root, f'{name}.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model, _ = load_model(cfg_path)
    randomise_batchnorm(model)
    checkpoint = osp.join(root, f'{name}.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return dict(config=cfg_path, checkpoint=checkpoint, model=model.eval())
