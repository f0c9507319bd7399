"""The affect (MOSEI) reader: MultiBench's packed and padded batches, and clear format errors."""
import numpy as np
import pytest
import torch
from multibench_helpers import mosei_split

from multibench_ext.affect_data import (AffectSequences, collate_packed, drop_empty_text, get_affect_dataloaders,
                                        load_affect_pickle)
from multibench_ext.errors import DataFormatError, SetupError


def splits(**changes):
    data = {name: mosei_split(seed=i) for i, name in enumerate(('train', 'valid', 'test'))}
    data['test'].update(changes)
    return data


def test_packed_batches_have_multibench_structure(tiny_mosei):
    train, valid, test = get_affect_dataloaders(tiny_mosei, batch_size=4)
    sequences, lengths, indices, labels = next(iter(test))
    assert [s.shape[2] for s in sequences] == [35, 74, 300]
    assert all(s.dtype == torch.float32 for s in sequences)
    assert all(torch.equal(n, lengths[0]) for n in lengths) and lengths[0].dtype == torch.int64
    assert sequences[2].shape[1] == int(lengths[0].max())
    assert indices.tolist() == [[0], [1], [2], [3]]
    assert labels.shape == (4, 1) and labels.dtype == torch.float32


def test_padded_batches_are_fixed_length(tiny_mosei):
    _, _, test = get_affect_dataloaders(tiny_mosei, batch_size=4, max_pad=True, max_seq_len=50)
    vision, audio, text, labels = next(iter(test))
    assert vision.shape == (4, 50, 35) and audio.shape == (4, 50, 74) and text.shape == (4, 50, 300)
    assert labels.shape == (4, 1)
    assert not torch.isinf(audio).any()  # MultiBench sets audio's -inf to 0


def test_sequences_start_at_first_text_and_keep_labels():
    split = mosei_split(n=3, steps=6)
    split['text'][1, 2, :] = 0  # sample 1 starts one step later
    split['text'][1, 3, 0] = 0.5
    ds = AffectSequences(drop_empty_text(split))
    vision, audio, text, index, label = ds[1]
    assert text.shape[0] == 3 and vision.shape[0] == 3 and index == 1
    assert torch.equal(text, torch.tensor(split['text'][1, 3:]))
    assert torch.equal(label, torch.tensor(split['labels'][1]))


def test_samples_without_text_are_dropped_everywhere():
    split = mosei_split(n=4)
    split['text'][2] = 0
    kept = drop_empty_text(split)
    assert len(kept['vision']) == 3 and len(kept['id']) == 3 and kept['id'][2, 0] == 'v3'


def test_collate_packed_pads_to_longest():
    items = [[torch.ones(n, 2), torch.ones(n, 3), torch.ones(n, 4), i, torch.tensor([[0.5]])] for i, n in
             enumerate((2, 5))]
    sequences, lengths, indices, labels = collate_packed(items)
    assert sequences[0].shape == (2, 5, 2) and lengths[1].tolist() == [2, 5]
    assert labels.tolist() == [[0.5], [0.5]]


def test_limit_trims_each_split(tiny_mosei):
    loaders = get_affect_dataloaders(tiny_mosei, limit=5)
    assert [len(dl.dataset) for dl in loaders] == [5, 5, 5]


def test_pickle_without_a_split_names_it(write_pickle):
    data = splits()
    del data['valid']
    with pytest.raises(DataFormatError, match="no 'valid' split") as info:
        load_affect_pickle(write_pickle(data))
    assert '\n' not in str(info.value)


def test_sequence_lengths_that_do_not_match_are_rejected(write_pickle):
    data = splits(audio=np.zeros((4, 7, 4), np.float32))
    with pytest.raises(DataFormatError, match='sequence lengths do not match'):
        load_affect_pickle(write_pickle(data))


def test_other_format_errors(write_pickle, tmp_path):
    with pytest.raises(DataFormatError, match='sample counts differ'):
        load_affect_pickle(write_pickle(splits(labels=np.zeros((3, 1, 1)))))
    with pytest.raises(DataFormatError, match="no 'text' array"):
        data = splits()
        del data['test']['text']
        load_affect_pickle(write_pickle(data))
    with pytest.raises(DataFormatError, match='expected a dict'):
        load_affect_pickle(write_pickle([1, 2]))
    with pytest.raises(SetupError, match='not found: pass --data'):
        load_affect_pickle(tmp_path / 'missing.pkl')
