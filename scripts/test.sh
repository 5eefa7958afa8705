#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes .venv if needed, installs the project with
# its test extras, runs pytest. `.ci/run` runs exactly this. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: 2.13.0 is the CPU build CI uses; a bare "torch" could pull a multi-GB CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
