#!/usr/bin/env python
"""Convert a reference DynMM (SkipGateESANet) or ESANet checkpoint for our MMSeg configs.

    python tools/convert_dynmm_checkpoint.py SRC DST [--config CONFIG]

SRC is a torch file holding a ``state_dict`` (or a bare state dict) saved by the
reference training scripts. DST can then be used with ``load_from=DST`` or
``mim test mmsegmentation CONFIG --checkpoint DST``. With ``--config`` the result
is also checked against the model that config builds, so a mismatch shows up now
and not at training time; a static ESANet checkpoint fits a dynamic config (the
gate then starts from its initialisation: static -> DynMM finetuning). A SRC that
already has our key names is recognised and written unchanged. DST is checked to
be writable first and written atomically: an interrupted run never leaves a
truncated file behind.
"""
import os
import sys
from typing import Optional, Sequence

from dynmm_plugins.utils.cli import ArgumentParser, DynMMUserError, check_output_file, run_tool

PROG = 'convert_dynmm_checkpoint.py'
#: Top-level names of our segmentor's state dict.
OUR_PREFIXES = ('backbone.', 'neck.', 'decode_head.', 'auxiliary_head.')


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument('src', help='reference checkpoint (.pth/.tar with a state_dict)')
    parser.add_argument('dst', help='output checkpoint for our configs')
    parser.add_argument('--config', help='verify the result against this config')
    return parser.parse_args(argv)


def convert(state: dict, src: str):
    """(our state dict, whether SRC already had our names); one clear error for foreign keys."""
    from dynmm_plugins.converters.reference_checkpoint import convert_reference_state_dict
    stripped = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    if all(k.startswith(OUR_PREFIXES) for k in stripped):
        return stripped, True
    converted, unmapped = convert_reference_state_dict(stripped)
    if unmapped:
        ours = [k for k in unmapped if k.startswith(OUR_PREFIXES)]
        hint = (f'; {len(ours)} of them already have our names, so {src} mixes both conventions'
                if ours else '; is it a SkipGateESANet/ESANet checkpoint?')
        raise DynMMUserError(f'{len(unmapped)} keys of {src} match no DynMM/ESANet parameter'
                             f'{hint}; unmapped: {unmapped[:10]}'
                             f'{f" (+{len(unmapped) - 10} more)" if len(unmapped) > 10 else ""}')
    return converted, False


def check_against_config(state: dict, config: str) -> Optional[str]:
    """Check ``state`` against the model of ``config``; returns a note for static -> dynamic."""
    from dynmm_plugins.apis.model_loading import build_model, check_state_dict_fits, load_config
    model = build_model(load_config(config))
    own = model.state_dict()
    gate = {k: v for k, v in own.items() if k.startswith('backbone.gate.')}
    note = None
    if gate and not any(k.startswith('backbone.gate.') for k in state):
        # static ESANet -> DynMM: everything but the gate must fit
        note = (f'{config} is dynamic and the checkpoint is static ESANet: the gate '
                f'({len(gate)} tensors) is not in it and starts from its initialisation when '
                'you finetune with load_from')
        state = {**state, **gate}
    check_state_dict_fits(model, state, 'converted checkpoint', f'config {config}')
    return note


def save_atomically(obj, path: str) -> None:
    """torch.save through the project's atomic write (temporary file + rename)."""
    import torch

    from dynmm_plugins.utils.io import atomic_write
    with atomic_write(path, 'wb') as f:
        torch.save(obj, f)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from dynmm_plugins.apis.model_loading import read_state_dict
    check_output_file(args.dst, 'DST')  # before the work, not after it
    if args.config and not os.path.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    converted, already = convert(read_state_dict(args.src), args.src)
    note = check_against_config(converted, args.config) if args.config else None
    has_gate = any(k.startswith('backbone.gate.') for k in converted)
    save_atomically(dict(state_dict=converted,
                         meta=dict(converted_from=os.path.abspath(args.src), has_gate=has_gate)),
                    args.dst)
    if already:
        print(f'{args.src} already has our key names (converted before?): written unchanged')
    if note:
        print(f'note: {note}')
    print(f'converted {len(converted)} tensors ({"dynamic" if has_gate else "static"} model) '
          f'-> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(main, prog=PROG))
