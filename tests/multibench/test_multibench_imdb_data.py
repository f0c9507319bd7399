"""The MM-IMDB reader: MultiBench's batches from the HDF5 file, and clear format errors."""
import h5py
import numpy as np
import pytest
import torch
from multibench_helpers import TINY_IMDB_SPLITS

from multibench_ext.errors import DataFormatError, SetupError
from multibench_ext.imdb_data import IMDBFeatures, check_imdb_file, get_imdb_dataloaders


def test_batches_are_text_image_genres_as_multibench_serves_them(tiny_imdb):
    train, valid, test = get_imdb_dataloaders(tiny_imdb, batch_size=8, splits=TINY_IMDB_SPLITS)
    assert [len(dl.dataset) for dl in (train, valid, test)] == [40, 10, 14]
    text, image, genres = next(iter(test))
    assert text.shape == (8, 300) and text.dtype == torch.float32
    assert image.shape == (8, 4096) and image.dtype == torch.float32
    assert genres.shape == (8, 23) and genres.dtype == torch.int32
    with h5py.File(tiny_imdb, 'r') as f:  # test rows start at 50, unshuffled
        assert np.array_equal(text.numpy(), f['features'][50:58])
        assert np.array_equal(genres.numpy(), f['genres'][50:58])


def test_limit_trims_each_split(tiny_imdb):
    loaders = get_imdb_dataloaders(tiny_imdb, batch_size=4, splits=TINY_IMDB_SPLITS, limit=5)
    assert [len(dl.dataset) for dl in loaders] == [5, 5, 5]


def test_dataset_items_match_file_rows(tiny_imdb):
    ds = IMDBFeatures(tiny_imdb, 10, 20)
    with h5py.File(tiny_imdb, 'r') as f:
        for i in (0, 9):
            text, image, genres = ds[i]
            assert np.array_equal(image, f['vgg_features'][10 + i]) and genres.dtype == np.int32


def test_default_splits_need_multibench_row_count(tiny_imdb):
    with pytest.raises(DataFormatError, match='has 64 rows, the splits need 25959'):
        check_imdb_file(tiny_imdb)


def test_missing_key_names_the_key_and_the_format(tmp_path):
    path = tmp_path / 'bad.hdf5'
    with h5py.File(path, 'w') as f:
        f['features'] = np.zeros((30, 300), np.float32)
        f['genres'] = np.zeros((30, 23), np.int32)
        f['imdb_ids'] = np.zeros(30, 'S7')
    with pytest.raises(DataFormatError, match="no dataset 'vgg_features'") as info:
        get_imdb_dataloaders(path, splits={'train': (0, 10), 'valid': (10, 20), 'test': (20, 30)})
    assert '\n' not in str(info.value)


def test_wrong_row_shape_and_missing_file(tmp_path):
    path = tmp_path / 'bad.hdf5'
    with h5py.File(path, 'w') as f:
        f['features'] = np.zeros((30, 200), np.float32)
        f['vgg_features'] = np.zeros((30, 4096), np.float32)
        f['genres'] = np.zeros((30, 23), np.int32)
        f['imdb_ids'] = np.zeros(30, 'S7')
    with pytest.raises(DataFormatError, match=r"'features' has rows of shape \(200,\)"):
        check_imdb_file(path, {'train': (0, 30)})
    with pytest.raises(SetupError, match='not found: pass --data'):
        check_imdb_file(tmp_path / 'nothing.hdf5')
    (tmp_path / 'text.hdf5').write_text('hello')
    with pytest.raises(DataFormatError, match='not an HDF5 file'):
        check_imdb_file(tmp_path / 'text.hdf5')
