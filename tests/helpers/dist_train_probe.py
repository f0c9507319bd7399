"""Run by tests under torchrun: train a config for a few iterations in this rank.

    torchrun --nproc_per_node=2 tests/helpers/dist_train_probe.py CONFIG WORK_DIR --cfg-options K=V ...

After training every rank saves its model weights, gate state and the gate's
parameters as they were when training started (after weight initialisation and
loading) to WORK_DIR/rank{R}_weights.pth, so the test can check that the ranks
agree and that the gate was trained.
"""
import argparse
import os

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


class GateSnapshotHook(Hook):
    """Copies the gate's parameters when training starts (weights are final by then)."""

    def __init__(self):
        self.initial = None

    def before_train(self, runner):
        self.initial = {name: param.detach().clone()
                        for name, param in _unwrap(runner.model).named_parameters()
                        if name.startswith('backbone.gate.')}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('work_dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.launcher = 'pytorch'
    runner = Runner.from_cfg(cfg)
    snapshot = GateSnapshotHook()
    runner.register_hook(snapshot, priority='LOWEST')  # after every other hook's before_train
    runner.train()
    model = _unwrap(runner.model)
    torch.save(dict(state_dict=model.state_dict(), initial_gate=snapshot.initial,
                    parameter_names=[name for name, _ in model.named_parameters()],
                    temperature=getattr(model, 'temperature', None),
                    gate_mode=getattr(model, 'gate_mode', None)),
               os.path.join(args.work_dir, f'rank{os.environ["RANK"]}_weights.pth'))


if __name__ == '__main__':
    main()
