"""What the example scripts do differently for MM-IMDB and CMU-MOSEI, as one table per task.

The runner (``runner.py``) is the same for both; a task gives its data defaults, loader,
networks (MultiBench's, built from the MultiBench modules at run time), loss, MultiBench
task names and each script's default hyper-parameters.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import nn

from ..mlp_gate import MLPGate
from ..sequence_gate import SequenceGate
from .loaders import affect_loaders, imdb_loaders

#: ``(encoders, fusion, head)`` of a MultiBench MMDL.
Network = Tuple[List[nn.Module], nn.Module, nn.Module]


@dataclass(frozen=True)
class Fusion:
    """One ``--fuse`` choice of the ``*_mm`` scripts.

    Args:
        name (str): Method name, and the checkpoint's ``best_<name>.pt``.
        help (str): Its words in ``--help``.
        build (callable): ``build(mb) -> (encoders, fusion, head)`` from MultiBench's modules.
        lr (float, optional): The MultiBench example's learning rate, used when ``--lr`` is not
            given; None: the task's ``mm`` default.
    """

    name: str
    help: str
    build: Callable[[Any], Network]
    lr: Optional[float] = None


@dataclass(frozen=True)
class Task:
    """Everything in which the example scripts differ between two data sets.

    Args:
        name (str): 'imdb' or 'mosei': the metrics' key and MultiBench's test ``dataset``.
        data (str): Default ``--data`` (relative to the working directory, as in the reference).
        log_dir (str): Default ``--log-dir``.
        batch_size (int): MultiBench's batch size.
        loaders (callable): ``loaders(args, packed) -> ((train, valid, test), source)``.
        packable (bool): Whether ``*_mm`` and ``*_dyn`` take ``--packed`` (sequence data).
        text (int): Modality index of the text in a batch.
        loss (callable): Builds the training loss (also MultiBench's test criterion).
        train_task (str): MultiBench's training ``task``.
        test_task (str): MultiBench's test ``task``.
        text_expert (callable): ``text_expert(mb) -> (encoder, head)``: the ``*_uni`` networks.
        uni_test (dict): Keyword arguments of MultiBench's ``unimodal.test`` besides the task.
        uni_test_loss (bool): Whether ``unimodal.test`` gets the loss as its criterion (its
            loss ignores the 0/1 float labels of multilabel data).
        fusions (dict): ``--fuse`` value -> :class:`Fusion`.
        late_fusion (int): The ``--fuse`` value of DynMM's expensive expert (the default).
        gate (callable): Builds a fresh DynMM gate.
        defaults (dict): Per script kind ('uni', 'mm', 'dyn'): ``epochs``, ``lr``, ``wd``
            (and ``reg`` for 'dyn').
    """

    name: str
    data: str
    log_dir: str
    batch_size: int
    loaders: Callable
    packable: bool
    text: int
    loss: Callable[[], nn.Module]
    train_task: str
    test_task: str
    text_expert: Callable[[Any], Tuple[nn.Module, nn.Module]]
    uni_test: Dict[str, Any]
    uni_test_loss: bool
    fusions: Dict[int, Fusion]
    late_fusion: int
    gate: Callable[[], nn.Module]
    defaults: Dict[str, Dict[str, Any]]


# ----------------------------------------------------------------------------- MM-IMDB
def _imdb_early(mb) -> Network:
    cm = mb.common_models
    return [cm.Identity(), cm.Identity()], mb.common_fusions.Concat(), cm.MaxOut_MLP(23, 512, 4396)


def _imdb_encoders(mb) -> List[nn.Module]:
    cm = mb.common_models
    return [cm.MaxOut_MLP(512, 512, 300, linear_layer=False), cm.MaxOut_MLP(512, 1024, 4096, 512, False)]


def _imdb_late(mb) -> Network:
    return _imdb_encoders(mb), mb.common_fusions.Concat(), mb.common_models.Linear(1024, 23)


def _imdb_lrtf(mb) -> Network:
    return (_imdb_encoders(mb), mb.common_fusions.LowRankTensorFusion([512, 512], 512, 128),
            mb.common_models.Linear(512, 23))


def _imdb_mim(mb) -> Network:
    return (_imdb_encoders(mb), mb.common_fusions.MultiplicativeInteractions2Modal([512, 512], 1024, 'matrix'),
            mb.common_models.Linear(1024, 23))


IMDB = Task(
    name='imdb', data='data/multimodal_imdb.hdf5', log_dir='log/imdb', batch_size=128,
    loaders=imdb_loaders, packable=False,
    text=0,  # batches are [text, image, genres]
    loss=nn.BCEWithLogitsLoss, train_task='multilabel', test_task='multilabel',
    text_expert=lambda mb: (mb.common_models.MLP(300, 512, 512), mb.common_models.MLP(512, 512, 23)),
    uni_test=dict(dataset='imdb', method_name='unimodal_text'), uni_test_loss=False,
    fusions={0: Fusion('ef', 'early fusion', _imdb_early, lr=4e-2),
             1: Fusion('lf', 'late fusion (the DynMM expert)', _imdb_late, lr=8e-3),
             2: Fusion('lrtf', 'LRTF', _imdb_lrtf, lr=8e-3),
             3: Fusion('mim', 'MIM', _imdb_mim, lr=8e-3)},
    late_fusion=1,
    gate=lambda: MLPGate(300 + 4096, 128, 2),
    defaults=dict(uni=dict(epochs=1000, lr=1e-4, wd=1e-2),
                  mm=dict(epochs=1000, lr=None, wd=1e-2),  # None: each fusion's lr
                  dyn=dict(epochs=50, lr=1e-4, wd=1e-2, reg=0.1)))


# ----------------------------------------------------------------------------- CMU-MOSEI
def _mosei_early(mb) -> Network:
    cm = mb.common_models
    return ([cm.Identity(), cm.Identity(), cm.Identity()], mb.common_fusions.ConcatEarly(),
            cm.Sequential(cm.Transformer(409, 300), cm.MLP(300, 128, 1)))


def _mosei_late(mb) -> Network:
    cm = mb.common_models
    return ([cm.Transformer(35, 60), cm.Transformer(74, 120), cm.Transformer(300, 120)], mb.common_fusions.Concat(),
            cm.MLP(300, 128, 1))


MOSEI = Task(
    name='mosei', data='data/mosei_senti_data.pkl', log_dir='log/mosei', batch_size=32,
    loaders=affect_loaders, packable=True,
    text=2,  # batches are [vision, audio, text, ...]
    loss=nn.L1Loss, train_task='regression', test_task='posneg-classification',
    text_expert=lambda mb: (mb.common_models.Transformer(300, 120), mb.common_models.MLP(120, 64, 1)),
    uni_test=dict(dataset='affect'), uni_test_loss=True,
    fusions={2: Fusion('ef_tran', 'early-fusion Transformer', _mosei_early),
             3: Fusion('lf_tran', 'late-fusion Transformer (the DynMM expert)', _mosei_late)},
    late_fusion=3,
    gate=lambda: SequenceGate(35 + 74 + 300, 10, 2),
    defaults=dict(uni=dict(epochs=100, lr=1e-4, wd=1e-2),
                  mm=dict(epochs=1000, lr=1e-4, wd=1e-4),
                  dyn=dict(epochs=50, lr=1e-6, wd=1e-4, reg=0.0)))

#: Tasks by ``Task.name`` (``build_parser``'s ``dataset``).
TASKS = {task.name: task for task in (IMDB, MOSEI)}
#: Script name -> (task, kind).
SCRIPTS = {f'{prefix}_{kind}': (task, kind) for prefix, task in (('imdb', IMDB), ('affect', MOSEI))
           for kind in ('uni', 'mm', 'dyn')}
