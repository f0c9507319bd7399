"""Gate activations: temperature softmax and straight-through hard one-hot."""
import torch
from torch import Tensor


def check_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise ValueError if it is not > 0."""
    value = float(temperature)
    if not value > 0 or value != value or value == float('inf'):
        raise ValueError(f'gate temperature must be a finite number > 0, got {temperature!r}')
    return value


def straight_through_one_hot(soft: Tensor, dim: int = -1) -> Tensor:
    """One-hot of the arg-max in the forward pass, gradient of ``soft`` in the backward pass."""
    index = soft.argmax(dim=dim, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(dim, index, 1.0)
    # hard - soft.detach() is constant, so d(out)/d(soft) is the identity.
    return hard - soft.detach() + soft


def gate_activation(logits: Tensor,
                    temperature: float = 1.0,
                    hard: bool = False,
                    dim: int = -1) -> Tensor:
    """Turn gate logits into branch weights.

    Args:
        logits (Tensor): Gate logits, branches along ``dim``.
        temperature (float): Softmax temperature ``tau`` (> 0); small values
            sharpen the distribution. Default: 1.0.
        hard (bool): Straight-through one-hot: the forward value is the one-hot
            arg-max, the gradient is that of the tempered softmax. Default: False.
        dim (int): Branch dimension. Default: -1.

    Returns:
        Tensor: Weights of the same shape as ``logits`` that sum to 1 along ``dim``.
    """
    tau = check_temperature(temperature)
    soft = torch.softmax(logits / tau, dim=dim)
    return straight_through_one_hot(soft, dim) if hard else soft


def random_one_hot(batch_size: int, num_branches: int, device=None, dtype=torch.float32,
                   generator: torch.Generator = None) -> Tensor:
    """Uniformly random one-hot branch weights (N, B), used in the random-init phase."""
    index = torch.randint(0, num_branches, (batch_size,), generator=generator,
                          device='cpu' if generator is not None else device)
    return torch.nn.functional.one_hot(index.to(device), num_branches).to(dtype)


def fixed_one_hot(batch_size: int, num_branches: int, branch: int, device=None,
                  dtype=torch.float32) -> Tensor:
    """Every sample on ``branch``: one-hot weights (N, B)."""
    check_branch(branch, num_branches)
    weights = torch.zeros(batch_size, num_branches, device=device, dtype=dtype)
    weights[:, branch] = 1
    return weights


def check_branch(branch, num_branches: int) -> int:
    """Return ``branch`` as an int, or raise ValueError if it is not in [0, num_branches)."""
    if isinstance(branch, bool) or not isinstance(branch, int) or not 0 <= branch < num_branches:
        raise ValueError(f'branch must be an int in [0, {num_branches - 1}], got {branch!r}')
    return branch
