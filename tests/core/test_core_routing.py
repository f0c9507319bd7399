import torch

from dynmm_plugins.core import run_grouped_by_branch


def _paths():
    torch.manual_seed(0)
    return [torch.nn.Linear(6, 3) for _ in range(4)]


def test_grouped_run_equals_compute_all_and_select():
    paths = _paths()
    x = torch.randn(9, 6)
    branches = torch.tensor([3, 0, 2, 2, 1, 0, 3, 3, 1])
    calls = []

    def run(k, inputs):
        calls.append((k, inputs.shape[0]))
        return paths[k](inputs)

    with torch.no_grad():
        grouped = run_grouped_by_branch(branches, run, x)
        every = torch.stack([p(x) for p in paths], dim=1)  # (N, B, 3)
        selected = every[torch.arange(9), branches]
    assert torch.equal(grouped, selected)
    # each branch ran once, on its own samples only
    assert sorted(calls) == [(0, 2), (1, 2), (2, 2), (3, 3)]


def test_nested_inputs_and_outputs_keep_order():
    x = torch.arange(5.0)
    extra = {'offset': torch.arange(5.0) * 100}
    branches = torch.tensor([1, 0, 1, 0, 1])
    out = run_grouped_by_branch(branches, lambda k, a, d: (a + d['offset'], torch.full_like(a, k)),
                                x, extra)
    assert torch.equal(out[0], x + extra['offset'])
    assert torch.equal(out[1], branches.float())


def test_single_branch_batch_is_passed_through():
    out = run_grouped_by_branch(torch.tensor([2, 2]), lambda k, a: a * k, torch.tensor([1.0, 2.0]))
    assert torch.equal(out, torch.tensor([2.0, 4.0]))


def test_channels_last_outputs_stay_channels_last_in_input_order():
    """CPU inference logits are channels-last (ESANetHead): regrouping must not transpose them."""
    x = torch.randn(5, 3, 4, 6)
    branches = torch.tensor([1, 0, 1, 2, 0])
    out = run_grouped_by_branch(
        branches, lambda k, a: (a * (k + 1)).contiguous(memory_format=torch.channels_last), x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, x * (branches + 1).view(-1, 1, 1, 1).float())
