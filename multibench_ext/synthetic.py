"""Synthetic MM-IMDB and CMU-MOSEI files in MultiBench's exact formats, with a known text-sufficient part.

In a known part of the samples, chosen at random with probability ``text_fraction``, the
text carries the label, so the cheap text expert suffices there; in the rest the text is
noise and the late-fusion expert is needed, because only the other modalities carry the
label (MM-IMDB: the image carries the genres in every sample; MOSEI: vision and audio carry
the sentiment only where the text does not). A constant "clarity" offset in the text features, positive
where the text is informative and negative where it is not, lets a gate tell the two apart
(like a confident versus a vague plot summary or utterance). Which samples are which is
written to a side file, ``<data file>.known_split.json``, so the data files themselves hold
exactly MultiBench's keys.

Run ``python -m multibench_ext.synthetic --imdb FILE.hdf5 --mosei FILE.pkl`` (or
``tools/make_synthetic_multibench.py``).
"""
import json
import pickle
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from dynmm_plugins.utils.errors import ArgumentParser, run_entry_point

from .imdb_data import IMDB_KEYS, MULTIBENCH_SPLITS
from .imdb_data import SPLIT_NAMES as IMDB_SPLIT_NAMES

FORMAT = 'multibench_ext.synthetic/1'
IMDB_ROWS = MULTIBENCH_SPLITS['test'][1]  # 25,959: MultiBench's loader indexes up to here
IMDB_GENRES = IMDB_KEYS['genres'][0]
MOSEI_DIMS = {'vision': 35, 'audio': 74, 'text': 300}
MOSEI_SIZES = (800, 200, 400)  # train, valid, test (the real data: 16265, 1869, 4643)
MOSEI_STEPS = 50


def known_split_path(data_path: Union[str, Path]) -> Path:
    """The side file that records which samples the text expert suffices for."""
    return Path(str(data_path) + '.known_split.json')


def read_known_split(data_path: Union[str, Path]) -> Optional[Dict[str, Any]]:
    """The side file's content, or None when ``data_path`` has none (e.g. real data).

    ``text_sufficient[split]`` is a string of '0'/'1', one per sample of the split in file
    order (MM-IMDB: also ``text_sufficient_rows`` for all rows).
    """
    path = known_split_path(data_path)
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def _quantize(x: np.ndarray, step: float) -> np.ndarray:
    # Few distinct values make the chunked HDF5 file compress well (and look like stored features).
    return (np.round(x / step) * step).astype(np.float32)


def _bits(mask: np.ndarray) -> str:
    return ''.join('1' if m else '0' for m in mask)


def _write_side_file(data_path: Path, info: Dict[str, Any]) -> None:
    with open(known_split_path(data_path), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)


