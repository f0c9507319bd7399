"""The manifest of an exported model directory: what was exported, from what, how to feed it.

``DIR/manifest.json`` is written last by the exporter, so a directory with a
manifest is complete. Every check here raises ValueError or FileNotFoundError
with one line naming the file or value at fault.
"""
import json
import os.path as osp
from typing import Sequence

from dynmm_plugins.utils.io import atomic_write, file_sha256

MANIFEST = 'manifest.json'
FORMAT = 'dynmm-onnx'
VERSION = 1
#: Keys every manifest has (see :func:`dynmm_plugins.deploy.export.export_model`).
REQUIRED_KEYS = ('format', 'version', 'dynamic', 'classes', 'input', 'num_branches', 'opset',
                 'checkpoint', 'graphs', 'gflops')


def write_manifest(manifest: dict, deploy_dir: str) -> str:
    """Write ``manifest.json`` atomically (a reader never sees half a file)."""
    path = osp.join(deploy_dir, MANIFEST)
    with atomic_write(path, 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
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
    digest = file_sha256(checkpoint)
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


