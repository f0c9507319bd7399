"""DynMM segmentor: runs encoder stages and gated fusions in turn, adds the resource loss."""
import logging
from collections import OrderedDict
from typing import ContextManager, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor

from dynmm_plugins.core import (
    check_branch,
    check_gate_bias,
    check_temperature,
    count_macs,
    fixed_one_hot,
    gate_activation,
    override_gate,
    random_one_hot,
    run_grouped_by_branch,
)
from dynmm_plugins.engine.checkpoint_compat import describe_last_checkpoint
from dynmm_plugins.utils.state_dicts import state_dict_mismatch

GATE_MODES = ('baseline', 'random', 'soft', 'hard', 'fixed')
GATE_LOSSES = ('mixed', 'expected')


@MODELS.register_module()
class DynMMEncoderDecoder(EncoderDecoder):
    """ESANet with DynMM's fusion-level gate, as an MMSeg encoder-decoder.

    The backbone (:class:`DynMMRGBDResNet`) provides the two encoders, stem
    fusion and the gate; the neck (:class:`DynMMGatedFusionNeck`) the per-stage
    fusions and skips; the decode head (:class:`ESANetHead`) the decoder. Branch
    k uses depth in the first k of the 4 stages.

    In training every path is computed and mixed by the gate weights (soft, or
    straight-through one-hot), so gradients reach the gate. At inference with a
    hard or fixed gate each sample runs only its branch: the batch is grouped by
    branch and the depth stages after the branch are never computed.

    Gate modes (:meth:`set_gate`): 'baseline' (every sample on the last branch,
    i.e. static ESANet), 'random' (uniform random branch, DynMM's initial
    phase), 'soft', 'hard', 'fixed' (every sample on one given branch, or each
    sample on its own given branch). :meth:`gate_override` runs a block of code
    under another gate and restores the previous one; tools and tests use it
    instead of touching the gate attributes.

    Args:
        loss_resource (dict, optional): Resource loss config, e.g.
            ``dict(type='DynMMResourceLoss', loss_weight=1e-4)``. None trains
            without it.
        gate_mode (str): Initial gate mode. Default: 'soft' ('baseline' when the
            backbone has no gate).
        temperature (float): Initial gate temperature. Default: 1.0.
        fixed_branch (int, optional): Branch of the 'fixed' mode.
        inference_gate (str, optional): Gate mode used at inference when the
            training mode is 'soft' or 'random'; 'hard' as DynMM evaluates.
            None keeps the training mode. Default: 'hard'.
        cost_input_size (Tuple[int, int]): (H, W) at which the per-branch
            GFLOPs are measured. Default: (480, 640).
        freeze_all_but_gate (bool): Train only the gate (DynMM's ``--freeze``).
            Default: False.
        freeze_gate (bool): The opposite: keep the gate and the layers its input
            comes from fixed, and train the rest of the network under the gate's
            own hard decisions (:meth:`freeze_gate`). Default: False.
        gate_bias (Sequence[float], optional): The compute knob: one value per
            branch added to the gate logits at inference ('soft' and 'hard'
            gates, never in training). ``-tau * cost_k`` with tau > 0 moves
            decisions to cheaper branches; ``tools/calibrate_budget.py`` finds
            tau for a GFLOPs target. It is a non-persistent buffer: it comes from
            the config (``--cfg-options model.gate_bias=...``) or a budget file,
            never from a checkpoint. None: zeros (the gate as trained).
        gate_loss (str): The task term the gate learns from. ``'mixed'``
            (DynMM's): the loss of the network whose fusions are mixed by the gate
            weights. ``'expected'`` (with ``freeze_all_but_gate`` only): every
            branch runs on its own, without gradients, and the term is the
            per-image loss of each branch weighted by the gate weights, i.e. the
            expected task loss under the gate, beside the expected compute of the
            resource loss; the gate then compares the branches as they run at
            inference instead of a blend no branch computes. Default: 'mixed'.
        norm_eval (bool): Keep every BatchNorm layer in eval mode while training
            (running statistics fixed, affine weights still learning), as MMSeg
            backbones' ``norm_eval`` does for finetuning: with small batches whose
            images differ a lot (dim and bright scenes, say), batch statistics
            swing from batch to batch, and a network finetuned on them does worse
            with the running statistics it is tested with. Default: False.
        **kwargs: :class:`EncoderDecoder` arguments (backbone, neck,
            decode_head, train_cfg, test_cfg, data_preprocessor, init_cfg).
    """

    def __init__(self, loss_resource=None, gate_mode=None, temperature=1.0, fixed_branch=None,
                 inference_gate='hard', cost_input_size=(480, 640), freeze_all_but_gate=False,
                 gate_bias=None, freeze_gate=False, gate_loss='mixed', norm_eval=False, **kwargs):
        super().__init__(**kwargs)
        self.norm_eval = bool(norm_eval)
        if gate_loss not in GATE_LOSSES:
            raise ValueError(f'gate_loss must be one of {GATE_LOSSES}, got {gate_loss!r}')
        if gate_loss == 'expected' and not freeze_all_but_gate:
            raise ValueError("gate_loss='expected' trains the gate alone: it needs "
                             'freeze_all_but_gate=True (the network gets no task gradient)')
        self.gate_loss = gate_loss
        self.num_branches = self.backbone.num_branches
        self.loss_resource = None
        if loss_resource is not None:
            self.loss_resource = MODELS.build(loss_resource)
            self.loss_resource.check_num_branches(self.num_branches)
        if inference_gate not in (None, 'hard', 'soft'):
            raise ValueError(f"inference_gate must be 'hard', 'soft' or None, got {inference_gate!r}")
        self.inference_gate = inference_gate
        self.cost_input_size = tuple(cost_input_size)
        self._branch_costs = None
        self.last_gate_weights = None
        # Whether inference may skip the depth stages that no sample of a batch
        # uses; False computes every path and selects (the reference's inference).
        self.skip_unused_depth = True
        default_mode = 'soft' if self.has_gate else 'baseline'
        self.set_gate(gate_mode or default_mode, temperature, fixed_branch)
        # Not persistent: an operating point belongs to the config or a budget file, so
        # that one checkpoint serves every budget and `--cfg-options model.gate_bias`
        # is never overwritten by the checkpoint loaded after the model is built.
        self.register_buffer('gate_bias', torch.zeros(self.num_branches), persistent=False)
        self.set_gate_bias(gate_bias)
        if freeze_all_but_gate and freeze_gate:
            raise ValueError('freeze_all_but_gate (train only the gate) and freeze_gate (train '
                             'everything but the gate) exclude each other')
        # Modules fixed by freeze_gate: they stay in eval mode (BatchNorm statistics too).
        self._frozen_gate_modules: List[torch.nn.Module] = []
        # Modules fixed by freeze_all_but_gate: likewise kept in eval mode.
        self._frozen_network_modules: List[torch.nn.Module] = []
        if freeze_all_but_gate:
            self.freeze_all_but_gate()
        if freeze_gate:
            self.freeze_gate()
        self._gate_untrained = False  # True after loading a checkpoint without the gate
        self.register_load_state_dict_pre_hook(self._check_checkpoint_fits)

    def _check_checkpoint_fits(self, module, state_dict, prefix, *args):
        """Refuse a checkpoint of another architecture with one clear message.

        mmengine loads non-strictly and only warns; a checkpoint of another
        model would then silently leave most weights at their initial values.
        Only the gate may be absent or extra (finetuning static <-> dynamic).
        """
        if prefix:
            return
        is_gate = lambda key: key.startswith('backbone.gate.')  # noqa: E731
        missing, unexpected, mismatched = state_dict_mismatch(self.state_dict(), state_dict, ignore=is_gate)
        if self.has_gate and not missing and not unexpected and not mismatched:
            # static ESANet -> DynMM: fine to finetune from, meaningless to test (random gate)
            self._gate_untrained = not any(is_gate(k) for k in state_dict)
            if self._gate_untrained:
                from mmengine.logging import print_log
                print_log(f'{describe_last_checkpoint()} has no gate (a static ESANet checkpoint): '
                          'the gate keeps its initialisation. Fine for finetuning (load_from); '
                          'testing refuses to run the untrained gate.', logger='current',
                          level=logging.WARNING)
        if missing or unexpected or mismatched:
            raise ValueError(
                f'checkpoint does not fit this {type(self).__name__} (another architecture or '
                f'config?): {len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected '
                f'keys {unexpected[:5]}, {len(mismatched)} shape mismatches {mismatched[:3]}')

    def predict(self, inputs: Tensor, data_samples=None):
        """MMSeg's predict, refused while the gate is one no checkpoint or training has set."""
        if self._gate_untrained and self._effective_mode() in ('soft', 'hard'):
            raise ValueError(
                f'{describe_last_checkpoint()} is a static ESANet checkpoint (no backbone.gate.* '
                'weights) loaded into a dynamic DynMM config: its gate would route at random. Test '
                'it with the static config (esanet_*), or finetune it as DynMM first (load_from) '
                'and test that checkpoint')
        return super().predict(inputs, data_samples)

    # ------------------------------------------------------------------ gate control
    @property
    def has_gate(self) -> bool:
        """Whether the backbone has a gate (False for static ESANet)."""
        return self.backbone.gate is not None

    def set_gate(self, mode: str, temperature: Optional[float] = None,
                 branch: Union[int, Sequence[int], None] = None) -> None:
        """Select how branches are chosen.

        Args:
            mode (str): 'baseline', 'random', 'soft', 'hard' or 'fixed'.
            temperature (float, optional): New softmax temperature (> 0).
            branch (int | Sequence[int], optional): Branch of the 'fixed' mode
                (0..num_branches-1), or one branch per sample of the next batches
                (their batch size must then equal its length).
        """
        if mode not in GATE_MODES:
            raise ValueError(f'unknown gate mode {mode!r}; choose one of {GATE_MODES}')
        if mode in ('soft', 'hard') and not self.has_gate:
            raise ValueError(f"gate mode {mode!r} needs a gate, but this model is static ESANet "
                             "(backbone.gate=None); use 'baseline', 'fixed' or 'random'")
        if mode == 'fixed':
            branch = self._check_fixed_branch(branch)
        elif branch is not None:
            raise ValueError(f"branch={branch!r} is only meaningful for gate mode 'fixed', got {mode!r}")
        if temperature is not None:
            self.temperature = check_temperature(temperature)
        self.gate_mode, self.fixed_branch = mode, branch

    def _check_fixed_branch(self, branch):
        if isinstance(branch, (list, tuple, Tensor)):
            branches = [int(b) for b in (branch.tolist() if isinstance(branch, Tensor) else branch)]
            if not branches:
                raise ValueError('branch: a per-sample branch list must not be empty')
            for b in branches:
                check_branch(b, self.num_branches)
            return tuple(branches)
        return check_branch(branch, self.num_branches)

    def set_gate_bias(self, bias: Optional[Sequence[float]]) -> None:
        """Set the compute knob: one finite value per branch, added to the gate logits at inference.

        None resets it to zeros. ValueError for a wrong length, a non-number, a
        non-finite value, or a non-zero bias on a model without a gate.
        """
        values = check_gate_bias(bias, self.num_branches)
        if not self.has_gate and bool(values.any()):
            raise ValueError(f'gate_bias {values.tolist()} needs a gate, but this model is static ESANet '
                             '(backbone.gate=None)')
        self.gate_bias.copy_(values.to(self.gate_bias.dtype))

    def gate_override(self, mode: str, branch: Union[int, Sequence[int], None] = None,
                      temperature: Optional[float] = None,
                      skip_unused_depth: bool = True) -> ContextManager['DynMMEncoderDecoder']:
        """Run the block under another gate, then restore the previous gate.

        Example::

            with model.gate_override('fixed', branch=0):
                logits = model._forward(x)          # every sample on branch 0
            with model.gate_override('fixed', branch=[0, 4], skip_unused_depth=False):
                logits = model._forward(x2)         # compute every path, then select

        Args:
            mode (str): Gate mode, as in :meth:`set_gate`.
            branch (int | Sequence[int], optional): As in :meth:`set_gate`.
            temperature (float, optional): Temperature inside the block.
            skip_unused_depth (bool): At inference, skip the depth stages no
                sample needs (True, DynMM's saving) or compute both encoders and
                every fusion and select by the one-hot weights (False, the
                reference implementation's inference). Default: True.
        """
        return override_gate(self, 'skip_unused_depth', mode, branch, temperature, skip_unused_depth)

    def freeze_all_but_gate(self) -> None:
        """Train the gate alone (DynMM's ``--freeze``): the rest keeps its weights and statistics.

        Everything but the gate also stays in eval mode, BatchNorm included: the gate
        then learns against the network exactly as it runs at inference (running
        statistics, not those of a small training batch), and training it leaves the
        network's statistics as they were.
        """
        if not self.has_gate:
            raise ValueError('freeze_all_but_gate needs a gate, but this model has none')
        for name, param in self.named_parameters():
            param.requires_grad = name.startswith('backbone.gate.')
        fixed = {id(p) for p in self.parameters() if not p.requires_grad}
        self._frozen_network_modules = self._largest_modules_within(fixed)
        self.train(self.training)

    def _largest_modules_within(self, param_ids) -> List[torch.nn.Module]:
        """The largest sub-modules all of whose parameters are in ``param_ids`` (with
        their parameter-free children: BatchNorm statistics, dropout)."""
        def largest(module):
            params = list(module.parameters())
            if params and all(id(p) in param_ids for p in params):
                return [module]
            return [m for child in module.children() for m in largest(child)]
        return largest(self)

    @property
    def gate_frozen(self) -> bool:
        """Whether :meth:`freeze_gate` fixed the gate (the network trains under its decisions)."""
        return bool(self._frozen_gate_modules)

    def freeze_gate(self) -> None:
        """Fix the gate and everything its logits depend on; train the rest under its hard decisions.

        DynMM finetunes its network from a hard-gate checkpoint: each branch then
        trains on the images the gate sends to it instead of on random ones. Here the
        routing is kept exactly as it was (e.g. as chosen on a val split): the gate,
        and the layers that compute its input (the stems and the stem fusion of this
        backbone, whatever it is), stop learning and keep their BatchNorm statistics,
        so that a given image is routed as before. Training then uses the gate's
        one-hot decisions, and the depth stages no sample of a batch uses are skipped.
        """
        if not self.has_gate:
            raise ValueError('freeze_gate needs a gate, but this model has none')
        path = {id(p): p for p in self._gate_path_parameters()}
        for param in path.values():
            param.requires_grad = False
        # in eval mode with their children (parameter-free BatchNorm, dropout)
        self._frozen_gate_modules = self._largest_modules_within(path)
        self.train(self.training)

    def _gate_path_parameters(self) -> List[torch.nn.Parameter]:
        """The parameters the gate logits depend on, found by autograd on one dummy input.

        Asking autograd rather than listing modules per backbone keeps this right for
        any backbone that returns gate logits (stems, stem fusion, the gate).
        """
        params = list(self.parameters())
        saved = [p.requires_grad for p in params]
        was_training = self.training
        x = torch.zeros(1, 4, *self.cost_input_size, device=params[0].device, dtype=params[0].dtype)
        self.eval()  # no BatchNorm statistics updated by this pass
        try:
            for p in params:
                p.requires_grad_(True)
            with torch.enable_grad():
                logits = self.backbone(x)[2]
                grads = torch.autograd.grad(logits.sum(), params, allow_unused=True)
        finally:
            for p, flag in zip(params, saved):
                p.requires_grad_(flag)
            self.train(was_training)
        return [p for p, g in zip(params, grads) if g is not None]

    def train(self, mode: bool = True):
        """``nn.Module.train``, except that what :meth:`freeze_gate` or
        :meth:`freeze_all_but_gate` fixed stays in eval mode."""
        super().train(mode)
        for module in (getattr(self, '_frozen_gate_modules', [])
                       + getattr(self, '_frozen_network_modules', [])):
            module.train(False)
        if mode and getattr(self, 'norm_eval', False):
            for module in self.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def _effective_mode(self) -> str:
        if not self.training and self.inference_gate and self.gate_mode in ('soft', 'random'):
            return self.inference_gate
        return self.gate_mode

    def gate_weights(self, logits: Optional[Tensor], batch_size: int, device) -> Tensor:
        """Branch weights (N, B) under the current gate mode."""
        mode = self._effective_mode()
        if mode == 'baseline':
            return fixed_one_hot(batch_size, self.num_branches, self.num_branches - 1, device)
        if mode == 'fixed' and isinstance(self.fixed_branch, tuple):
            if batch_size != len(self.fixed_branch):
                raise ValueError(f'the gate is fixed per sample for batches of {len(self.fixed_branch)}, '
                                 f'got a batch of {batch_size}')
            index = torch.tensor(self.fixed_branch, device=device)
            return torch.nn.functional.one_hot(index, self.num_branches).float()
        if mode == 'fixed':
            return fixed_one_hot(batch_size, self.num_branches, self.fixed_branch, device)
        if mode == 'random':
            return random_one_hot(batch_size, self.num_branches, device)
        if not self.training:  # the compute knob acts at inference only
            logits = logits + self.gate_bias.to(logits.dtype)
        if self.training and self.gate_frozen:
            # the network trains under the fixed gate's decisions: constant one-hot weights
            return gate_activation(logits.detach(), self.temperature, hard=True).detach()
        return gate_activation(logits, self.temperature, hard=(mode == 'hard'))

    # ------------------------------------------------------------------ encoder
    def encode(self, inputs: Tensor) -> Tuple[List[Tensor], Tensor]:
        """Decoder inputs and the gate weights (N, B) for a batch of RGB-D inputs."""
        rgb, depth, logits = self.backbone(inputs)
        weights = self.gate_weights(logits, inputs.shape[0], inputs.device)
        mode = self._effective_mode()
        # The gate learns only through the weights of a training 'soft' or 'hard'
        # gate; every other weight is a constant one-hot, so unused paths may go.
        gate_learns = self.training and mode in ('soft', 'hard') and not self.gate_frozen
        skip = self.skip_unused_depth and not gate_learns
        if skip and not self.training and mode in ('hard', 'fixed', 'baseline'):
            branches = weights.argmax(dim=1)
            stage_feats = run_grouped_by_branch(branches, self._encode_branch, rgb, depth)
        else:
            stage_feats = self._encode_mixed(rgb, depth, weights, skip)
        self.last_gate_weights = weights.detach()
        return (self.neck(stage_feats) if self.with_neck else stage_feats), weights

    @property
    def gated_stem_fusion(self) -> bool:
        """Whether the backbone leaves its stem fusion to the depth-using branches
        (``DynMMRGBDResNet(gated_stem_fusion=True)``: branch 0 is then RGB alone)."""
        return bool(getattr(self.backbone, 'gated_stem_fusion', False))

    @property
    def stage_fusion(self):
        """What fuses depth into RGB per stage: the backbone if it can, else the neck (ESANet)."""
        return self.backbone if hasattr(self.backbone, 'fuse_stage') else self.neck

    def _encode_mixed(self, rgb: Tensor, depth: Tensor, weights: Tensor,
                      skip_unused_depth: bool) -> List[Tensor]:
        """Every stage of both encoders, each fusion mixed by its probability.

        With ``skip_unused_depth`` (constant weights only) the depth stages that
        no sample fuses are skipped, and a fusion every sample takes is not mixed.
        """
        def fusion(p):
            # (nobody fuses, the probability to mix by: None where every sample fuses)
            if not skip_unused_depth:
                return False, p
            return bool((p == 0).all()), None if bool((p == 1).all()) else p

        feats = []
        # P(branch > i): the probability that stage i fuses depth
        fuse_probs = weights.flip(1).cumsum(1).flip(1)[:, 1:]
        if self.gated_stem_fusion:
            # the stem fusion belongs to the branches that fuse stage 0
            nobody, prob = fusion(fuse_probs[:, 0])
            if not nobody:
                rgb = self.backbone.fuse_stem(rgb, depth, prob)
        for i in range(self.backbone.num_stages):
            rgb = self.backbone.rgb_stage(i, rgb)
            nobody, prob = fusion(fuse_probs[:, i])
            if nobody:
                # nobody fuses here or later: skip the rest of the depth encoder
                feats.append(rgb)
                continue
            depth = self.backbone.depth_stage(i, depth)
            rgb = self.stage_fusion.fuse_stage(i, rgb, depth, prob)
            feats.append(rgb)
        return feats

    def _encode_branch(self, branch: int, rgb: Tensor, depth: Tensor) -> List[Tensor]:
        """Branch ``branch`` only: depth stages after it are not computed."""
        feats = []
        if self.gated_stem_fusion and branch > 0:
            rgb = self.backbone.fuse_stem(rgb, depth)
        for i in range(self.backbone.num_stages):
            rgb = self.backbone.rgb_stage(i, rgb)
            if i < branch:
                depth = self.backbone.depth_stage(i, depth)
                rgb = self.stage_fusion.fuse_stage(i, rgb, depth)
            feats.append(rgb)
        return feats

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Decoder inputs (the gate weights are kept in ``last_gate_weights``)."""
        return self.encode(inputs)[0]

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples) -> dict:
        """Segmentation losses, ``loss_resource`` and gate statistics (non-loss values)."""
        if self.gate_loss == 'expected' and self.gate_mode in ('soft', 'hard'):
            return self._expected_gate_loss(inputs, data_samples)
        feats, weights = self.encode(inputs)
        self._gate_untrained = False  # training (finetuning) gives the gate its weights
        losses = self._decode_head_forward_train(feats, data_samples)
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(feats, data_samples))
        depth_costs = self.branch_costs()['depth_encoder']
        # a frozen gate's cost is a constant: nothing for a resource loss to train
        if self.loss_resource is not None and self.gate_mode in ('soft', 'hard') and not self.gate_frozen:
            losses[self.loss_resource.loss_name] = self.loss_resource(weights, depth_costs)
        losses.update(self.gate_log_vars(weights.detach()))
        return losses

    def _expected_gate_loss(self, inputs: Tensor, data_samples) -> dict:
        """``gate_loss='expected'``: sum_k w_k * loss_k(image) averaged over the batch,
        every branch's loss computed on its own (no gradient: the network is fixed),
        plus the resource loss on the same weights."""
        rgb, depth, logits = self.backbone(inputs)
        weights = self.gate_weights(logits, inputs.shape[0], inputs.device)
        with torch.no_grad():
            per_branch = torch.stack([self._per_image_loss(self._encode_branch(k, rgb, depth),
                                                           data_samples)
                                      for k in range(self.num_branches)], dim=1)
        self.last_gate_weights = weights.detach()
        losses = dict(loss_gate_task=(weights * per_branch).sum(1).mean())
        if self.loss_resource is not None:
            depth_costs = self.branch_costs()['depth_encoder']
            losses[self.loss_resource.loss_name] = self.loss_resource(weights, depth_costs)
        losses.update(self.gate_log_vars(weights.detach()))
        return losses

    def _per_image_loss(self, stage_feats: List[Tensor], data_samples) -> Tensor:
        """Cross-entropy of each image (N,) over its labelled pixels, main output only."""
        feats = self.neck(stage_feats) if self.with_neck else stage_feats
        seg_logits = self.decode_head.forward(feats)
        if isinstance(seg_logits, (tuple, list)):
            seg_logits = seg_logits[0]  # a head in training mode adds its side outputs
        target = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
        seg_logits = F.interpolate(seg_logits, size=target.shape[-2:], mode='bilinear',
                                   align_corners=self.decode_head.align_corners)
        ignore = self.decode_head.ignore_index
        pixel_loss = F.cross_entropy(seg_logits, target, ignore_index=ignore, reduction='none')
        # the head's class weights, if any: w[y] * CE / sum w[y], ESANet's weighted mean
        valid = target != ignore
        class_weight = self._head_class_weight(seg_logits.shape[1], seg_logits.device)
        weight = valid.to(pixel_loss.dtype)
        if class_weight is not None:
            weight = weight * class_weight.to(pixel_loss.dtype)[target.clamp(0, len(class_weight) - 1)]
        return (pixel_loss * weight).sum((1, 2)) / weight.sum((1, 2)).clamp(min=1e-12)

    def _head_class_weight(self, num_classes: int, device) -> Optional[Tensor]:
        """The class weights of the decode head's (first) loss, or None."""
        loss = self.decode_head.loss_decode
        loss = loss[0] if isinstance(loss, torch.nn.ModuleList) else loss
        if hasattr(loss, '_weights'):  # ESANetCrossEntropyLoss (maybe from a file)
            return loss._weights(num_classes, device)
        weight = getattr(loss, 'class_weight', None)
        return None if weight is None else torch.as_tensor(weight, device=device)

    def parse_losses(self, losses: dict):
        """Total loss of this rank; logged values averaged over all ranks.

        mmengine logs rank 0's values only. The branch fractions, expected
        GFLOPs and losses are reduced first so that the log describes the whole
        global batch, as in one process. The returned loss keeps its graph.
        """
        loss, log_vars = super().parse_losses(losses)
        if get_world_size() > 1:
            names = list(log_vars)
            stacked = torch.stack([log_vars[k].detach().float() for k in names])
            all_reduce(stacked, op='mean')
            log_vars = OrderedDict(zip(names, stacked))
        return loss, log_vars

    def gate_log_vars(self, weights: Tensor) -> dict:
        """Branch fractions and expected GFLOPs per image of a batch (no 'loss' in keys)."""
        costs = self.branch_costs()
        fractions = torch.bincount(weights.argmax(1), minlength=self.num_branches).float()
        fractions = fractions / weights.shape[0]
        log_vars = {f'branch_frac_{k}': fractions[k] for k in range(self.num_branches)}
        mean_w = weights.float().mean(0).cpu()
        log_vars['gflops_expected'] = (mean_w @ torch.tensor(costs['total'])).to(weights.device)
        log_vars['gflops_depth_expected'] = (
            mean_w @ torch.tensor(costs['depth_encoder'])).to(weights.device)
        return log_vars

    # ------------------------------------------------------------------ costs
    def branch_costs(self, input_size: Optional[Tuple[int, int]] = None) -> dict:
        """Measured GFLOPs (GMACs, thop convention) per branch at ``input_size``.

        Returns ``dict(depth_encoder=[...], total=[...])``, each B long: the depth
        encoder's stem and stages used by each branch, and the whole network.
        Measured once with torch's FLOP counter on this model's own modules.
        """
        size = tuple(input_size or self.cost_input_size)
        if self._branch_costs is not None and self._branch_costs[0] == size:
            return self._branch_costs[1]
        was_training = self.training
        last_weights = self.last_gate_weights  # the measuring passes below overwrite it
        param = next(self.parameters())
        x = torch.zeros(1, 4, *size, device=param.device, dtype=param.dtype)
        self.eval()
        try:
            backbone = self.backbone
            depth_costs = [count_macs(backbone.depth_stem, x)]
            with torch.no_grad():
                depth_x = backbone.depth_stem(x)
            for i in range(backbone.num_stages):
                depth_costs.append(depth_costs[-1] + count_macs(backbone.depth_stage, i, depth_x))
                with torch.no_grad():
                    depth_x = backbone.depth_stage(i, depth_x)
            total = []
            for k in range(self.num_branches):
                with self.gate_override('fixed', branch=k):
                    total.append(count_macs(self._forward, x))
        finally:
            self.last_gate_weights = last_weights
            self.train(was_training)
        costs = dict(depth_encoder=[c / 1e9 for c in depth_costs], total=[c / 1e9 for c in total])
        self._branch_costs = (size, costs)
        return costs
