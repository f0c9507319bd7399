#!/usr/bin/env bash
# The project's set-up commands (see README):
#   bash run.sh demo           install everything into ./.venv, then run the built-in synthetic demo
#   bash run.sh test           install everything into ./.venv, then run the whole test suite
#   bash run.sh check-install  replay the install recipe in a scratch venv with an empty pip
#                              cache, up to the point where mmcv's sdist is prepared (CI guard)
# demo and test are idempotent: a second run finds the stamp in .venv and skips the install.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${DYNMM_VENV:-.venv}
# One torch for both frameworks: MultiBench imports torchvision, and the only
# torchvision that imports beside a registry torch is its own twin. 2.14.1 and
# 0.29.1 lie on this machine's disk (a CUDA build that also runs on the CPU).
TORCH_REQS=(torch==2.14.1 torchvision==0.29.1)
# mmcv 2.1.0's setup.py imports pkg_resources, which setuptools 81 removed;
# torch's metadata asks for >=77.0.3.
BUILD_SETUPTOOLS="setuptools>=77.0.3,<81"
MMCV_REQ=mmcv==2.1.0

pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
# openmim pulls openxlab, which pins setuptools 60 (too old for our pyproject.toml and
# for torch's metadata); install_rest restores the window, and pip's conflict warning
# about it is noise. pipefail keeps pip's own exit status.
without_setuptools_warning() { { grep -v "dependency conflicts\|requires setuptools\|resolver does not\|openxlab" || true; } >&2; }

install_base() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    pip_install "pip==26.1.2" wheel ninja
    # torch first: mmcv's ops compile against it. Its requirements may move
    # setuptools anywhere (torch 2.13 pulled 84.2.1, which has no pkg_resources).
    pip_install "${TORCH_REQS[@]}" "numpy<3" mmengine==0.10.7
}

# Whatever the steps before pulled in, mmcv's build must see a setuptools with
# pkg_resources at the moment it runs: pin it here, immediately before, and check.
prepare_mmcv_build_env() {
    pip_install "$BUILD_SETUPTOOLS"
    "$VENV/bin/python" -c "import pkg_resources" 2>/dev/null || {
        echo "[run.sh] setuptools in $VENV has no pkg_resources: mmcv's build would fail" >&2
        exit 1
    }
}

# pip's wheel cache keys a built sdist by its URL and the Python version only, so a
# wheel compiled against one torch would be reused beside another (ABI mismatch at
# import). We keep our own wheelhouse, keyed by torch version, inside pip's cache
# directory (so that an empty PIP_CACHE_DIR really is an empty cache).
mmcv_wheelhouse() {
    local cache torch_version
    cache=${PIP_CACHE_DIR:-$("$VENV/bin/python" -m pip cache dir 2>/dev/null)}
    torch_version=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
    echo "$cache/dynmm-wheelhouse/torch-$torch_version"
}

install_mmcv() {
    local house src
    house=$(mmcv_wheelhouse)
    if ! ls "$house"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
        echo "[run.sh] compiling mmcv 2.1.0 with ops against torch (once per machine, ~15-17 min on 2 cores) ..."
        src=$(mktemp -d)
        # Fetching the sdist prepares its metadata (setup.py egg_info): the step that
        # needs pkg_resources, and the one `check-install` replays.
        MMCV_WITH_OPS=1 "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
            --no-deps --no-binary mmcv --no-build-isolation "$MMCV_REQ" -d "$src"
        tar -xzf "$src"/mmcv-2.1.0.tar.gz -C "$src"
        # torch >= 2.10's headers need C++20 ("C++20 or later compatible compiler is
        # required to use ATen"), and mmcv 2.1.0's setup.py hard-codes -std=c++17.
        sed -i "s/'-std=c++17'/'-std=c++20'/g" "$src"/mmcv-2.1.0/setup.py
        grep -q "c++20" "$src"/mmcv-2.1.0/setup.py || { echo "[run.sh] cannot set C++20 in mmcv's setup.py" >&2; exit 1; }
        # mmseg 1.2.2 needs mmcv's compiled ops (mmcv-lite fails at `import mmseg.models`);
        # PyPI has only the sdist. ninja compiles on every core.
        MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" "$VENV/bin/python" -m pip wheel --quiet \
            --disable-pip-version-check --no-deps --no-build-isolation "$src"/mmcv-2.1.0 -w "$house"
        rm -rf "$src"
    fi
    pip_install --find-links "$house" --only-binary mmcv "$MMCV_REQ"
}

install_rest() {
    # mmseg imports ftfy and regex at import time without declaring them; openmim
    # provides `mim train/test`; MultiBench's training structures import scikit-learn
    # and memory_profiler; onnx/onnxruntime are the `deploy` extra.
    pip_install mmsegmentation==1.2.2 ftfy regex openmim h5py scipy tqdm matplotlib pytest \
        scikit-learn memory_profiler onnx==1.23.2 onnxruntime==1.32.0 2>&1 | without_setuptools_warning
    pip_install "$BUILD_SETUPTOOLS" 2>&1 | without_setuptools_warning
    pip_install --no-build-isolation --no-deps -e .
}

# The stamp changes whenever the install recipe or the package metadata does.
STAMP="$VENV/.dynmm-install-stamp"
WANT=$(cat run.sh pyproject.toml | sha256sum | cut -d' ' -f1)

ensure_installed() {
    if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
        echo "[run.sh] installing into $VENV (first run on a machine compiles mmcv, ~15-17 min) ..."
        install_base
        prepare_mmcv_build_env
        install_mmcv
        install_rest
        echo "$WANT" > "$STAMP"
    fi
}

# The CI guard: a new user's machine has never built mmcv, so pip prepares its sdist
# (setup.py egg_info, which imports pkg_resources). Replay the recipe's steps up to
# mmcv in a scratch venv with an empty cache and ask pip to prepare the sdist's
# metadata, without compiling anything.
check_install() {
    local scratch
    scratch=$(mktemp -d)
    # expanded now: the trap runs after this function's locals are gone
    trap "rm -rf '$scratch'" EXIT
    VENV="$scratch/venv"
    export PIP_CACHE_DIR="$scratch/pip-cache"
    echo "[run.sh] check-install: replaying the recipe in $VENV with an empty pip cache ..."
    install_base
    prepare_mmcv_build_env
    MMCV_WITH_OPS=1 "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
        --no-deps --no-binary mmcv --no-build-isolation "$MMCV_REQ" -d "$scratch/sdist"
    echo "[run.sh] check-install: mmcv's sdist prepares with $("$VENV/bin/python" -m pip show setuptools | grep ^Version)"
}

# Tests and tools find MultiBench through MULTIBENCH_ROOT; the shared snapshot stands
# in for a user's clone when none is given.
default_multibench() {
    if [ -z "${MULTIBENCH_ROOT:-}" ] && [ -d ../shared/multibench ]; then
        MULTIBENCH_ROOT=$(cd ../shared/multibench && pwd)
        export MULTIBENCH_ROOT
    fi
}

case "${1:-}" in
    demo) shift; ensure_installed; exec "$VENV/bin/python" tools/run_demo.py "$@" ;;
    # DYNMM_STRICT_TESTS: a test skipped for a missing dependency is a failure here.
    test) shift; ensure_installed; default_multibench
          DYNMM_STRICT_TESTS=1 exec "$VENV/bin/python" -m pytest tests -q -rs "$@" ;;
    check-install) check_install ;;
    *) echo "usage: bash run.sh {demo|test|check-install} [extra args]" >&2; exit 2 ;;
esac
