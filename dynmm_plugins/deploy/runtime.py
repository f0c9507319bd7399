"""Run an exported DynMM directory on onnxruntime: the gate picks, each sample runs its branch."""
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from dynmm_plugins.core import check_gate_bias
from dynmm_plugins.evaluation.budget import read_budget

from .manifest import check_checkpoint, check_classes, read_manifest


#: onnxruntime's session option: whether idle intra-op workers spin-wait
SPIN_WAIT_KEY = 'session.intra_op.allow_spinning'


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError('the deploy runtime needs onnxruntime: pip install "dynmm[deploy]"') from None
    return onnxruntime


class OnnxDynMM:
    """An exported DynMM (or static ESANet) model on onnxruntime.

    With a gate, :meth:`predict` runs the stems + gate graph on the whole batch,
    takes each sample's branch as ``argmax(gate_logits + gate_bias)``, groups the
    batch by branch and runs only the graphs of the branches chosen, each on its
    own samples; the depth stages after a sample's branch are never computed, as
    in the PyTorch model's hard-gate inference.

    Example::

        model = OnnxDynMM('work_dirs/deploy')
        logits, branches = model.predict(x)                   # x: (N, 4, H, W) float32
        logits, branches = model.predict_images(rgb, depth)   # uint8 RGB, depth in mm

    Args:
        deploy_dir (str): Directory written by ``tools/export_onnx.py``.
        providers (Sequence[str], optional): onnxruntime execution providers by
            name, e.g. ``['CUDAExecutionProvider', 'CPUExecutionProvider']``.
            Default: CPU.
        gate_bias (Sequence[float], optional): One number per branch added to the
            gate logits before the arg-max (the inference compute knob: negative
            values on deep branches save compute). Default: the manifest's.
        budget (str, optional): A budget JSON file ``{"gate_bias": [...], ...}``
            to read ``gate_bias`` from (not together with ``gate_bias``).
        checkpoint (str, optional): Refuse to load unless the graphs were exported
            from this checkpoint file (compared by sha256).
        classes (Sequence[str], optional): Refuse to load unless the model
            predicts these classes, in this order.
        threads (int, optional): onnxruntime intra-op threads. Default: its own.
        spin_wait (bool): Let each session's intra-op workers spin-wait for work
            after every parallel section (onnxruntime's default). Every prediction
            runs two sessions, the gate's and a branch's, each with its own thread
            pool, so the workers of the session that just ran would spin on the
            cores the next one needs: at 2 threads on 2 cores (R34-NBt1D,
            480x640) branch 0 took 389 ms per image with spinning and 301 ms
            without, branch 4 542 and 443 ms (README, "Deploy"). Default: False.
    """

    def __init__(self, deploy_dir: str, providers: Optional[Sequence[str]] = None,
                 gate_bias: Optional[Sequence[float]] = None, budget: Optional[str] = None,
                 checkpoint: Optional[str] = None, classes: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None, spin_wait: bool = False):
        ort = _import_onnxruntime()
        self.deploy_dir = deploy_dir
        self.manifest = read_manifest(deploy_dir)
        if checkpoint is not None:
            check_checkpoint(self.manifest, checkpoint)
        if classes is not None:
            check_classes(self.manifest, classes)
        self.num_branches = int(self.manifest['num_branches'])
        if gate_bias is not None and budget is not None:
            raise ValueError('give gate_bias or budget, not both')
        if budget is not None:
            # the budget belongs to the checkpoint the graphs were exported from
            sha = self.manifest['checkpoint'].get('sha256')
            gate_bias = read_budget(budget, num_branches=self.num_branches, checkpoint_sha256=sha)['gate_bias']
        elif gate_bias is None:
            gate_bias = self.manifest.get('gate_bias')
        self.gate_bias = None if gate_bias is None else check_gate_bias(gate_bias, self.num_branches).tolist()
        if self.gate_bias is not None and not self.is_dynamic:
            raise ValueError('gate_bias needs a dynamic model; this export is static ESANet '
                             '(it has no gate)')
        available = ort.get_available_providers()
        providers = list(providers or ['CPUExecutionProvider'])
        unknown = [p for p in providers if p not in available]
        if unknown:
            raise ValueError(f'onnxruntime execution provider(s) {unknown} not available here; '
                             f'available: {available}')
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.add_session_config_entry(SPIN_WAIT_KEY, '1' if spin_wait else '0')

        def session(entry):
            return ort.InferenceSession(osp.join(deploy_dir, entry['file']), options,
                                        providers=providers)

        self.providers = providers

        graphs = self.manifest['graphs']
        if self.is_dynamic:
            self._gate = session(graphs['gate'])
            self._branches = [session(entry) for entry in graphs['branches']]
        else:
            self._static = session(graphs['static'])

    # ------------------------------------------------------------------ manifest
    @property
    def is_dynamic(self) -> bool:
        """Whether the model has a gate (False: static ESANet, always the last branch)."""
        return bool(self.manifest['dynamic'])

    @property
    def classes(self) -> list:
        """Class names, one per logit channel."""
        return list(self.manifest['classes'])

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(4, H, W) of one normalised input."""
        return tuple(self.manifest['input']['shape'])

    @property
    def branch_gflops(self) -> list:
        """GFLOPs (GMACs) per image of each branch, measured on the exported graphs."""
        return list(self.manifest['gflops']['total'])

    # ------------------------------------------------------------------ inputs
    def check_input(self, x, name: str = 'x') -> np.ndarray:
        """``x`` if it is a finite float32 (N, 4, H, W) array of the exported size, else ValueError."""
        if not isinstance(x, np.ndarray):
            raise ValueError(f'{name} must be a numpy array, got {type(x).__name__}')
        if x.dtype != np.float32:
            raise ValueError(f'{name} must be float32 (normalised RGB-D), got dtype {x.dtype}')
        want = self.input_shape
        if x.ndim != 4 or x.shape[0] < 1:
            raise ValueError(f'{name} must be (N, {", ".join(map(str, want))}) with N >= 1, got shape '
                             f'{x.shape}')
        if x.shape[1] != want[0]:
            raise ValueError(f'{name} has {x.shape[1]} channels, the model takes {want[0]} '
                             '(R, G, B, depth)')
        if tuple(x.shape[2:]) != want[1:]:
            raise ValueError(f'{name} is {x.shape[2]}x{x.shape[3]}, the graphs were exported for '
                             f'{want[1]}x{want[2]} (export again with --shape)')
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f'{name} has non-finite values (first at index {tuple(bad.tolist())}: '
                             f'{x[tuple(bad)]})')
        return x

    def _check_branch(self, branch, batch: int) -> np.ndarray:
        nb = self.num_branches
        if isinstance(branch, (int, np.integer)) and not isinstance(branch, bool):
            branches = np.full(batch, int(branch), np.int64)
        else:
            branches = np.asarray(branch)
            if branches.ndim != 1 or branches.shape[0] != batch or \
                    not np.issubdtype(branches.dtype, np.integer):
                raise ValueError(f'branch must be an int or {batch} ints (one per sample), '
                                 f'got {branch!r}')
        if ((branches < 0) | (branches >= nb)).any():
            raise ValueError(f'branch must be in [0, {nb - 1}], got {branch!r}')
        if not self.is_dynamic and (branches != nb - 1).any():
            raise ValueError(f'this export is static ESANet: it has only branch {nb - 1}, '
                             f'got branch={branch!r}')
        return branches.astype(np.int64)

    # ------------------------------------------------------------------ inference
    def gate(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stem features and gate logits (N, B) of a checked input (dynamic models)."""
        if not self.is_dynamic:
            raise ValueError('this export is static ESANet: it has no gate')
        rgb, depth, logits = self._gate.run(None, {'input': self.check_input(x)})
        return rgb, depth, logits

    def decide(self, gate_logits: np.ndarray) -> np.ndarray:
        """Branch of each sample: arg-max of the gate logits plus ``gate_bias``."""
        if self.gate_bias is not None:
            gate_logits = gate_logits + np.asarray(self.gate_bias, gate_logits.dtype)
        return gate_logits.argmax(axis=1).astype(np.int64)

    def _run_branch(self, k: int, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        session = self._branches[k]
        feed = dict(rgb_features=rgb, depth_features=depth)
        return session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})[0]

    def predict(self, x: np.ndarray, branch: Union[int, Sequence[int], None] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Logits (N, C, H, W) and the branch of each sample (N,).

        Args:
            x (np.ndarray): Normalised float32 RGB-D batch (N, 4, H, W).
            branch (int | Sequence[int], optional): None: the gate decides per
                sample; an int: every sample on that branch; N ints: each sample
                on its own branch.
        """
        x = self.check_input(x)
        n = x.shape[0]
        if not self.is_dynamic:
            self._check_branch(self.num_branches - 1 if branch is None else branch, n)
            return self._static.run(None, {'input': x})[0], np.full(n, self.num_branches - 1)
        rgb, depth, logits = self._gate.run(None, {'input': x})
        branches = self.decide(logits) if branch is None else self._check_branch(branch, n)
        chosen = np.unique(branches)
        if len(chosen) == 1:  # one branch for the whole batch: no regrouping
            return self._run_branch(int(chosen[0]), rgb, depth), branches
        out = None
        for k in chosen:
            index = np.flatnonzero(branches == k)
            part = self._run_branch(int(k), rgb[index], depth[index])
            if out is None:
                out = np.empty((n,) + part.shape[1:], part.dtype)
            out[index] = part
        return out, branches

    def normalise(self, rgb: np.ndarray, depth: np.ndarray) -> Tuple[np.ndarray, Tuple[int, int]]:
        """The model input for raw images, padded to the exported size, and the images' (H, W).

        Args:
            rgb (np.ndarray): uint8 (N, H, W, 3), RGB order.
            depth (np.ndarray): Depth in millimetres (N, H, W), any real dtype.
        """
        for name, array in (('rgb', rgb), ('depth', depth)):
            if not isinstance(array, np.ndarray):
                raise ValueError(f'{name} must be a numpy array, got {type(array).__name__}')
        if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise ValueError(f'rgb must be uint8 (N, H, W, 3), got {rgb.dtype} {rgb.shape}')
        if depth.ndim != 3 or depth.shape != rgb.shape[:3]:
            raise ValueError(f'depth must be (N, H, W) = {rgb.shape[:3]} like rgb, got {depth.shape}')
        if not np.issubdtype(depth.dtype, np.number) or not np.isfinite(depth).all():
            raise ValueError(f'depth must be finite numbers (mm), got dtype {depth.dtype}'
                             + ('' if not np.issubdtype(depth.dtype, np.number) else
                                ' with non-finite values'))
        _, h, w = self.input_shape
        n, img_h, img_w = depth.shape
        if img_h > h or img_w > w:
            raise ValueError(f'images of {img_h}x{img_w} are larger than the exported input '
                             f'{h}x{w}; resize them or export again with --shape')
        spec = self.manifest['input']
        mean = np.asarray(spec['mean'], np.float32)
        std = np.asarray(spec['std'], np.float32)
        x = np.full((n, 4, h, w), spec.get('pad_val', 0.0), np.float32)
        x[:, :3, :img_h, :img_w] = (rgb.transpose(0, 3, 1, 2).astype(np.float32)
                                    - mean[:3, None, None]) / std[:3, None, None]
        x[:, 3, :img_h, :img_w] = (depth.astype(np.float32) - mean[3]) / std[3]
        return x, (img_h, img_w)

    def predict_images(self, rgb: np.ndarray, depth: np.ndarray,
                       branch: Union[int, Sequence[int], None] = None
                       ) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` on raw images; logits cropped back to the images' size."""
        x, (h, w) = self.normalise(rgb, depth)
        logits, branches = self.predict(x, branch)
        return logits[:, :, :h, :w], branches
