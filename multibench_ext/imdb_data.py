"""Reader of MultiBench's MM-IMDB file that yields exactly the batches of MultiBench's loader.

MultiBench's ``datasets.imdb.get_data`` imports Theano-era code (``.vgg``) at module level, so
on a current stack it does not import at all. Its ``get_dataloader(..., vgg=True,
no_robust=True)`` serves ``(text, vgg_features, genres)`` rows straight from the HDF5 file,
split by hard-coded index ranges; this module does the same.
"""
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from torch.utils.data import DataLoader, Dataset

from .errors import DataFormatError, SetupError

# Dataset name -> per-row shape; the file is ``multimodal_imdb.hdf5`` (Arevalo et al.'s MM-IMDB
# with word2vec text and VGG16 image features), as MultiBench reads it.
IMDB_KEYS = {'features': (300,), 'vgg_features': (4096,), 'genres': (23,), 'imdb_ids': ()}
# MultiBench's hard-coded split of the rows.
MULTIBENCH_SPLITS = {'train': (0, 15552), 'valid': (15552, 18160), 'test': (18160, 25959)}
SPLIT_NAMES = ('train', 'valid', 'test')


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise SetupError('reading MM-IMDB needs h5py: pip install h5py') from exc
    return h5py


def check_imdb_file(path: Union[str, Path], splits: Dict[str, Tuple[int, int]] = None) -> int:
    """Check that ``path`` is an MM-IMDB file in MultiBench's format; return its row count.

    Raises:
        SetupError: The file does not exist.
        DataFormatError: A dataset is missing, a shape is off, or the file has fewer rows
            than the splits need.
    """
    path = Path(path)
    splits = MULTIBENCH_SPLITS if splits is None else splits
    if not path.is_file():
        raise SetupError(f'MM-IMDB file {path} not found: pass --data FILE (MultiBench\'s multimodal_imdb.hdf5, '
                         'or one from `python -m multibench_ext.synthetic --imdb FILE`)')
    h5py = _h5py()
    try:
        handle = h5py.File(path, 'r')
    except OSError as exc:
        raise DataFormatError(f'{path} is not an HDF5 file ({exc})') from exc
    with handle as f:
        missing = [key for key in IMDB_KEYS if key not in f]
        if missing:
            raise DataFormatError(f'{path} has no dataset {missing[0]!r}: MultiBench\'s MM-IMDB file holds '
                                  f'{", ".join(IMDB_KEYS)} (it has {", ".join(sorted(f.keys())) or "nothing"})')
        rows = {key: f[key].shape[0] for key in IMDB_KEYS}
        for key, shape in IMDB_KEYS.items():
            if f[key].shape[1:] != shape:
                raise DataFormatError(f'{path}: dataset {key!r} has rows of shape {f[key].shape[1:]}, '
                                      f'expected {shape}')
    if len(set(rows.values())) != 1:
        raise DataFormatError(f'{path}: datasets have different row counts {rows}')
    n = rows['features']
    need = max(end for _, end in splits.values())
    if n < need:
        raise DataFormatError(f'{path} has {n} rows, the splits need {need} '
                              f'(MultiBench hard-codes {MULTIBENCH_SPLITS})')
    return n


class IMDBFeatures(Dataset):
    """One split of the MM-IMDB file: items ``(text, vgg_features, genres)`` as numpy arrays.

    The same items, dtypes included, as MultiBench's ``IMDBDataset(path, start, end,
    vggfeature=True)``. The rows are read into memory once (one sequential read of the
    chunked file) instead of one compressed chunk per item.

    Args:
        path (str | Path): The HDF5 file.
        start (int): First row of the split.
        end (int): One past the last row.
    """

    def __init__(self, path: Union[str, Path], start: int, end: int):
        h5py = _h5py()
        with h5py.File(path, 'r') as f:
            self.text = f['features'][start:end]
            self.image = f['vgg_features'][start:end]
            self.genres = f['genres'][start:end]

    def __getitem__(self, index: int):
        return self.text[index], self.image[index], self.genres[index]

    def __len__(self) -> int:
        return len(self.text)


def get_imdb_dataloaders(path: Union[str, Path],
                         batch_size: int = 40,
                         num_workers: int = 0,
                         train_shuffle: bool = True,
                         limit: Optional[int] = None,
                         splits: Dict[str, Tuple[int, int]] = None) -> Tuple[DataLoader, DataLoader, DataLoader]:
    """Train, valid and test loaders like MultiBench's ``get_dataloader(path, ..., vgg=True, no_robust=True)``.

    Batches are ``[text (B, 300) float32, image (B, 4096) float32, genres (B, 23) int32]``.

    Args:
        path (str | Path): ``multimodal_imdb.hdf5``.
        batch_size (int): Default: 40 (MultiBench's).
        num_workers (int): DataLoader workers. Default: 0.
        train_shuffle (bool): Shuffle the training split. Default: True.
        limit (int, optional): Keep only the first ``limit`` rows of each split.
        splits (dict, optional): ``{'train': (start, end), ...}``; MultiBench's by default.
    """
    splits = MULTIBENCH_SPLITS if splits is None else splits
    check_imdb_file(path, splits)
    loaders = []
    for name in SPLIT_NAMES:
        start, end = splits[name]
        if limit is not None:
            end = min(end, start + int(limit))
        loaders.append(DataLoader(IMDBFeatures(path, start, end), batch_size=batch_size,
                                  shuffle=train_shuffle and name == 'train', num_workers=num_workers))
    return tuple(loaders)
