"""ESANet's ImageNet initialisation of the RGB and depth encoders."""
import os
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

# Where the files come from; nothing is downloaded here.
WHERE_TO_GET = (
    "ESANet's own ImageNet weights for the NonBottleneck1D encoders (r18_NBt1D.pth, r34_NBt1D.pth) are "
    "linked in ESANet's README (https://github.com/TUI-NICR/ESANet; its train.py reads them from "
    '--pretrained_dir, default ./trained_models/imagenet); for BasicBlock/Bottleneck encoders use torchvision\'s '
    'ImageNet files, as ESANet does: https://download.pytorch.org/models/resnet18-5c106cde.pth, '
    'https://download.pytorch.org/models/resnet34-333f7ec4.pth, '
    'https://download.pytorch.org/models/resnet50-19c8e357.pth')




def _load_file(path: str) -> object:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'ESANetPretrained: checkpoint {path} not found. {WHERE_TO_GET}')
    # Tensors, plain containers and numpy scalars only (training scripts store metrics as
    # numpy scalars next to the weights): the project-wide allowlist. Not torch's
    # safe_globals() context: on exit it removes its globals from that allowlist too.
    from dynmm_plugins.engine.checkpoint_compat import allow_mmengine_checkpoint_globals
    allow_mmengine_checkpoint_globals()
    try:  # a checkpoint must not run code
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f'ESANetPretrained: {path} is not a torch checkpoint of tensors ({reason})') from None


def read_encoder_weights(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """One encoder's ImageNet weights from ``path``, keyed like :class:`ResNetEncoder`, and the format name.

    Two formats are read. ESANet's checkpoints of its NonBottleneck1D ImageNet
    encoders: a dict whose ``state_dict`` holds the encoder under keys containing
    ``encoder.`` (``module.encoder.layer1.0.conv3x1_1.weight``), of which what follows
    the last ``encoder.`` is kept, as ESANet does. torchvision's ResNet18/34/50
    ImageNet files: a plain state dict (``conv1.weight``, ``layer1.0.conv1.weight``,
    ...) whose classifier ``fc.*`` is dropped.
    """
    checkpoint = _load_file(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        weights, fmt = OrderedDict(), 'ESANet ImageNet checkpoint'
        for key, value in checkpoint['state_dict'].items():
            if 'encoder.' not in key:
                continue
            name = key.split('encoder.')[-1]
            if name in weights:  # e.g. a two-encoder RGB-D checkpoint, not an ImageNet one
                raise ValueError(f"ESANetPretrained: {path} holds more than one encoder ('{name}' twice); "
                                 "expected one ImageNet encoder under 'encoder.'")
            weights[name] = value
        if not weights:
            raise ValueError(f"ESANetPretrained: {path} has a 'state_dict' without keys containing 'encoder.': "
                             "not an ESANet ImageNet checkpoint")
    elif isinstance(checkpoint, dict) and 'conv1.weight' in checkpoint:
        weights, fmt = OrderedDict((k, v) for k, v in checkpoint.items() if not k.startswith('fc.')), \
            'torchvision ResNet state dict'
    else:
        raise ValueError(f"ESANetPretrained: {path} is neither an ESANet ImageNet checkpoint (a 'state_dict' with "
                         "'encoder.' keys) nor a torchvision ResNet state dict (with 'conv1.weight')")
    bad = [k for k, v in weights.items() if not torch.is_tensor(v)]
    if bad:
        raise ValueError(f'ESANetPretrained: {path}: entries that are not tensors: {_some(bad)}')
    return weights, fmt


def _some(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' ... ({len(keys)} in all)' if len(keys) > limit else '')


@WEIGHT_INITIALIZERS.register_module()
class ESANetPretrained:
    """Initialise ESANet's encoders with ImageNet weights, as ESANet trains.

    The same weights go into the RGB and the depth encoder; the depth encoder's
    first convolution, which sees one channel, gets the RGB filters summed over
    their three input channels. Every parameter and BatchNorm statistic of both
    encoders must come from the file (``num_batches_tracked`` excepted): a missing
    key or a shape that does not fit is an error naming them. Keys in the file
    that the encoders do not have are reported in the log and ignored.

    Use it on the backbone::

        model = dict(backbone=dict(init_cfg=dict(type='ESANetPretrained', checkpoint=pretrained)))

    Args:
        checkpoint (str): ESANet's NBt1D ImageNet checkpoint (``r34_NBt1D.pth``) or
            torchvision's ResNet ImageNet file (``resnet50-19c8e357.pth``); see
            :func:`read_encoder_weights`.
        encoders (Sequence[str]): Attributes of the module holding the encoders.
            Default: ('rgb_encoder', 'depth_encoder'). A module without them is
            initialised as one encoder.
    """

    def __init__(self, checkpoint, encoders=('rgb_encoder', 'depth_encoder')):
        self.checkpoint = str(checkpoint)
        self.encoders = tuple(encoders)

    def __call__(self, module: nn.Module) -> None:
        weights, fmt = read_encoder_weights(self.checkpoint)
        targets = [(name, getattr(module, name)) for name in self.encoders if hasattr(module, name)]
        if not targets:
            targets = [(type(module).__name__, module)]
        states = [(name, self._encoder_state(name, encoder, weights)) for name, encoder in targets]
        for (name, encoder), (_, state) in zip(targets, states):  # all checked before anything changes
            encoder.load_state_dict(state, strict=False)
        unused = sorted(set(weights) - set(states[0][1]))
        print_log(f'ESANetPretrained: loaded {", ".join(n for n, _ in targets)} from {self.checkpoint} ({fmt})'
                  + (f'; ignored keys not in the encoder: {_some(unused)}' if unused else ''), logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'ESANetPretrained: load from {self.checkpoint}')

    def _encoder_state(self, name: str, encoder: nn.Module, weights: Dict[str, torch.Tensor]):
        """The state dict to load into ``encoder``: checked, with conv1 summed where it has fewer inputs."""
        own = encoder.state_dict()
        missing = [k for k in own if k not in weights and not k.endswith('num_batches_tracked')]
        if missing:
            raise ValueError(f'ESANetPretrained: {self.checkpoint} lacks {len(missing)} weights of the {name} '
                             f'({_some(missing)}): a file for another encoder depth or block?')
        state = OrderedDict()
        for key, target in own.items():
            if key not in weights:
                continue
            value = weights[key]
            if key == 'conv1.weight' and value.dim() == 4 and target.shape[1] == 1 and value.shape[1] != 1:
                value = value.sum(dim=1, keepdim=True)  # depth: ESANet sums the RGB filters
            if value.shape != target.shape:
                raise ValueError(f"ESANetPretrained: {self.checkpoint}: '{key}' has shape {tuple(value.shape)}, "
                                 f'the {name} needs {tuple(target.shape)}')
            state[key] = value.to(target.dtype)
        return state
