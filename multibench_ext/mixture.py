"""Modality-level DynMM: a gate sends each sample to one of several expert networks."""
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynmm_plugins.core import (GateStatistics, check_branch, check_temperature, count_macs, gate_activation,
                                run_grouped_by_branch)

from .passthrough import split_packed

INFERENCE_MODES = ('route', 'dense')


class DynMMMixture(nn.Module):
    """Experts plus a gate; the gate's weights mix (training) or pick (inference) the experts.

    It plugs into MultiBench's unmodified ``training_structures.Supervised_Learning``
    as the *fusion* of an ``MMDL`` whose encoders pass the inputs through
    (``nn.Identity``, or :class:`PackedPassThrough` for packed sequences) and whose head is
    :class:`PassThroughHead`. ``forward`` returns the tuple ``(prediction, gate_weights)``:
    MMDL feeds element 0 to the head and keeps the whole tuple as ``fuseout``, which
    MultiBench's ``train`` hands to a custom objective as ``args['fused']``; that is how
    :class:`DynMMObjective` sees the gate weights.

    Training: ``weights = softmax(gate(x) / temperature)`` (straight-through one-hot with
    ``hard_gate``), every expert runs and the output is ``sum_k weights[:, k] * expert_k``,
    so the gate gets gradients from the task loss. Inference (``eval()``): the gate is
    hard, each sample's expert is the arg-max, and with ``inference='route'`` only that
    expert runs for that sample (the batch is grouped by expert and the order restored).
    Gate decisions of every inference batch are accumulated in ``stats``.

    Args:
        experts (Sequence[nn.Module]): Expert networks, each called as ``expert(inputs)``
            with the list of modality inputs and returning the prediction (N, ...).
            By convention the cheapest first (DynMM: text expert, then late fusion).
        gate (nn.Module): Maps the list of modality tensors (lengths dropped) to logits
            (N, len(experts)).
        temperature (float): Softmax temperature of the gate during training. Default: 1.0.
        hard_gate (bool): Straight-through one-hot weights during training (forward is
            one-hot, gradient is the softmax's). Default: False.
        freeze_experts (bool): Freeze the experts: no gradients, and they stay in eval
            mode (no BatchNorm statistics updates, no dropout) while the gate trains.
            Default: False.
        inference (str): 'route' runs only the chosen expert per sample; 'dense' runs
            every expert on the whole batch and selects (the reference's behaviour, kept
            to check that routing changes nothing). Default: 'route'.
        infer_mode (int, optional): At inference, send every sample to this expert and
            skip the gate. Default: None (the gate decides).
    """

    def __init__(self,
                 experts: Sequence[nn.Module],
                 gate: nn.Module,
                 temperature: float = 1.0,
                 hard_gate: bool = False,
                 freeze_experts: bool = False,
                 inference: str = 'route',
                 infer_mode: Optional[int] = None):
        super().__init__()
        if len(experts) < 2:
            raise ValueError(f'DynMMMixture needs at least 2 experts, got {len(experts)}')
        self.experts = nn.ModuleList(experts)
        self.gate = gate
        self.temperature = temperature
        self.hard_gate = bool(hard_gate)
        self.inference = inference
        self.infer_mode = infer_mode
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

    @property
    def temperature(self) -> float:
        """Gate softmax temperature (> 0) used during training."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_temperature(value)

    @property
    def inference(self) -> str:
        """'route' (run only the chosen expert) or 'dense' (run all, then select)."""
        return self._inference

    @inference.setter
    def inference(self, value: str) -> None:
        if value not in INFERENCE_MODES:
            raise ValueError(f'inference must be one of {INFERENCE_MODES}, got {value!r}')
        self._inference = value

    @property
    def infer_mode(self) -> Optional[int]:
        """Expert forced at inference, or None when the gate decides."""
        return self._infer_mode

    @infer_mode.setter
    def infer_mode(self, value: Optional[int]) -> None:
        self._infer_mode = None if value is None else check_branch(value, self.num_experts)

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
        if self.training:
            weights = gate_activation(self.gate(tensors), self.temperature, hard=self.hard_gate)
            outputs = [expert(inputs) for expert in self.experts]
            return self._mix(weights, outputs), weights

        batch = tensors[0].shape[0]
        if self.infer_mode is None:
            branches = self.gate(tensors).argmax(dim=1)
            self.gate_samples += batch
        else:
            branches = torch.full((batch,), self.infer_mode, dtype=torch.long, device=tensors[0].device)
        weights = F.one_hot(branches, self.num_experts).to(tensors[0].dtype)
        if self.inference == 'route':
            output = run_grouped_by_branch(branches, self._run_expert, *inputs)
        else:
            outputs = torch.stack([expert(inputs) for expert in self.experts])
            output = outputs[branches, torch.arange(batch, device=branches.device)]
        self.stats.update(weights)
        self.last_branches = branches.detach()
        return output, weights

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
