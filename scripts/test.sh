#!/usr/bin/env bash
# Set everything up, check the layer contracts, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The import-linter contracts in pyproject.toml (who may import whom): a crossing fails the run here.
# --no-cache: nothing written into the checkout.
.venv/bin/lint-imports --no-cache
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@"
