"""The train/valid/test loaders of MM-IMDB and CMU-MOSEI (MultiBench's when it imports, else ours),
and single samples in the layouts the experts and MultiBench's MMDL take."""
import argparse
import importlib
from typing import Any, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Subset

from ..affect_data import get_affect_dataloaders
from ..imdb_data import get_imdb_dataloaders
from .environment import note_once


def limit_loader(loader: DataLoader, limit: Optional[int], shuffle: bool) -> DataLoader:
    """``loader`` restricted to its dataset's first ``limit`` samples (same batch size and collate)."""
    if limit is None or limit >= len(loader.dataset):
        return loader
    return DataLoader(Subset(loader.dataset, range(limit)), batch_size=loader.batch_size, shuffle=shuffle,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn)


def _multibench_loader(module: str):
    try:
        return importlib.import_module(module).get_dataloader, None
    except Exception as exc:  # Theano, torchtext, gensim... fail in many ways
        return None, f'{type(exc).__name__}: {exc}'


def imdb_loaders(args: argparse.Namespace, packed: bool = False) -> Tuple[Tuple[DataLoader, DataLoader, DataLoader], str]:
    """MM-IMDB train/valid/test loaders from MultiBench's loader, else from ours; and which was used.

    ``packed`` is accepted for a common signature with ``affect_loaders``; MM-IMDB has no sequences.
    """
    get_dataloader, why = _multibench_loader('datasets.imdb.get_data')
    if get_dataloader is None:
        note_once(f"MultiBench's MM-IMDB loader (datasets.imdb.get_data) does not import here ({why}); reading "
                  f'{args.data} with multibench_ext.imdb_data, which yields the same batches')
        return get_imdb_dataloaders(args.data, args.batch_size, args.num_workers, limit=args.limit), 'multibench_ext'
    loaders = get_dataloader(args.data, '', num_workers=args.num_workers, batch_size=args.batch_size, vgg=True,
                             no_robust=True)
    return tuple(limit_loader(dl, args.limit, i == 0) for i, dl in enumerate(loaders)), 'multibench'


def affect_loaders(args: argparse.Namespace, packed: bool) -> Tuple[Tuple[DataLoader, DataLoader, DataLoader], str]:
    """MOSEI loaders (packed, or padded to 50 steps) from MultiBench's loader, else from ours."""
    get_dataloader, why = _multibench_loader('datasets.affect.get_data')
    if get_dataloader is None:
        note_once(f"MultiBench's affect loader (datasets.affect.get_data) does not import here ({why}); reading "
                  f'{args.data} with multibench_ext.affect_data, which yields the same batches')
        return get_affect_dataloaders(args.data, args.batch_size, max_pad=not packed, num_workers=args.num_workers,
                                      limit=args.limit), 'multibench_ext'
    loaders = get_dataloader(args.data, batch_size=args.batch_size, max_pad=not packed, robust_test=False,
                             num_workers=args.num_workers, data_type='mosei')
    return tuple(limit_loader(dl, args.limit, i == 0) for i, dl in enumerate(loaders)), 'multibench'


def first_sample(loader: DataLoader, packed: bool, device: torch.device) -> List[Any]:
    """One sample of ``loader`` as a mixture input list: tensors, or ``[sequence, lengths]`` when packed."""
    batch = next(iter(loader))
    if packed:
        return [[x[:1].float().to(device), n[:1]] for x, n in zip(batch[0], batch[1])]
    return [x[:1].float().to(device) for x in batch[:-1]]


def multibench_layout(inputs: List[Any], packed: bool) -> List[Any]:
    """A mixture input list in MultiBench's MMDL layout (packed: ``[[sequences], [lengths]]``)."""
    if packed:
        return [[item[0] for item in inputs], [item[1] for item in inputs]]
    return list(inputs)
