"""An exported model behind MMSeg's segmentor interface, for the project's evaluation loop.

:func:`dynmm_plugins.evaluation.test_loop.evaluate` (and the robustness protocol on
top of it) drives a segmentor through ``data_preprocessor``, ``predict``,
``last_gate_weights``, ``branch_costs`` and the gate mode. This class offers
exactly that over :class:`~dynmm_plugins.deploy.runtime.OnnxDynMM`, so the
deployed graphs are measured by the same code, metric and cost bookkeeping as
the checkpoint they came from.
"""
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmseg.models.segmentors import BaseSegmentor
from mmseg.models.utils import resize
from torch import Tensor

from .manifest import check_input_size


class OnnxSegmentor(BaseSegmentor):
    """MMSeg segmentor whose forward pass is an exported DynMM directory.

    Inference only (no loss, no features). The branch costs are the GFLOPs the
    exporter measured on the graphs, so the realised GFLOPs of an evaluation are
    those of the deployed model.

    Args:
        runtime (OnnxDynMM): The loaded export.
        data_preprocessor (dict): The config's ``model.data_preprocessor``; its
            normalisation must be the manifest's.
        align_corners (bool): As the decode head's (resizing to the original
            image size). Default: False.
    """

    def __init__(self, runtime, data_preprocessor: dict, align_corners: bool = False):
        super().__init__(data_preprocessor=data_preprocessor)
        self.runtime = runtime
        self.align_corners = align_corners
        self.num_branches = runtime.num_branches
        # what evaluation.inference_gate_mode reads: every sample runs only its branch
        self.gate_mode = 'hard' if runtime.is_dynamic else 'baseline'
        self.inference_gate = None
        self.last_gate_weights: Optional[Tensor] = None
        self._check_normalisation()

    def _check_normalisation(self) -> None:
        spec = self.runtime.manifest['input']
        pre = self.data_preprocessor
        mean = pre.mean.flatten().tolist() if getattr(pre, '_enable_normalize', False) else [0.0] * 4
        std = pre.std.flatten().tolist() if getattr(pre, '_enable_normalize', False) else [1.0] * 4
        if not (np.allclose(mean, spec['mean']) and np.allclose(std, spec['std'])):
            raise ValueError(f'the config normalises with mean {mean}, std {std}; the export was '
                             f'made for mean {spec["mean"]}, std {spec["std"]}')

    @property
    def has_gate(self) -> bool:
        """Whether the exported model has a gate."""
        return self.runtime.is_dynamic

    def branch_costs(self, input_size: Optional[Tuple[int, int]] = None) -> dict:
        """GFLOPs per branch measured on the exported graphs (``total``, ``depth_encoder``)."""
        if input_size is not None:
            check_input_size(self.runtime.manifest, input_size, 'evaluation input')
        gflops = self.runtime.manifest['gflops']
        return dict(total=[v if v is not None else float('nan') for v in gflops['total']],
                    depth_encoder=[v if v is not None else float('nan')
                                   for v in gflops['depth_encoder']])

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Logits (N, C, H, W) of the runtime; the gate decisions go to ``last_gate_weights``."""
        check_input_size(self.runtime.manifest, inputs.shape[-2:], 'evaluation input')
        logits, branches = self.runtime.predict(inputs.detach().float().cpu().numpy())
        self.last_gate_weights = torch.nn.functional.one_hot(
            torch.from_numpy(branches).long(), self.num_branches).float()
        return torch.from_numpy(logits).to(inputs.device)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Logits resized to the (padded) input size, as the decode head's ``predict``."""
        logits = self._forward(inputs)
        meta = batch_img_metas[0]
        size = meta['pad_shape'][:2] if 'pad_shape' in meta else meta['img_shape']
        return resize(logits, size=size, mode='bilinear', align_corners=self.align_corners)

    def predict(self, inputs: Tensor, data_samples=None):
        """Segmentation results, as :class:`EncoderDecoder`'s ``predict`` (mode 'whole')."""
        if data_samples is not None:
            metas = [sample.metainfo for sample in data_samples]
        else:
            metas = [dict(ori_shape=inputs.shape[2:], img_shape=inputs.shape[2:],
                          pad_shape=inputs.shape[2:], padding_size=[0, 0, 0, 0])] * inputs.shape[0]
        return self.postprocess_result(self.encode_decode(inputs, metas), data_samples)

    def extract_feat(self, inputs: Tensor):
        """Not available: the graphs expose logits only."""
        raise NotImplementedError('an exported model exposes logits only, no features')

    def loss(self, inputs: Tensor, data_samples):
        """Not available: an exported model is for inference."""
        raise NotImplementedError('an exported model cannot be trained')
