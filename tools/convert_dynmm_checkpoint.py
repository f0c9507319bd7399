#!/usr/bin/env python
"""Convert a reference DynMM (SkipGateESANet) or ESANet checkpoint for our MMSeg configs.

    python tools/convert_dynmm_checkpoint.py SRC DST [--config CONFIG]

SRC is a torch file holding a ``state_dict`` (or a bare state dict) saved by the
reference training scripts. DST can then be used with ``load_from=DST`` or
``mim test mmsegmentation CONFIG --checkpoint DST``. With ``--config`` the result
is also loaded strictly into the model that config builds, so a mismatch shows
up now and not at training time. DST is written atomically: an interrupted run
never leaves a truncated file behind.
"""
import argparse
import os
import sys

import torch

from dynmm_plugins.utils.io import atomic_write
from dynmm_plugins.utils.reference_checkpoint import convert_reference_state_dict


def load_source(path):
    """The reference state dict in ``path`` (tensors only, loaded safely)."""
    if not os.path.isfile(path):
        raise SystemExit(f'error: source checkpoint not found: {path}')
    try:
        # weights_only: a checkpoint from the internet must not run code here.
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # truncated zip, not a torch file, forbidden globals...
        raise SystemExit(f'error: cannot read {path} as a torch checkpoint: '
                         f'{type(exc).__name__}: {str(exc).splitlines()[0]}')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise SystemExit(f'error: {path} holds no state dict of tensors (keys: '
                         f'{sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__})')
    return state


def check_against_config(state, config_path):
    """Load ``state`` strictly into the model built from ``config_path``."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import dynmm_plugins  # noqa: F401

    register_all_modules()
    model = MODELS.build(Config.fromfile(config_path).model)
    try:  # our segmentor refuses a checkpoint of another architecture itself
        result = model.load_state_dict(state, strict=False)
    except ValueError as err:
        raise SystemExit(f'error: converted checkpoint does not fit {config_path}: {err}')
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f'error: converted checkpoint does not fit {config_path}: '
                         f'missing {result.missing_keys[:10]} (of {len(result.missing_keys)}), '
                         f'unexpected {result.unexpected_keys[:10]} (of {len(result.unexpected_keys)})')


def save_atomically(obj, path):
    """torch.save to a temporary file beside ``path``, then rename over it."""
    with atomic_write(path, 'wb') as f:
        torch.save(obj, f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='reference checkpoint (.pth/.tar with a state_dict)')
    parser.add_argument('dst', help='output checkpoint for our configs')
    parser.add_argument('--config', help='verify the result against this config (strict load)')
    args = parser.parse_args(argv)

    state = load_source(args.src)
    converted, unmapped = convert_reference_state_dict(state)
    if unmapped:
        raise SystemExit(f'error: {len(unmapped)} keys of {args.src} match no DynMM/ESANet '
                         f'parameter; is it a SkipGateESANet/ESANet checkpoint? Unmapped: '
                         f'{unmapped[:20]}')
    if args.config:
        check_against_config(converted, args.config)
    has_gate = any(k.startswith('backbone.gate.') for k in converted)
    save_atomically(dict(state_dict=converted,
                         meta=dict(converted_from=os.path.abspath(args.src), has_gate=has_gate)),
                    args.dst)
    print(f'converted {len(converted)} tensors ({"dynamic" if has_gate else "static"} model) '
          f'-> {args.dst}')


if __name__ == '__main__':
    sys.exit(main())
