"""Build a model from a config (and load a checkpoint into it, checked to fit)."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from dynmm_plugins.utils.errors import DynMMUserError, error_message
from dynmm_plugins.utils.state_dicts import state_dict_mismatch


class CheckpointMismatchError(DynMMUserError):
    """A checkpoint's weights do not fit the model its config builds."""


# ---------------------------------------------------------------------------- loading
def load_config(config: str, cfg_options: Optional[dict] = None):
    """Read an mmengine config, apply ``--cfg-options`` and set mmseg's default scope."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import dynmm_plugins  # noqa: F401  (registers the modules, safe checkpoint globals)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def read_state_dict(checkpoint: str) -> Dict[str, Tensor]:
    """The model weights of an mmengine (or plain torch) checkpoint file."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    from mmengine.runner.checkpoint import CheckpointLoader

    from dynmm_plugins.engine.checkpoint_compat import UnreadableCheckpointError
    try:
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu', logger='silent')
    except UnreadableCheckpointError:
        raise  # already says which file and what is wrong with it
    except Exception as exc:  # noqa: BLE001  (torch raises many kinds for a bad file)
        raise DynMMUserError(f'could not read checkpoint {checkpoint}: {error_message(exc)}') from exc
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, Tensor) for v in state.values()):
        what = f'keys {sorted(map(str, ckpt))[:8]}' if isinstance(ckpt, dict) else type(ckpt).__name__
        raise DynMMUserError(f'checkpoint {checkpoint} holds no state_dict of tensors ({what})')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _listing(names: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f', ... ({len(names) - limit} more)' if len(names) > limit else '')


def check_state_dict_fits(model: torch.nn.Module, state_dict: Dict[str, Tensor],
                          source: str = 'checkpoint', target: str = 'the model') -> None:
    """Raise :class:`CheckpointMismatchError` (one line) unless keys and shapes match exactly."""
    missing, unexpected, shapes = state_dict_mismatch(model.state_dict(), state_dict)
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing keys ({_listing(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected keys ({_listing(unexpected)})')
    if shapes:
        parts.append(f'{len(shapes)} shape mismatches, checkpoint vs model ({_listing(shapes, 2)})')
    hint = ''
    if missing and all(k.startswith('backbone.gate.') for k in missing) and not unexpected:
        hint = '; it looks like a static ESANet checkpoint: use a static config'
    elif unexpected and all(k.startswith('backbone.gate.') for k in unexpected) and not missing:
        hint = '; it looks like a DynMM checkpoint: use a dynamic config'
    raise CheckpointMismatchError(f'{source} does not fit {target}: ' + '; '.join(parts) + hint)


def build_model(cfg, checkpoint: Optional[str] = None, device: str = 'cpu',
                config_name: str = 'the config'):
    """Build ``cfg.model`` in eval mode, loading ``checkpoint`` after checking that it fits.

    Without a checkpoint the weights are the modules' own initialisation (fine for
    FLOP counts and latency, meaningless for accuracy).
    """
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import dynmm_plugins  # noqa: F401
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        state = read_state_dict(checkpoint)
        check_state_dict_fits(model, state, f'checkpoint {checkpoint}', config_name)
        model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load_model(config: str, checkpoint: Optional[str] = None, cfg_options: Optional[dict] = None,
               device: str = 'cpu'):
    """(model, cfg) from a config file and an optional checkpoint."""
    cfg = load_config(config, cfg_options)
    return build_model(cfg, checkpoint, device, f'config {config}'), cfg


def load_tool_model(args, need_gate: Optional[str] = None) -> Tuple[torch.nn.Module, object, str, Optional[dict]]:
    """``(model, cfg, device, budget)`` as a tool's flags ask for them.

    Reads ``args.config``, ``args.checkpoint``, ``args.cfg_options``, ``args.device`` and,
    when the tool has it, ``args.budget`` (its gate bias is set on the model; ``budget``
    is None without it). ``need_gate``: why the tool needs a dynamic model; a static
    config is then an error saying so.
    """
    from dynmm_plugins.utils.cli import check_device
    device = check_device(args.device)
    model, cfg = load_model(args.config, args.checkpoint, args.cfg_options, device)
    if need_gate is not None and not model.has_gate:
        raise ValueError(f'{args.config} builds static ESANet (no gate): {need_gate}')
    budget = None
    if getattr(args, 'budget', None):
        from dynmm_plugins.evaluation.budget import apply_budget
        budget = apply_budget(model, args.budget, args.checkpoint)
    return model, cfg, device, budget
