"""ESANetPretrained: ESANet's and torchvision's ImageNet files into both encoders, every tensor checked."""
from pathlib import Path

import pytest
import torch

import dynmm_plugins  # noqa: F401  (registers the modules)
from dynmm_plugins.models.backbones import DynMMRGBDResNet
from dynmm_plugins.models.layers import ResNetEncoder
from mmengine.config import Config
from mmengine.model import initialize

from helpers import REPO  # noqa: E402

ROOT = Path(REPO)


def imagenet_encoder_weights(depth, block, seed):
    """An ImageNet-like RGB encoder state (values unlike any fresh init), with running stats set."""
    torch.manual_seed(seed)
    encoder = ResNetEncoder(depth, 3, block)
    state = encoder.state_dict()
    return {k: (torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v + 7)
            for k, v in state.items()}


def write_esanet_file(path, weights):
    """ESANet's NBt1D ImageNet checkpoint: the classifier network's state under 'module.encoder.'."""
    state = {f'module.encoder.{k}': v for k, v in weights.items()}
    state['module.fc.weight'] = torch.randn(1000, 512)  # the ImageNet classifier: not an encoder key
    state['module.fc.bias'] = torch.randn(1000)
    torch.save({'epoch': 92, 'state_dict': state, 'optimizer': {'state': {}, 'param_groups': []}}, path)


def write_torchvision_file(path, weights):
    """torchvision's resnetXX-*.pth: a plain state dict with the classifier fc.*."""
    state = {k: v for k, v in weights.items() if not k.endswith('num_batches_tracked')}
    state.update({'fc.weight': torch.randn(1000, 512), 'fc.bias': torch.randn(1000)})
    torch.save(state, path)


def assert_both_encoders_hold(backbone, weights):
    for name, encoder in (('rgb', backbone.rgb_encoder), ('depth', backbone.depth_encoder)):
        for key, value in encoder.state_dict().items():
            if key.endswith('num_batches_tracked'):
                continue
            expected = weights[key]
            if name == 'depth' and key == 'conv1.weight':
                expected = weights[key].sum(dim=1, keepdim=True)
            assert torch.equal(value, expected), f'{name} encoder {key}'


@pytest.fixture(scope='module')
def nbt1d_weights():
    return imagenet_encoder_weights(18, 'NonBottleneck1D', seed=1)


def test_esanet_nbt1d_checkpoint_loads_every_tensor_into_both_encoders(tmp_path, nbt1d_weights):
    path = tmp_path / 'r18_NBt1D.pth'
    write_esanet_file(path, nbt1d_weights)
    backbone = DynMMRGBDResNet(depth=18, block='NonBottleneck1D',
                               init_cfg=dict(type='ESANetPretrained', checkpoint=str(path)))
    backbone.init_weights()
    assert_both_encoders_hold(backbone, nbt1d_weights)
    assert backbone.depth_encoder.conv1.weight.shape == (64, 1, 7, 7)


def test_torchvision_resnet_file_loads_every_tensor_and_drops_fc(tmp_path):
    weights = imagenet_encoder_weights(18, 'BasicBlock', seed=2)
    path = tmp_path / 'resnet18-5c106cde.pth'
    write_torchvision_file(path, weights)
    backbone = DynMMRGBDResNet(depth=18, block='BasicBlock')
    initialize(backbone, dict(type='ESANetPretrained', checkpoint=str(path)))
    assert_both_encoders_hold(backbone, weights)


def test_missing_encoder_weight_is_an_error_naming_it_and_loads_nothing(tmp_path, nbt1d_weights):
    partial = {k: v for k, v in nbt1d_weights.items() if k != 'layer3.1.bn2.running_var'}
    path = tmp_path / 'partial.pth'
    write_esanet_file(path, partial)
    backbone = DynMMRGBDResNet(depth=18, block='NonBottleneck1D')
    before = backbone.rgb_encoder.conv1.weight.clone()
    with pytest.raises(ValueError, match=r'lacks 1 weights .*layer3\.1\.bn2\.running_var'):
        initialize(backbone, dict(type='ESANetPretrained', checkpoint=str(path)))
    assert torch.equal(backbone.rgb_encoder.conv1.weight, before)


