#!/usr/bin/env bash
# Every speed target of the deployment (README "Deploy") in one run, written to one JSON.
#
#   bash tools/benchmark_deploy.sh [CHECKPOINT] [OUT_DIR]
#
# Exports CONFIG (default: DynMM R34-NBt1D NYUv2, 480x640, 40 classes) to OUT_DIR/onnx and
# times, interleaved round by round on onnxruntime and PyTorch eager, CPU, THREADS threads
# (default 2), batch 1: every ONNX branch and a mixed batch of one image per branch against
# their GFLOPs ratios, ONNX branch 0 against the reference implementation (PyTorch, compute
# all + select, BatchNorm kept), and every PyTorch eager branch with BatchNorm folded. The
# process keeps freed memory (--keep-freed-memory: glibc's malloc neither unmaps nor trims),
# so PyTorch, the reference included, does not page-fault its large tensors on every
# forward, nor the runtime its numpy outputs (onnxruntime's own tensors come from its arena).
# Result: OUT_DIR/speed.json ("targets", "all_targets_met", load averages before and after).
# Every timed call follows an untimed PAUSE (default 0.05 s), so that the threads of the
# previous call, PyTorch's OpenMP workers or onnxruntime's, have stopped spin-waiting.
# Latency does not depend on the weights: without CHECKPOINT the config's initial weights,
# with BatchNorm statistics accumulated on a few random batches, are used. Needs the
# `deploy` extra; run it on a quiet machine (6.5 min at 2 threads with the default 30 rounds).
# REPEATS defaults to 30 rounds: with 10, ONNX branch 0's ratio moved between 0.99 and 1.08
# from run to run on the same quiet machine, with 30 between 0.98 and 1.03 (README "Deploy").
set -euo pipefail
CKPT=${1:-}
OUT=${2:-work_dirs/deploy_speed}
CONFIG=${CONFIG:-mmseg_configs/dynmm/dynmm_esanet_r34-nbt1d_1xb8-500ep_nyuv2-480x640.py}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-30}
WARMUP=${WARMUP:-2}
PAUSE=${PAUSE:-0.05}
PYTHON=${PYTHON:-python}
# no ImageNet weights or class-weight file needed: the weights are the checkpoint's
OPTS=(--cfg-options model.backbone.init_cfg=None model.decode_head.loss_decode.class_weight=None)
mkdir -p "$OUT"
if [ -z "$CKPT" ]; then
    CKPT="$OUT/initial_weights.pth"
    "$PYTHON" - "$CONFIG" "$CKPT" <<'PY'
import sys

import torch

from dynmm_plugins.apis.model_loading import load_model

config, path = sys.argv[1:]
torch.manual_seed(0)
model, _ = load_model(config, None, {'model.backbone.init_cfg': None,
                                     'model.decode_head.loss_decode.class_weight': None})
for m in model.modules():  # statistics of the inputs, so that activations stay in range
    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
        m.momentum = None
model.train()
with torch.no_grad():
    for k in range(model.num_branches):
        with model.gate_override('fixed', branch=k):
            model._forward(torch.randn(2, 4, 256, 320))
torch.save({'state_dict': model.state_dict()}, path)
print(f'wrote {path} (initial weights, BatchNorm statistics of random inputs)')
PY
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
"$PYTHON" tools/export_onnx.py "$CONFIG" "$CKPT" --out "$OUT/onnx" --shape 480 640 "${OPTS[@]}"
"$PYTHON" tools/benchmark_onnx.py "$OUT/onnx" --threads "$THREADS" --repeats "$REPEATS" \
    --warmup "$WARMUP" --pause "$PAUSE" --config "$CONFIG" --checkpoint "$CKPT" --pytorch-branches --fuse-conv-bn --keep-freed-memory \
    --no-progress --out "$OUT/speed.json" "${OPTS[@]}"
