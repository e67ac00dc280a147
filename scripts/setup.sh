#!/usr/bin/env bash
# Creates .venv and installs cnnkit with its dev extra (the Keras + TensorFlow oracle for tests and benchmarks).
# torch is pinned to 2.13.0: the CPU build; an unpinned torch would pull several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[dev]"
