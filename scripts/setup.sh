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
# Chromium (Debian's package) for the test that opens the HTML report in a real headless browser; without it that
# one test is skipped.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1) \
    || echo "setup: could not install chromium; the report's browser test will be skipped"
fi
