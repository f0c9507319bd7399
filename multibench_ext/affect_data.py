"""Reader of MultiBench's affect pickles (CMU-MOSEI, MOSI) that yields exactly MultiBench's batches.

MultiBench's ``datasets.affect.get_data`` imports torchtext at module level, which does not
install beside current torch. Its non-robust ``get_dataloader`` reads the pickle, drops
samples without text, sets audio's -inf to 0, strips each sample's leading padding (rows
before the first non-zero text value) and batches either *packed* (sequences padded to the
batch's longest, with their lengths and sample indices) or *padded* (``max_pad``: every
sequence cut or zero-padded to ``max_seq_len``). This module does the same.
"""
import pickle
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from .errors import DataFormatError, SetupError

SPLIT_NAMES = ('train', 'valid', 'test')
MODALITIES = ('vision', 'audio', 'text')  # the order of MultiBench's batches
REQUIRED_KEYS = MODALITIES + ('labels',)
# Feature widths of MultiBench's CMU-MOSEI pickle (FACET vision, COVAREP audio, GloVe text);
# the MOSEI experts and gate of the example scripts are built for them.
MOSEI_FEATURE_WIDTHS = {'vision': 35, 'audio': 74, 'text': 300}


def load_affect_pickle(path: Union[str, Path],
                       feature_widths: Optional[Dict[str, int]] = None) -> Dict[str, Dict[str, np.ndarray]]:
    """Load and check an affect pickle: ``{split: {'vision', 'audio', 'text', 'labels', 'id'}}``.

    ``feature_widths`` (e.g. :data:`MOSEI_FEATURE_WIDTHS`) also checks the last dimension
    of each modality named in it.

    Raises:
        SetupError: The file does not exist.
        DataFormatError: A split or key is missing, or the arrays of a split disagree in
            sample count or sequence length.
    """
    path = Path(path)
    if not path.is_file():
        raise SetupError(f'affect pickle {path} not found: pass --data FILE (MultiBench\'s mosei_senti_data.pkl, '
                         'or one from `python -m multibench_ext.synthetic --mosei FILE`)')
    try:
        with open(path, 'rb') as f:
            data = pickle.load(f)
    except Exception as exc:  # unpickling errors come in many types
        raise DataFormatError(f'{path} is not a readable pickle ({type(exc).__name__}: {exc})') from exc
    if not isinstance(data, dict):
        raise DataFormatError(f'{path} holds a {type(data).__name__}, expected a dict with splits {SPLIT_NAMES}')
    for split in SPLIT_NAMES:
        if split not in data:
            raise DataFormatError(f'{path} has no {split!r} split (it has {sorted(map(str, data))}); '
                                  f'MultiBench\'s affect pickles hold {", ".join(SPLIT_NAMES)}')
        check_affect_split(data[split], f'{path} [{split!r}]', feature_widths)
    return data


def check_affect_split(split: Dict[str, np.ndarray], where: str = 'split',
                       feature_widths: Optional[Dict[str, int]] = None) -> None:
    """Check one split's keys, sample counts, sequence lengths, label shape and feature widths."""
    if not isinstance(split, dict):
        raise DataFormatError(f'{where} is a {type(split).__name__}, expected a dict of arrays')
    missing = [key for key in REQUIRED_KEYS if key not in split]
    if missing:
        raise DataFormatError(f'{where} has no {missing[0]!r} array (needs {", ".join(REQUIRED_KEYS)})')
    counts = {key: len(split[key]) for key in REQUIRED_KEYS}
    if len(set(counts.values())) != 1:
        raise DataFormatError(f'{where}: sample counts differ {counts}')
    for key in MODALITIES:
        if np.ndim(split[key]) != 3:
            raise DataFormatError(f'{where}: {key!r} must be (samples, steps, features), '
                                  f'got shape {np.shape(split[key])}')
    steps = {key: np.shape(split[key])[1] for key in MODALITIES}
    if len(set(steps.values())) != 1:
        raise DataFormatError(f'{where}: sequence lengths do not match {steps}; MultiBench aligns the '
                              'modalities step by step')
    if np.ndim(split['labels']) != 3:
        raise DataFormatError(f"{where}: 'labels' must be (samples, 1, 1) as in MultiBench's affect "
                              f'pickles, got shape {np.shape(split["labels"])}')
    for key, width in (feature_widths or {}).items():
        if np.shape(split[key])[2] != width:
            raise DataFormatError(f'{where}: {key!r} features are {np.shape(split[key])[2]}-d, expected '
                                  f'{width}-d (MultiBench\'s CMU-MOSEI: vision 35, audio 74, text 300)')


