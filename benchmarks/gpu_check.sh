#!/usr/bin/env bash
# One short GPU check (under 5 minutes): every strategy on a BERT-base-sized backbone in bf16;
# samples/s, peak GPU memory, MFU. Results in benchmarks/results/gpu_check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv || true
HF_HUB_OFFLINE=1 "$PY" benchmarks/gpu_check.py "$@"
