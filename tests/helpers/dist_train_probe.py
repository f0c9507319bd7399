"""Run by tests under torchrun: train a config for a few iterations in this rank.

    torchrun --nproc_per_node=2 tests/helpers/dist_train_probe.py CONFIG WORK_DIR --cfg-options K=V ...

After training every rank saves its model weights and gate state to
WORK_DIR/rank{R}_weights.pth, so the test can check that the ranks agree.
"""
import argparse
import os

import torch
from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner


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
    runner.train()
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    torch.save(dict(state_dict=model.state_dict(),
                    parameter_names=[name for name, _ in model.named_parameters()],
                    temperature=getattr(model, 'temperature', None),
                    gate_mode=getattr(model, 'gate_mode', None)),
               os.path.join(args.work_dir, f'rank{os.environ["RANK"]}_weights.pth'))


if __name__ == '__main__':
    main()