def drop_empty_text(split: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Drop the samples whose text is all zeros, from every array (MultiBench's ``drop_entry``)."""
    drop = [i for i, text in enumerate(split['text']) if text.sum() == 0]
    return {key: np.delete(value, drop, 0) for key, value in split.items()}


class AffectSequences(Dataset):
    """Samples of one affect split, as MultiBench's ``Affectdataset`` serves them (aligned, no z-norm).

    Items are ``[vision, audio, text, index, label]`` (packed) or ``[vision, audio, text,
    label]`` cut or padded to ``max_pad_num`` steps (``max_pad``); sequences start at the
    first step with non-zero text. Labels are float tensors of the stored shape (1, 1).

    Args:
        split (dict): Arrays of one split (after :func:`drop_empty_text`). Audio's -inf
            values are set to 0 in place, as MultiBench does.
        max_pad (bool): Cut or zero-pad every sequence to ``max_pad_num`` steps. Default: False.
        max_pad_num (int): Steps when ``max_pad``. Default: 50.
    """

    def __init__(self, split: Dict[str, np.ndarray], max_pad: bool = False, max_pad_num: int = 50):
        self.data = split
        self.max_pad = max_pad
        self.max_pad_num = max_pad_num
        self.data['audio'][self.data['audio'] == -np.inf] = 0.0

    def __getitem__(self, index: int):
        seqs = [torch.tensor(self.data[key][index]) for key in MODALITIES]
        # The stored sequences are front-padded with zeros; they start where text does.
        start = seqs[2].nonzero(as_tuple=False)[0][0]
        seqs = [s[start:].float() for s in seqs]
        label = torch.tensor(self.data['labels'][index]).float()
        if self.max_pad:
            seqs = [F.pad(s[:self.max_pad_num], (0, 0, 0, self.max_pad_num - s[:self.max_pad_num].shape[0]))
                    for s in seqs]
            return seqs + [label]
        return seqs + [index, label]

    def __len__(self) -> int:
        return len(self.data['vision'])


def _flat_labels(samples) -> Tensor:
    # A (1, k) label keeps its first entry, as in MultiBench's collate functions.
    labels = [s[-1].reshape(s[-1].shape[1], s[-1].shape[0])[0] if s[-1].shape[1] > 1 else s[-1] for s in samples]
    return torch.tensor(labels).view(len(samples), 1)


def collate_packed(samples: List[list]):
    """Batch ``[[vision, audio, text] padded to the longest], [lengths x3], indices (B, 1), labels (B, 1)``."""
    sequences, lengths = [], []
    for m in range(len(MODALITIES)):
        feature = [s[m] for s in samples]
        lengths.append(torch.as_tensor([f.size(0) for f in feature]))
        sequences.append(pad_sequence(feature, batch_first=True))
    indices = torch.tensor([s[-2] for s in samples]).view(len(samples), 1)
    return sequences, lengths, indices, _flat_labels(samples)


def collate_padded(samples: List[list]):
    """Batch ``vision, audio, text`` (B, max_pad_num, d) and ``labels`` (B, 1)."""
    sequences = [torch.stack([s[m] for s in samples]) for m in range(len(MODALITIES))]
    return sequences[0], sequences[1], sequences[2], _flat_labels(samples)


def get_affect_dataloaders(path: Union[str, Path],
                           batch_size: int = 32,
                           max_seq_len: int = 50,
                           max_pad: bool = False,
                           train_shuffle: bool = True,
                           num_workers: int = 0,
                           limit: Optional[int] = None,
                           feature_widths: Optional[Dict[str, int]] = MOSEI_FEATURE_WIDTHS
                           ) -> Tuple[DataLoader, DataLoader, DataLoader]:
    """Train, valid and test loaders like MultiBench's ``get_dataloader(path, robust_test=False, ...)``.

    Args:
        path (str | Path): The affect pickle (``mosei_senti_data.pkl``).
        batch_size (int): Default: 32 (MultiBench's).
        max_seq_len (int): Steps of padded batches. Default: 50.
        max_pad (bool): Padded batches instead of packed ones. Default: False.
        train_shuffle (bool): Shuffle the training split. Default: True.
        num_workers (int): DataLoader workers. Default: 0.
        limit (int, optional): Keep only the first ``limit`` samples of each split.
        feature_widths (dict, optional): Expected feature widths per modality, checked
            with the file named. Default: :data:`MOSEI_FEATURE_WIDTHS`; None checks none.
    """
    data = load_affect_pickle(path, feature_widths)
    collate = collate_padded if max_pad else collate_packed
    loaders = []
    for name in SPLIT_NAMES:
        split = drop_empty_text({k: np.asarray(v) for k, v in data[name].items()})
        if limit is not None:
            split = {k: v[:int(limit)] for k, v in split.items()}
        loaders.append(DataLoader(AffectSequences(split, max_pad, max_seq_len), batch_size=batch_size,
                                  shuffle=train_shuffle and name == 'train', num_workers=num_workers,
                                  collate_fn=collate))
    return tuple(loaders)
