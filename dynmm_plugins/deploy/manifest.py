"""The manifest of an exported model directory: what was exported, from what, how to feed it.

``DIR/manifest.json`` is written last by the exporter, so a directory with a
manifest is complete. Every check here raises ValueError or FileNotFoundError
with one line naming the file or value at fault.
"""
import hashlib
import json
import math
import os
import os.path as osp
from typing import Optional, Sequence

MANIFEST = 'manifest.json'
FORMAT = 'dynmm-onnx'
VERSION = 1
#: Keys every manifest has (see :func:`dynmm_plugins.deploy.export.export_model`).
REQUIRED_KEYS = ('format', 'version', 'dynamic', 'classes', 'input', 'num_branches', 'opset',
                 'checkpoint', 'graphs', 'gflops')


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(manifest: dict, deploy_dir: str) -> str:
    """Write ``manifest.json`` atomically (a reader never sees half a file)."""
    path = osp.join(deploy_dir, MANIFEST)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)
    return path


def graph_files(manifest: dict) -> list:
    """Every graph entry (dicts with ``file``, ``inputs``, ``outputs``, ``bytes``)."""
    graphs = manifest['graphs']
    entries = [graphs['gate']] + list(graphs['branches']) if manifest['dynamic'] \
        else [graphs['static']]
    return entries


def read_manifest(deploy_dir: str) -> dict:
    """The checked manifest of ``deploy_dir``; its graphs must exist with their recorded sizes."""
    if not osp.isdir(deploy_dir):
        raise FileNotFoundError(f'deploy directory not found: {deploy_dir}')
    path = osp.join(deploy_dir, MANIFEST)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: {deploy_dir} is not an exported model '
                                '(write one with tools/export_onnx.py)')
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path} is not valid JSON: {exc}') from None
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise ValueError(f"{path} is not a DynMM deploy manifest (format must be '{FORMAT}')")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ValueError(f'{path} lacks the keys {missing}')
    if manifest['version'] != VERSION:
        raise ValueError(f'{path} has version {manifest["version"]!r}; this runtime reads version '
                         f'{VERSION} (export the model again)')
    try:
        entries = graph_files(manifest)
    except (KeyError, TypeError) as exc:
        raise ValueError(f'{path}: malformed "graphs" entry ({exc})') from None
    if manifest['dynamic'] and len(manifest['graphs']['branches']) != manifest['num_branches']:
        raise ValueError(f'{path} lists {len(manifest["graphs"]["branches"])} branch graphs for '
                         f'num_branches={manifest["num_branches"]}')
    for entry in entries:
        graph = osp.join(deploy_dir, entry['file'])
        if not osp.isfile(graph):
            raise FileNotFoundError(f'graph file {graph} listed in {path} is missing')
        size = osp.getsize(graph)
        if entry.get('bytes') is not None and size != entry['bytes']:
            raise ValueError(f'graph file {graph} has {size} bytes, {path} records {entry["bytes"]} '
                             '(truncated or replaced; export again)')
    return manifest


def check_checkpoint(manifest: dict, checkpoint: str) -> None:
    """Raise unless ``checkpoint`` is the file the graphs were exported from (by sha256)."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {checkpoint}')
    digest = sha256_of(checkpoint)
    want = manifest['checkpoint'].get('sha256')
    if digest != want:
        raise ValueError(f'checkpoint {checkpoint} (sha256 {digest[:12]}...) is not the one the '
                         f'graphs were exported from ({manifest["checkpoint"].get("path")}, sha256 '
                         f'{str(want)[:12]}...)')


def check_classes(manifest: dict, classes: Sequence[str], source: str = 'the given classes') -> None:
    """Raise unless ``classes`` equal the exported model's classes, in order."""
    if list(classes) != list(manifest['classes']):
        raise ValueError(f'{source} {list(classes)[:6]}... ({len(classes)}) differ from the '
                         f'exported model\'s classes {manifest["classes"][:6]}... '
                         f'({len(manifest["classes"])})')


def check_input_size(manifest: dict, size: Sequence[int], source: str = 'input') -> None:
    """Raise unless (H, W) equals the size the graphs were exported for."""
    want = tuple(manifest['input']['shape'][1:])
    if tuple(int(v) for v in size) != want:
        raise ValueError(f'{source} size {tuple(size)} differs from the exported input size {want} '
                         '(export again with --shape H W)')


def check_gate_bias(bias: Optional[Sequence[float]], num_branches: int,
                    source: str = 'gate_bias') -> Optional[list]:
    """``bias`` as a list of ``num_branches`` finite floats, or None."""
    if bias is None:
        return None
    try:
        values = [float(v) for v in bias]
    except (TypeError, ValueError):
        raise ValueError(f'{source} must be a list of {num_branches} numbers, got {bias!r}') from None
    if len(values) != num_branches or not all(math.isfinite(v) for v in values):
        raise ValueError(f'{source} must be {num_branches} finite numbers (one per branch), '
                         f'got {bias!r}')
    return values


def read_budget(path: str, num_branches: int) -> list:
    """The ``gate_bias`` of a budget JSON file (``{"gate_bias": [...], ...}``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'budget file not found: {path}')
    try:
        with open(path) as f:
            budget = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f'budget file {path} is not valid JSON: {exc}') from None
    if not isinstance(budget, dict) or 'gate_bias' not in budget:
        raise ValueError(f'budget file {path} has no "gate_bias" entry')
    return check_gate_bias(budget['gate_bias'], num_branches, f'"gate_bias" of {path}')
