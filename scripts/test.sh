#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes .venv if needed, installs the project with
# its test extras, the browsers and drivers of the extension's tests, runs pytest; then the
# tests that need torchvision in a second environment (.venv-torchvision, see below).
# `.ci/run` runs exactly this. Exits non-zero when a test fails. With arguments, runs only
# the first pytest, with them (for example one test file).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and pinned: 2.13.0 is the CPU build CI uses; a bare "torch" could pull a multi-GB CUDA build.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
# The extension's browser tests: Debian's chromium and firefox-esr (no browser is ever
# downloaded by a driver), and the drivers from npm at the versions package-lock.json pins.
# Only what is missing: a machine whose Node.js comes from NodeSource has npm inside it, and
# Debian's npm package conflicts with that nodejs.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v firefox-esr >/dev/null || missing+=(firefox-esr)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# npm ci again whenever package-lock.json is newer than what it installed last
[ tests/extension/node_modules/.package-lock.json -nt tests/extension/package-lock.json ] \
  || PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/extension --no-audit --no-fund --loglevel=error
export IMAGEPROTECTOR_REQUIRE_BROWSERS=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
fi
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider || status=$?
# Phi-4-multimodal's real image processor needs torchvision, and torchvision has no release
# that imports beside torch 2.13.0's CPU build. Its parity tests run again in a second
# environment, torch 2.14.1 with torchvision 0.29.1 (a CUDA build of about 5.6 GB; it runs
# on the CPU here), where a missing torchvision fails instead of skipping.
[ -x .venv-torchvision/bin/python ] || "$PYTHON" -m venv .venv-torchvision
.venv-torchvision/bin/pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
.venv-torchvision/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
IMAGEPROTECTOR_REQUIRE_TORCHVISION=1 .venv-torchvision/bin/python -m pytest -q -p no:cacheprovider \
  tests/models/test_phi4_multimodal.py || status=$?
exit $status
