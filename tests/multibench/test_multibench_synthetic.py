"""Synthetic MultiBench files: exact keys, dtypes and shapes, determinism, the known split."""
import json
import pickle

import h5py
import numpy as np
import pytest

from multibench_ext.synthetic import known_split_path, main, read_known_split, write_imdb, write_mosei


def test_imdb_file_has_multibench_keys_dtypes_and_shapes(tiny_imdb):
    with h5py.File(tiny_imdb, 'r') as f:
        assert set(f.keys()) == {'features', 'vgg_features', 'genres', 'imdb_ids'}
        assert f['features'].shape == (64, 300) and f['features'].dtype == np.float32
        assert f['vgg_features'].shape == (64, 4096) and f['vgg_features'].dtype == np.float32
        assert f['genres'].shape == (64, 23) and f['genres'].dtype == np.int32
        assert f['imdb_ids'].shape == (64,) and f['imdb_ids'].dtype == np.dtype('S7')
        assert f['vgg_features'].chunks is not None and f['vgg_features'].compression == 'gzip'
        genres = f['genres'][:]
        vgg = f['vgg_features'][:]
    assert set(np.unique(genres)) <= {0, 1} and genres.sum(1).min() >= 1 and genres.sum(1).max() <= 3
    assert vgg.min() >= 0 and (vgg == 0).mean() > 0.8  # sparse, non-negative like post-ReLU VGG features


def test_imdb_side_file_records_the_text_sufficient_rows(tiny_imdb):
    info = read_known_split(tiny_imdb)
    assert info['dataset'] == 'mmimdb' and info['rows'] == 64
    assert info['splits'] == {}  # 64 rows: none of MultiBench's split ranges fits
    big = json.loads(known_split_path(tiny_imdb).read_text())
    assert big == info


def test_imdb_text_is_informative_exactly_where_recorded(tmp_path):
    path = tmp_path / 'imdb.hdf5'
    info = write_imdb(path, rows=2000, seed=0, text_fraction=0.3, block=1024)
    easy = np.array([b == '1' for b in info['text_sufficient_rows']])
    assert len(easy) == 2000 and abs(easy.mean() - 0.3) < 0.04
    with h5py.File(path, 'r') as f:
        text, genres = f['features'][:2000], f['genres'][:2000].astype(float)
    # Text explains the genres only in text-sufficient rows: least squares fit per group.
    def fit_error(rows):
        coef, *_ = np.linalg.lstsq(text[rows], genres[rows], rcond=None)
        return np.abs(text[rows] @ coef - genres[rows]).mean()
    assert fit_error(easy[:2000]) < 0.5 * fit_error(~easy[:2000])


def test_same_seed_same_files_other_seed_other_data(tmp_path):
    a, b, c = (write_imdb(tmp_path / f'{n}.hdf5', rows=40, seed=s, block=16) for n, s in (('a', 1), ('b', 1), ('c', 2)))
    assert a == b and a != c
    assert (tmp_path / 'a.hdf5').read_bytes() == (tmp_path / 'b.hdf5').read_bytes()
    write_mosei(tmp_path / 'a.pkl', sizes=(3, 2, 2), seed=5)
    write_mosei(tmp_path / 'b.pkl', sizes=(3, 2, 2), seed=5)
    assert (tmp_path / 'a.pkl').read_bytes() == (tmp_path / 'b.pkl').read_bytes()


def test_mosei_pickle_has_multibench_keys_dtypes_and_shapes(tiny_mosei):
    with open(tiny_mosei, 'rb') as f:
        data = pickle.load(f)
    assert set(data) == {'train', 'valid', 'test'}
    for split, n in zip(('train', 'valid', 'test'), (12, 6, 8)):
        d = data[split]
        assert set(d) == {'vision', 'audio', 'text', 'labels', 'id'}
        assert d['vision'].shape == (n, 50, 35) and d['audio'].shape == (n, 50, 74)
        assert d['text'].shape == (n, 50, 300) and d['labels'].shape == (n, 1, 1) and d['id'].shape == (n, 3)
        assert all(d[k].dtype == np.float32 for k in ('vision', 'audio', 'text', 'labels'))
        assert np.abs(d['labels']).max() <= 3
        assert (d['labels'] == 0).sum() == np.ceil(0.1 * n)  # neutral samples, as real MOSEI has
        first_real = (d['text'] != 0).any(axis=2).argmax(axis=1)
        for i, start in enumerate(first_real):  # zeros in front, real steps to the end
            assert (d['text'][i, :start] == 0).all() and (d['text'][i, start:] != 0).any(axis=1).all()
    audio = np.concatenate([data[s]['audio'] for s in data])
    assert np.isneginf(audio).any() and not np.isnan(audio).any()
    info = read_known_split(tiny_mosei)
    assert [len(info['text_sufficient'][s]) for s in ('train', 'valid', 'test')] == [12, 6, 8]


def test_command_line_writes_both_files(tmp_path, capsys):
    assert main(['--imdb', str(tmp_path / 'i.hdf5'), '--imdb-rows', '20', '--mosei', str(tmp_path / 'm.pkl'),
                 '--mosei-sizes', '2', '2', '2']) == 0
    assert (tmp_path / 'i.hdf5').is_file() and known_split_path(tmp_path / 'm.pkl').is_file()
    assert '25959' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])


def test_mosei_modalities_carry_the_sentiment_where_recorded(tmp_path):
    path = tmp_path / 'mosei.pkl'
    info = write_mosei(path, sizes=(400, 2, 2), seed=6)
    with open(path, 'rb') as f:
        train = pickle.load(f)['train']
    easy = np.array([b == '1' for b in info['text_sufficient']['train']])
    label = train['labels'].reshape(-1)

    def fit_error(key, rows):  # least squares from the mean over real steps
        x = train[key].sum(1) / (train['text'] != 0).any(axis=2).sum(1, keepdims=True)
        x = x[rows].reshape(rows.sum(), -1, 5).sum(2) if key == 'text' else x[rows]  # 60 text features: no overfit
        coef, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))], label[rows], rcond=None)
        return np.abs(np.c_[x, np.ones(len(x))] @ coef - label[rows]).mean()

    assert fit_error('text', easy) < 0.5 * fit_error('text', ~easy)
    assert fit_error('vision', ~easy) < 0.5 * fit_error('vision', easy)
