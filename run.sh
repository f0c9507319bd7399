#!/usr/bin/env bash
# The project's two set-up commands (see README):
#   bash run.sh demo   install everything into ./.venv, then run the built-in synthetic demo
#   bash run.sh test   install everything into ./.venv, then run the whole test suite
# Both are idempotent: a second run finds the stamp in .venv and skips the install.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.dynmm-install-stamp"
# The stamp changes whenever the install recipe or the package metadata does.
WANT=$(cat run.sh pyproject.toml | sha256sum | cut -d' ' -f1)

install() {
    [ -x "$PY" ] || python3 -m venv "$VENV"
    local pip=("$PY" -m pip install --quiet --disable-pip-version-check)
    # torch's CPU wheel lies on local disk on these machines; a bare `torch`
    # requirement would pull a multi-GB CUDA build from PyPI.
    [ -d /opt/wheels ] && pip+=(--find-links /opt/wheels)
    # mmcv 2.1.0's setup.py imports pkg_resources (removed in setuptools 81);
    # ninja lets torch's extension builder compile the ops on both cores.
    "${pip[@]}" "pip==26.1.2" "setuptools<81" wheel ninja
    # torch first: mmcv's ops build against it. 2.13.0 is the CPU build on disk.
    "${pip[@]}" torch==2.13.0 "numpy<3" mmengine==0.10.7
    # mmsegmentation 1.2.2 requires mmcv >=2.0.0rc4,<2.2.0 *with compiled ops*
    # (mmcv-lite fails at `import mmseg.models`); PyPI has only the sdist, so it is
    # compiled here once (~20-25 min on 2 cores) and then reused from pip's wheel cache.
    MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" "${pip[@]}" --no-build-isolation mmcv==2.1.0
    # mmseg imports ftfy and regex at import time without declaring them;
    # openmim provides `mim train/test`; the rest are our own dependencies.
    "${pip[@]}" mmsegmentation==1.2.2 ftfy regex openmim h5py scipy tqdm matplotlib pytest
    # openmim pulls openxlab, which pins setuptools 60 (too old for our
    # pyproject.toml and for torch's metadata); its conflict warning is harmless.
    "${pip[@]}" "setuptools>=77.0.3,<81" 2>&1 | grep -v "dependency conflicts\|openxlab\|resolver does not" || true
    "${pip[@]}" --no-build-isolation --no-deps -e .
    echo "$WANT" > "$STAMP"
}

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "[run.sh] installing into $VENV (first run: builds mmcv, ~25 min) ..."
    install
fi

case "${1:-}" in
    demo) shift; exec "$PY" tools/run_demo.py "$@" ;;
    test) shift; exec "$PY" -m pytest tests -q "$@" ;;
    *) echo "usage: bash run.sh {demo|test} [extra args]" >&2; exit 2 ;;
esac