def test_file_for_another_block_is_rejected(tmp_path):
    path = tmp_path / 'resnet18.pth'
    write_torchvision_file(path, imagenet_encoder_weights(18, 'BasicBlock', seed=3))
    backbone = DynMMRGBDResNet(depth=18, block='NonBottleneck1D')
    with pytest.raises(ValueError, match='conv3x1_1'):
        initialize(backbone, dict(type='ESANetPretrained', checkpoint=str(path)))


def test_missing_file_says_where_to_get_the_weights(tmp_path):
    backbone = DynMMRGBDResNet(depth=18, block='NonBottleneck1D')
    with pytest.raises(FileNotFoundError) as info:
        initialize(backbone, dict(type='ESANetPretrained', checkpoint=str(tmp_path / 'r34_NBt1D.pth')))
    message = str(info.value)
    assert 'r34_NBt1D.pth not found' in message and '\n' not in message
    assert 'github.com/TUI-NICR/ESANet' in message and 'download.pytorch.org/models/resnet34' in message


@pytest.mark.parametrize('content', ['text', 'foreign_dict', 'rgbd_checkpoint'])
def test_foreign_files_are_one_clear_error(tmp_path, content):
    path = tmp_path / 'weights.pth'
    if content == 'text':
        path.write_text('not a checkpoint')
    elif content == 'foreign_dict':
        torch.save({'model': {'w': torch.zeros(1)}}, path)
    else:  # an RGB-D segmentation checkpoint: two encoders under 'encoder.'-ending names
        torch.save({'state_dict': {'backbone.rgb_encoder.conv1.weight': torch.zeros(64, 3, 7, 7),
                                   'backbone.depth_encoder.conv1.weight': torch.zeros(64, 1, 7, 7)}}, path)
    backbone = DynMMRGBDResNet(depth=18, block='NonBottleneck1D')
    with pytest.raises(ValueError, match=f'ESANetPretrained: {path}') as info:
        initialize(backbone, dict(type='ESANetPretrained', checkpoint=str(path)))
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('config,file', [
    ('esanet/esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py', 'r34_NBt1D.pth'),
    ('dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py', 'r34_NBt1D.pth'),
    ('dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep-finetune_nyuv2-480x640.py', 'r34_NBt1D.pth'),
    ('esanet/esanet_r50_1xb8-500ep_nyuv2-480x640.py', 'resnet50-19c8e357.pth'),
    ('dynmm/dynmm_esanet_r50_1xb8-500ep_nyuv2-480x640.py', 'resnet50-19c8e357.pth'),
])
def test_nyuv2_configs_initialise_the_encoders_from_imagenet(config, file):
    cfg = Config.fromfile(ROOT / 'mmseg_configs' / config)
    assert Path(cfg.pretrained).name == file
    assert cfg.model.backbone.init_cfg == dict(type='ESANetPretrained', checkpoint=cfg.pretrained)


def test_synthetic_config_model_trains_from_an_esanet_file(tmp_path, nbt1d_weights):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    path = tmp_path / 'r18_NBt1D.pth'
    write_esanet_file(path, nbt1d_weights)
    cfg = Config.fromfile(ROOT / 'mmseg_configs/esanet/esanet_r18-nbt1d_1xb4-400it_synthetic-120x160.py')
    cfg.model.backbone.init_cfg = dict(type='ESANetPretrained', checkpoint=str(path))
    model = MODELS.build(cfg.model)
    model.init_weights()  # as the runner does: the segmentor initialises its children
    assert_both_encoders_hold(model.backbone, nbt1d_weights)
