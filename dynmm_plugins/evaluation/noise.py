"""DynMM's robustness protocol: Gaussian noise on one modality of normalised RGB-D inputs.

For every batch a number ``u`` is drawn from a seeded Python RNG and, depending on
the mode, one modality of the (already normalised) input is corrupted::

    mode -1  clean: nothing is added
    mode  0  u < 1/3            -> noise on RGB
    mode  1  u < 1/3            -> noise on depth
    mode  2  u < 1/3 -> RGB,  1/3 <= u < 2/3 -> depth

    x  ->  x + level * mean(|x|) * N(0, 1)

with ``mean(|x|)`` taken over the whole batch of that modality, as in the
reference evaluation. The reference writes the thresholds as 0.33 / 0.66; we use
the exact thirds of the paper. ``u`` is drawn for every batch in every mode, so
the sequence of draws does not depend on the mode. The Gaussian samples come from
a CPU ``torch.Generator`` seeded with the same seed, so a run is reproducible on
any device.

This module is pure PyTorch (no mmseg).
"""
import random
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

#: mode -> short name
NOISE_MODES = {-1: 'clean', 0: 'rgb', 1: 'depth', 2: 'rgb-or-depth'}


def check_noise_mode(mode) -> int:
    """Return ``mode`` as an int if it is one of :data:`NOISE_MODES`, else raise ValueError."""
    try:
        value = int(str(mode).strip())
    except ValueError:
        value = None
    if value not in NOISE_MODES:
        raise ValueError(f'unknown noise mode {mode!r}; choose one of '
                         + ', '.join(f'{k} ({v})' for k, v in NOISE_MODES.items()))
    return value


def check_noise_level(level) -> float:
    """Return ``level`` as a float if it lies in [0, 1], else raise ValueError."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f'noise level must be a number in [0, 1], got {level!r}') from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f'noise level must be in [0, 1], got {level!r}')
    return value


def add_gaussian_noise(x: Tensor, level: float, generator: torch.Generator,
                       valid: Optional[Tensor] = None) -> Tensor:
    """``x + level * mean(|x|) * N(0, 1)``, on the valid pixels only.

    Args:
        x (Tensor): Inputs of one modality, (N, C, H, W).
        level (float): Noise level in [0, 1].
        generator (torch.Generator): CPU generator of the Gaussian samples.
        valid (Tensor, optional): Bool mask (N, 1, H, W) of the pixels that are
            image, not padding. The mean is taken over them and only they are
            changed. None: every pixel.

    Returns:
        Tensor: A new tensor; ``x`` is not modified.
    """
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
    if valid is None:
        scale = x.abs().mean()
        return x + level * scale * noise
    valid = valid.expand_as(x)
    scale = x.abs()[valid].mean() if bool(valid.any()) else x.new_zeros(())
    return x + level * scale * noise * valid.to(x.dtype)


def valid_pixel_mask(img_shapes: Sequence[Tuple[int, int]], height: int, width: int,
                     device=None) -> Optional[Tensor]:
    """Bool mask (N, 1, H, W) of the image pixels of a right/bottom-padded batch.

    Returns None when no image is padded (the common case), so callers can skip
    masking.
    """
    if all(tuple(s[:2]) == (height, width) for s in img_shapes):
        return None
    mask = torch.zeros(len(img_shapes), 1, height, width, dtype=torch.bool, device=device)
    for i, shape in enumerate(img_shapes):
        mask[i, :, :shape[0], :shape[1]] = True
    return mask


class ModalityNoise:
    """The robustness protocol for one run: decides per batch which modality gets noise.

    Args:
        mode (int): -1 (clean), 0 (RGB), 1 (depth) or 2 (RGB or depth).
        level (float): Noise level in [0, 1].
        seed (int): Seed of the run (the reference uses 0..num_runs-1).
        rgb_channels (Sequence[int]): Channels of the RGB modality. Default: (0, 1, 2).
        depth_channels (Sequence[int]): Channels of the depth modality. Default: (3,).
    """

    def __init__(self, mode: int, level: float, seed: int,
                 rgb_channels: Sequence[int] = (0, 1, 2), depth_channels: Sequence[int] = (3,)):
        self.mode = check_noise_mode(mode)
        self.level = check_noise_level(level)
        self.seed = int(seed)
        self.channels = dict(rgb=list(rgb_channels), depth=list(depth_channels))
        self._rng = random.Random(self.seed)
        self._generator = torch.Generator().manual_seed(self.seed)
        self.counts = dict(rgb=0, depth=0, none=0)

    def choose(self) -> Optional[str]:
        """Draw ``u`` and return the modality to corrupt ('rgb', 'depth') or None."""
        u = self._rng.random()
        if self.mode == 0 and u < 1 / 3:
            return 'rgb'
        if self.mode == 1 and u < 1 / 3:
            return 'depth'
        if self.mode == 2:
            if u < 1 / 3:
                return 'rgb'
            if u < 2 / 3:
                return 'depth'
        return None

    def __call__(self, inputs: Tensor, valid: Optional[Tensor] = None) -> Tuple[Tensor, Optional[str]]:
        """Apply the protocol to one batch (N, C, H, W).

        Returns:
            tuple: the (possibly) corrupted inputs and the modality that got noise
            ('rgb', 'depth' or None).
        """
        modality = self.choose()
        self.counts[modality or 'none'] += 1
        if modality is None or self.level == 0:
            return inputs, modality
        channels = self.channels[modality]
        out = inputs.clone()
        out[:, channels] = add_gaussian_noise(inputs[:, channels], self.level, self._generator, valid)
        return out, modality