def write_imdb(path: Union[str, Path], rows: int = IMDB_ROWS, text_fraction: float = 0.5, seed: int = 0,
               block: int = 4096) -> Dict[str, Any]:
    """Write a synthetic ``multimodal_imdb.hdf5`` and its side file; return the side file's content.

    Datasets: ``features`` (rows, 300) float32, ``vgg_features`` (rows, 4096) float32,
    ``genres`` (rows, 23) int32 (1 to 3 genres per row), ``imdb_ids`` (rows,) bytes ``S7``:
    the dtypes of the original MM-IMDB file. Chunked and gzip-compressed; VGG features are
    sparse and non-negative like real post-ReLU fc7 features. The genres are in the image
    features of every row and in the text of the text-sufficient rows.

    Args:
        path (str | Path): Output file.
        rows (int): Rows; MultiBench's loader needs 25,959. Default: 25959.
        text_fraction (float): Probability that a row's text suffices. Default: 0.5.
        seed (int): Seed; the same seed writes the same data. Default: 0.
        block (int): Rows generated and written at a time. Default: 4096.
    """
    import h5py
    if not 0 <= text_fraction <= 1:
        raise ValueError(f'text_fraction must be in [0, 1], got {text_fraction}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    text_dim, image_dim = IMDB_KEYS['features'][0], IMDB_KEYS['vgg_features'][0]
    # The "world": genre popularity, text prototypes, sparse image prototypes, clarity direction.
    popularity = 1.0 / np.arange(1, IMDB_GENRES + 1) ** 0.7
    popularity /= popularity.sum()
    text_protos = rng.normal(0.0, 1.0, (IMDB_GENRES, text_dim))
    clarity = rng.normal(0.0, 1.0, text_dim)
    clarity /= np.linalg.norm(clarity)
    image_protos = np.zeros((IMDB_GENRES, image_dim), dtype=np.float32)
    for g in range(IMDB_GENRES):
        support = rng.choice(image_dim, 48, replace=False)
        image_protos[g, support] = rng.uniform(1.0, 3.0, support.size)
    easy = rng.random(rows) < text_fraction

    with h5py.File(path, 'w') as f:
        # track_times=False keeps the file byte-identical for the same seed.
        common = dict(compression='gzip', compression_opts=1, shuffle=True, track_times=False)
        features = f.create_dataset('features', (rows, text_dim), dtype='float32',
                                    chunks=(min(rows, 1024), text_dim), **common)
        vgg = f.create_dataset('vgg_features', (rows, image_dim), dtype='float32',
                               chunks=(min(rows, 32), image_dim), **common)
        genres = f.create_dataset('genres', (rows, IMDB_GENRES), dtype='int32',
                                  chunks=(min(rows, 1024), IMDB_GENRES), **common)
        ids = f.create_dataset('imdb_ids', (rows,), dtype='S7', chunks=(min(rows, 4096),), **common)
        for lo in range(0, rows, block):
            hi = min(rows, lo + block)
            n = hi - lo
            # 1 to 3 distinct genres per row, drawn by popularity (Gumbel top-k sampling).
            counts = 1 + rng.binomial(2, 0.35, n)
            keys = np.log(popularity) + rng.gumbel(size=(n, IMDB_GENRES))
            rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
            labels = (rank < counts[:, None]).astype(np.int32)
            is_easy = easy[lo:hi, None]
            text = (rng.normal(0.0, 0.35, (n, text_dim)) + np.where(is_easy, 1.5, -1.5) * clarity
                    + is_easy * (labels @ text_protos))
            # float32 and in-place rounding: this block is most of the generation time.
            image = labels.astype(np.float32) @ image_protos
            image *= rng.uniform(0.7, 1.3, (n, 1)).astype(np.float32)
            noise_at = rng.integers(0, image_dim, (n, image_dim // 32))
            image[np.arange(n)[:, None], noise_at] += rng.exponential(0.5, noise_at.shape).astype(np.float32)
            image *= 16
            np.round(image, out=image)
            image /= 16
            features[lo:hi] = _quantize(text, 1 / 64)
            vgg[lo:hi] = image
            genres[lo:hi] = labels
            ids[lo:hi] = np.array([f'{i:07d}' for i in range(lo, hi)], dtype='S7')

    splits = {name: MULTIBENCH_SPLITS[name] for name in IMDB_SPLIT_NAMES if MULTIBENCH_SPLITS[name][1] <= rows}
    info = dict(format=FORMAT, dataset='mmimdb', seed=seed, rows=rows, text_fraction=text_fraction,
                splits={k: list(v) for k, v in splits.items()},
                text_sufficient={name: _bits(easy[start:end]) for name, (start, end) in splits.items()},
                text_sufficient_rows=_bits(easy),
                note='1 = the text expert suffices for this row (text informative); '
                     '0 = only the image carries the genres')
    _write_side_file(path, info)
    return info


def write_mosei(path: Union[str, Path], sizes: Sequence[int] = MOSEI_SIZES, text_fraction: float = 0.5,
                seed: int = 0, steps: int = MOSEI_STEPS, min_length: int = 8,
                zero_fraction: float = 0.1) -> Dict[str, Any]:
    """Write a synthetic ``mosei_senti_data.pkl`` and its side file; return the side file's content.

    ``{split: {'vision' (N, steps, 35), 'audio' (N, steps, 74), 'text' (N, steps, 300),
    'labels' (N, 1, 1), 'id' (N, 3)}}`` for splits train, valid, test; features and labels
    float32, sentiment in [-3, 3], ids as strings ``[video, start, end]``. A share
    ``zero_fraction`` of each split (at least one sample when it is > 0) is labelled
    exactly 0 (neutral; real MOSEI has many), so the accuracy conventions that differ on
    zeros (``acc2_has0`` / ``acc2_non0``) differ here too; nothing carries their sentiment.
    Sequences have 8 to ``steps`` real steps, front-padded with zeros like the original;
    a few audio values are -inf as in the original. The sentiment is in the text of the
    text-sufficient samples and in vision and audio of the others.

    Args:
        path (str | Path): Output file.
        sizes (Sequence[int]): Samples in train, valid, test. Default: (800, 200, 400).
        text_fraction (float): Probability that a sample's text suffices. Default: 0.5.
        seed (int): Seed; the same seed writes the same data. Default: 0.
        steps (int): Sequence length of the arrays. Default: 50.
        min_length (int): Shortest real sequence. Default: 8.
        zero_fraction (float): Share of samples per split labelled exactly 0. Default: 0.1.
    """
    if not 0 <= text_fraction <= 1:
        raise ValueError(f'text_fraction must be in [0, 1], got {text_fraction}')
    if not 0 <= zero_fraction <= 1:
        raise ValueError(f'zero_fraction must be in [0, 1], got {zero_fraction}')
    if len(sizes) != 3 or min(sizes) < 1:
        raise ValueError(f'sizes must be 3 positive sample counts (train, valid, test), got {sizes}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # the neutral samples come from their own stream: the rest of the data is the same
    # as without them
    zero_rng = np.random.default_rng([seed, 0])
    unit = {}
    for key in ('text', 'vision', 'audio', 'clarity'):
        v = rng.normal(0.0, 1.0, MOSEI_DIMS.get(key, MOSEI_DIMS['text']))
        unit[key] = v / np.linalg.norm(v)
    data, bits = {}, {}
    for name, n in zip(('train', 'valid', 'test'), sizes):
        sentiment = rng.uniform(0.1, 3.0, n) * rng.choice([-1.0, 1.0], n)
        num_zero = min(n, int(np.ceil(zero_fraction * n)))
        sentiment[zero_rng.choice(n, num_zero, replace=False)] = 0.0
        easy = rng.random(n) < text_fraction
        length = rng.integers(min(min_length, steps), steps + 1, n)
        real = (np.arange(steps)[None, :] >= (steps - length)[:, None])[..., None]  # (n, steps, 1)
        signal = (sentiment / 3.0)[:, None, None]
        text = (rng.normal(0.0, 0.5, (n, steps, MOSEI_DIMS['text']))
                + np.where(easy, 2.0, -2.0)[:, None, None] * unit['clarity']
                + easy[:, None, None] * 4.0 * signal * unit['text'])
        # Vision and audio carry the sentiment only where the text does not: on text-sufficient
        # samples the late-fusion expert has nothing to add to the text expert.
        hard = (~easy)[:, None, None]
        vision = rng.normal(0.0, 0.5, (n, steps, MOSEI_DIMS['vision'])) + hard * 3.0 * signal * unit['vision']
        audio = rng.normal(0.0, 0.5, (n, steps, MOSEI_DIMS['audio'])) + hard * 3.0 * signal * unit['audio']
        audio[rng.random(audio.shape) < 0.002] = -np.inf
        data[name] = dict(vision=(vision * real).astype(np.float32), audio=np.where(real, audio, 0.0).astype(np.float32),
                          text=(text * real).astype(np.float32),
                          labels=sentiment.reshape(n, 1, 1).astype(np.float32),
                          id=np.array([[f'synthetic_{name}_{i:05d}', '0.0', f'{length[i] / 10:.1f}'] for i in range(n)]))
        bits[name] = _bits(easy)
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=4)
    info = dict(format=FORMAT, dataset='mosei', seed=seed, sizes=list(sizes), steps=steps,
                text_fraction=text_fraction, zero_fraction=zero_fraction, text_sufficient=bits,
                note='1 = the text expert suffices for this sample (only the text carries the sentiment); '
                     '0 = only vision and audio carry it')
    _write_side_file(path, info)
    return info


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: write the requested synthetic files."""
    parser = ArgumentParser(
        prog='make_synthetic_multibench',
        description='Write synthetic MM-IMDB (HDF5) and CMU-MOSEI (pickle) files in MultiBench\'s formats, '
                    'plus <file>.known_split.json recording where the text expert suffices.')
    parser.add_argument('--imdb', metavar='FILE', help='write an MM-IMDB file here (e.g. multimodal_imdb.hdf5)')
    parser.add_argument('--mosei', metavar='FILE', help='write a MOSEI file here (e.g. mosei_senti_data.pkl)')
    parser.add_argument('--imdb-rows', type=int, default=IMDB_ROWS,
                        help='MM-IMDB rows; MultiBench\'s fixed splits need 25959 (default)')
    parser.add_argument('--mosei-sizes', type=int, nargs=3, default=list(MOSEI_SIZES), metavar=('TRAIN', 'VALID', 'TEST'),
                        help='MOSEI samples per split (default: %(default)s)')
    parser.add_argument('--text-fraction', type=float, default=0.5,
                        help='share of samples whose text suffices (default: %(default)s)')
    parser.add_argument('--mosei-zero-fraction', type=float, default=0.1,
                        help='share of MOSEI samples per split labelled exactly 0 (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    parser.add_argument('--force', action='store_true', help='replace files that already exist')
    args = parser.parse_args(argv)
    if not args.imdb and not args.mosei:
        parser.error('nothing to write: pass --imdb FILE and/or --mosei FILE')
    if args.imdb_rows < 1:
        parser.error(f'--imdb-rows must be >= 1, got {args.imdb_rows}')
    if min(args.mosei_sizes) < 1:
        parser.error(f'--mosei-sizes must be 3 sample counts >= 1 (train, valid, test), '
                     f'got {" ".join(map(str, args.mosei_sizes))}')
    if not 0 <= args.text_fraction <= 1:
        parser.error(f'--text-fraction must be in [0, 1], got {args.text_fraction}')
    for flag, path in (('--imdb', args.imdb), ('--mosei', args.mosei)):
        if not path:
            continue
        if Path(path).is_dir():
            parser.error(f'{flag} {path} is a folder; give a file name')
        if Path(path).exists() and not args.force:
            parser.error(f'{flag} {path} already exists; pass --force to replace it')
        parent = Path(path).resolve().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            parser.error(f'{flag} {path}: {parent} is a file, not a folder')
    if args.imdb:
        info = write_imdb(args.imdb, args.imdb_rows, args.text_fraction, args.seed)
        if args.imdb_rows < IMDB_ROWS:
            print(f'note: {args.imdb} has {args.imdb_rows} rows; MultiBench\'s MM-IMDB splits need {IMDB_ROWS}',
                  file=sys.stderr)
        print(f'wrote {args.imdb} ({info["rows"]} rows) and {known_split_path(args.imdb)}')
    if args.mosei:
        info = write_mosei(args.mosei, args.mosei_sizes, args.text_fraction, args.seed,
                           zero_fraction=args.mosei_zero_fraction)
        print(f'wrote {args.mosei} (train/valid/test {info["sizes"]}) and {known_split_path(args.mosei)}')
    return 0


if __name__ == '__main__':
    sys.exit(run_entry_point(main, prog='make_synthetic_multibench'))
