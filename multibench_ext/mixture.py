"""Modality-level DynMM: a gate sends each sample to one of several expert networks."""
from typing import Any, ContextManager, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynmm_plugins.core import (GateStatistics, check_branch, check_gate_bias, check_temperature, count_macs,
                                gate_activation, override_gate, run_grouped_by_branch)

from .passthrough import split_packed

#: Gate modes, the same vocabulary as the segmentor's (``DynMMEncoderDecoder.set_gate``).
GATE_MODES = ('soft', 'hard', 'fixed')


class DynMMMixture(nn.Module):
    """Experts plus a gate; the gate's weights mix (training) or pick (inference) the experts.

    It plugs into MultiBench's unmodified ``training_structures.Supervised_Learning``
    as the *fusion* of an ``MMDL`` whose encoders pass the inputs through
    (``nn.Identity``, or :class:`PackedPassThrough` for packed sequences) and whose head is
    :class:`PassThroughHead`. ``forward`` returns the tuple ``(prediction, gate_weights)``:
    MMDL feeds element 0 to the head and keeps the whole tuple as ``fuseout``, which
    MultiBench's ``train`` hands to a custom objective as ``args['fused']``; that is how
    :class:`DynMMObjective` sees the gate weights.

    Gate modes (:meth:`set_gate`, :meth:`gate_override`), as on the segmentor:
    'soft' trains with ``weights = softmax(gate(x) / temperature)``, 'hard' with their
    straight-through one-hot; in both, every expert runs in training and the output is
    ``sum_k weights[:, k] * expert_k``, so the gate gets gradients from the task loss,
    and at inference (``eval()``) each sample goes to the arg-max expert. 'fixed' sends
    every sample to one given expert and never runs the gate. At inference with
    ``skip_unused_experts`` only each sample's expert runs (the batch is grouped by
    expert and the order restored). Gate decisions of every inference batch are
    accumulated in ``stats``.

    Args:
        experts (Sequence[nn.Module]): Expert networks, each called as ``expert(inputs)``
            with the list of modality inputs and returning the prediction (N, ...).
            By convention the cheapest first (DynMM: text expert, then late fusion).
        gate (nn.Module): Maps the list of modality tensors (lengths dropped) to logits
            (N, len(experts)).
        gate_mode (str): 'soft', 'hard' (straight-through one-hot weights during
            training: forward one-hot, gradient the softmax's) or 'fixed'. Default: 'soft'.
        temperature (float): Softmax temperature of the gate during training. Default: 1.0.
        fixed_branch (int, optional): Expert of the 'fixed' mode.
        freeze_experts (bool): Freeze the experts: no gradients, and they stay in eval
            mode (no BatchNorm statistics updates, no dropout) while the gate trains.
            Default: False.
        skip_unused_experts (bool): At inference run only the chosen expert per sample
            (True), or every expert on the whole batch and select (False: the
            reference's behaviour, kept to check that routing changes nothing).
            Default: True.
        gate_bias (Sequence[float], optional): The compute knob: one value per expert
            added to the gate logits at inference (never in training); ``-tau * cost_k``
            with tau > 0 sends more samples to cheaper experts. A non-persistent buffer:
            pickled with the whole module (MultiBench's checkpoints), not in
            ``state_dict``. None: zeros (the gate as trained).
    """

    def __init__(self,
                 experts: Sequence[nn.Module],
                 gate: nn.Module,
                 gate_mode: str = 'soft',
                 temperature: float = 1.0,
                 fixed_branch: Optional[int] = None,
                 freeze_experts: bool = False,
                 skip_unused_experts: bool = True,
                 gate_bias: Optional[Sequence[float]] = None):
        super().__init__()
        if len(experts) < 2:
            raise ValueError(f'DynMMMixture needs at least 2 experts, got {len(experts)}')
        self.experts = nn.ModuleList(experts)
        self.gate = gate
        self.set_gate(gate_mode, temperature, fixed_branch)
        self.register_buffer('gate_bias', torch.zeros(self.num_experts), persistent=False)
        self.set_gate_bias(gate_bias)
        self.skip_unused_experts = bool(skip_unused_experts)
        self.freeze_experts = bool(freeze_experts)
        if self.freeze_experts:
            for param in self.experts.parameters():
                param.requires_grad_(False)
            self.experts.eval()
        # Filled by measure_costs(): MACs of one sample through each expert and the gate.
        self.expert_macs: Optional[List[int]] = None
        self.gate_macs: Optional[int] = None
        self.stats = GateStatistics(self.num_experts)
        self.gate_samples = 0  # inference samples on which the gate actually ran
        self.last_branches: Optional[Tensor] = None  # expert of each sample of the last inference batch

    # ----------------------------------------------------------------- settings
    @property
    def num_experts(self) -> int:
        """Number of experts."""
        return len(self.experts)

    def set_gate(self, mode: str, temperature: Optional[float] = None,
                 branch: Optional[int] = None) -> None:
        """Select how experts are chosen.

        Args:
            mode (str): 'soft', 'hard' or 'fixed'.
            temperature (float, optional): New gate softmax temperature (> 0).
            branch (int, optional): Expert of the 'fixed' mode (0..num_experts-1).
        """
        if mode not in GATE_MODES:
            raise ValueError(f'unknown gate mode {mode!r}; choose one of {GATE_MODES}')
        if mode == 'fixed':
            check_branch(branch, self.num_experts)
        elif branch is not None:
            raise ValueError(f"branch={branch!r} is only meaningful for gate mode 'fixed', got {mode!r}")
        if temperature is not None:
            self.temperature = check_temperature(temperature)
        self.gate_mode, self.fixed_branch = mode, branch

    def set_gate_bias(self, bias: Optional[Sequence[float]]) -> None:
        """Set the compute knob (one finite value per expert; None: zeros); ValueError otherwise."""
        values = check_gate_bias(bias, self.num_experts)
        current = self.__dict__.get('_buffers', {}).get('gate_bias')
        if current is None:  # a mixture pickled before the knob existed
            self.register_buffer('gate_bias', values.float(), persistent=False)
        else:
            current.copy_(values.to(current.dtype))

    @torch.no_grad()
    def gate_logits(self, inputs: Sequence[Any]) -> Tensor:
        """The gate's logits (N, num_experts) for a list of modality inputs, without the bias.

        What calibration caches: the gate runs once per sample, the bias is then searched
        on these logits (see :func:`dynmm_plugins.core.calibrate_tau`).
        """
        tensors, _ = split_packed(inputs)
        return self.gate(tensors)

    def _biased_logits(self, tensors: List[Tensor]) -> Tensor:
        logits = self.gate(tensors)
        bias = self._buffers.get('gate_bias')
        return logits if bias is None else logits + bias.to(device=logits.device, dtype=logits.dtype)

    def gate_override(self, mode: str, branch: Optional[int] = None, temperature: Optional[float] = None,
                      skip_unused_experts: bool = True) -> ContextManager['DynMMMixture']:
        """Run the block under another gate (and routing), then restore the previous one.

        Args:
            mode (str): Gate mode, as in :meth:`set_gate`.
            branch (int, optional): Expert of the 'fixed' mode.
            temperature (float, optional): Temperature inside the block.
            skip_unused_experts (bool): As the constructor argument. Default: True.
        """
        return override_gate(self, 'skip_unused_experts', mode, branch, temperature, skip_unused_experts)

    def train(self, mode: bool = True) -> 'DynMMMixture':
        """Set training mode; frozen experts stay in eval mode."""
        super().train(mode)
        if self.freeze_experts:
            # MultiBench's train() calls model.train() every batch; frozen experts must
            # still not update BatchNorm statistics nor drop units.
            self.experts.eval()
        return self

    # ----------------------------------------------------------------- forward
    def forward(self, inputs: Sequence[Any]):
        """``(prediction, gate_weights)`` for a list of modality inputs (tensors or [sequence, lengths])."""
        tensors, _ = split_packed(inputs)
        batch = tensors[0].shape[0]
        if self.training:
            if self.gate_mode == 'fixed':
                weights = self._fixed_weights(batch, tensors[0])
            else:
                weights = gate_activation(self.gate(tensors), self.temperature, hard=self.gate_mode == 'hard')
            outputs = [expert(inputs) for expert in self.experts]
            return self._mix(weights, outputs), weights

        if self.gate_mode == 'fixed':
            weights = self._fixed_weights(batch, tensors[0])
        else:
            branches = self._biased_logits(tensors).argmax(dim=1)
            weights = F.one_hot(branches, self.num_experts).to(tensors[0].dtype)
            self.gate_samples += batch
        branches = weights.argmax(dim=1)
        if self.skip_unused_experts:
            output = run_grouped_by_branch(branches, self._run_expert, *inputs)
        else:
            outputs = torch.stack([expert(inputs) for expert in self.experts])
            output = outputs[branches, torch.arange(batch, device=branches.device)]
        self.stats.update(weights)
        self.last_branches = branches.detach()
        return output, weights

    def _fixed_weights(self, batch: int, like: Tensor) -> Tensor:
        branches = torch.full((batch,), self.fixed_branch, dtype=torch.long, device=like.device)
        return F.one_hot(branches, self.num_experts).to(like.dtype)

    def _run_expert(self, branch: int, *inputs: Any) -> Tensor:
        return self.experts[branch](list(inputs))

    @staticmethod
    def _mix(weights: Tensor, outputs: List[Tensor]) -> Tensor:
        mixed = 0
        for k, out in enumerate(outputs):
            w = weights[:, k].reshape((-1,) + (1,) * (out.dim() - 1))
            mixed = mixed + w * out
        return mixed

    # ----------------------------------------------------------------- costs and statistics
    @torch.no_grad()
    def measure_costs(self, sample_inputs: Sequence[Any]) -> List[int]:
        """Count the MACs of each expert and of the gate on one sample; returns the expert MACs.

        ``sample_inputs`` is a mixture input list with batch size 1. The modules are put in
        eval mode for the count (BatchNorm must not update its statistics) and restored.
        """
        tensors, _ = split_packed(sample_inputs)
        if tensors[0].shape[0] != 1:
            raise ValueError(f'measure_costs needs one sample (batch size 1), got {tensors[0].shape[0]}')
        modes = [m.training for m in self.modules()]
        try:
            self.eval()
            self.expert_macs = [int(count_macs(expert, list(sample_inputs))) for expert in self.experts]
            self.gate_macs = int(count_macs(self.gate, tensors))
        finally:
            for module, mode in zip(self.modules(), modes):
                module.training = mode
        self.stats = GateStatistics(self.num_experts, self.expert_macs)
        return list(self.expert_macs)

    def reset_stats(self) -> None:
        """Forget the gate decisions accumulated so far (call before a test run)."""
        self.stats = GateStatistics(self.num_experts, self.expert_macs)
        self.gate_samples = 0
        self.last_branches = None

    def gate_summary(self) -> Dict[str, Any]:
        """Routing and cost over the inference batches since the last :meth:`reset_stats`.

        Returns a dict with ``num_samples``, ``branch_fractions`` (fraction of samples per
        expert), ``branch_ratio`` (fraction sent to the last, most expensive expert),
        and, once :meth:`measure_costs` ran, ``expert_mflops``, ``gate_mflops`` and
        ``mflops_per_sample``: the realised mean compute per sample, the chosen expert's
        cost plus the gate's where it ran (MFLOPs in DynMM's tables are MACs / 1e6).
        """
        summary = self.stats.summary()
        out = dict(num_samples=summary['num_samples'], branch_fractions=summary['branch_fractions'],
                   branch_ratio=summary['branch_fractions'][-1])
        if self.expert_macs is not None and self.stats.count > 0:
            gate_share = self.gate_samples / self.stats.count
            out.update(expert_mflops=[m / 1e6 for m in self.expert_macs], gate_mflops=self.gate_macs / 1e6,
                       mflops_per_sample=(self.stats.realised_cost() + gate_share * self.gate_macs) / 1e6)
        return out
