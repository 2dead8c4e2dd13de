#!/usr/bin/env bash
# Runs the benchmarks of issue 4 on a machine with an NVIDIA GPU in under 5 minutes and prints
# ONE JSON object on stdout:
#   {"machine": {...}, "bench_search": {...}, "bench_indexing": {...} | null, "elapsed_s": ...}
# Progress goes to stderr. Nothing in the repo is written; results are copied to $OUT when set.
#
#   bash tests/bench/gpu_check.sh                 # search at N=1000000
#   N=200000 BUDGET_S=200 bash tests/bench/gpu_check.sh
#
# Python: $PYTHON, else the repo's .venv, else python3. Packages it lacks are installed first:
# from wheels in $WHEELS (default: .whl/ in the repo; for machines that reach no package index,
# installed with --no-deps into /tmp/mmx-site), else with pip by name (faiss-gpu-cu12 when
# nvidia-smi sees a GPU, open_clip_torch, ...). Torch is used as found: a GPU machine's image has
# the CUDA build that matches its driver, and replacing it would cost minutes.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd)
N=${N:-1000000}
BUDGET_S=${BUDGET_S:-285}
START=$(date +%s)
WORK=$(mktemp -d /tmp/mmx-gpu-check.XXXXXX)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export MMEXPLORER_DATA_DIR="$WORK/data"

log() { echo "[gpu_check $(($(date +%s) - START))s] $*" >&2; }
left() { echo $((BUDGET_S - ($(date +%s) - START))); }

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -x .venv/bin/python ] && .venv/bin/python -c 'import numpy' 2>/dev/null; then
    PY=$REPO/.venv/bin/python
else
    PY=$(command -v python3 || command -v python)
fi
log "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

has_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    has_gpu=1
    log "$(nvidia-smi -L | head -n 1)"
else
    log "nvidia-smi sees no GPU: the figures will be CPU figures"
fi

# -- packages ------------------------------------------------------------------------------------
# One probe without importing anything heavy (importing torch three times cost 40 s on a loaded box).
probe() {
    "$PY" - <<'PYEOF'
import importlib.util

wanted = {
    "numpy": "numpy", "faiss": "faiss", "torch": "torch", "open_clip": "open_clip_torch",
    "safetensors": "safetensors", "platformdirs": "platformdirs", "PIL": "pillow",
    "pillow_heif": "pillow-heif", "transformers": "transformers",
    "sentence_transformers": "sentence-transformers",
}
print(" ".join(pkg for mod, pkg in wanted.items() if importlib.util.find_spec(mod) is None))
PYEOF
}
read -r -a missing <<<"$(probe)"
if [ ${#missing[@]} -gt 0 ]; then
    log "missing: ${missing[*]}"
    WHEELS=${WHEELS:-$REPO/.whl}
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        SITE=/tmp/mmx-site
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "$WHEELS"/*.whl || log "installing wheels from $WHEELS failed"
        export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    else
        pkgs=()
        for m in "${missing[@]}"; do
            if [ "$m" = faiss ]; then
                if [ $has_gpu = 1 ]; then pkgs+=(faiss-gpu-cu12); else pkgs+=(faiss-cpu); fi
            else
                pkgs+=("$m")
            fi
        done
        # Into the interpreter's own environment, so pip keeps the numpy/torch already there;
        # no retries, so a machine without a package index fails in seconds, not minutes.
        timeout 150 "$PY" -m pip install -q --no-cache-dir --retries 0 --timeout 15 "${pkgs[@]}" \
            || log "pip install ${pkgs[*]} failed"
    fi
    read -r -a missing <<<"$(probe)"
    [ ${#missing[@]} -gt 0 ] && log "still missing: ${missing[*]}"
fi
has_pkg() { [[ " ${missing[*]} " != *" $1 "* ]]; }
if ! has_pkg faiss || ! has_pkg numpy; then
    echo "{\"error\": \"faiss and numpy are needed (missing: ${missing[*]}); carry wheels in .whl/\"}"
    exit 1
fi
faiss_gpus=$("$PY" -c 'import faiss; print(faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0)' 2>/dev/null || echo 0)
log "faiss GPUs: $faiss_gpus; $(left) s of the budget left"

# -- benchmarks ----------------------------------------------------------------------------------
search_args=(--json --n "$N" --workdir "$WORK/search")
has_pkg open_clip_torch && has_pkg torch || search_args+=(--no-e2e)
indexing_present=0
[ -f tests/bench/bench_indexing.py ] && indexing_present=1

# The search benchmark gets up to 170 s when the indexing one must also run, else the budget.
limit=$(($(left) - 10))
[ $indexing_present = 1 ] && [ "$limit" -gt 170 ] && limit=170
log "bench_search ${search_args[*]} (limit ${limit}s)"
timeout "$limit" "$PY" tests/bench/bench_search.py "${search_args[@]}" \
    >"$WORK/search.json" 2>"$WORK/search.log"
search_rc=$?
log "bench_search exit $search_rc"
tail -n 8 "$WORK/search.log" >&2

indexing_rc=-1
if [ $indexing_present = 1 ]; then
    limit=$(($(left) - 5))
    if [ "$limit" -gt 20 ]; then
        log "bench_indexing --json (limit ${limit}s)"
        timeout "$limit" "$PY" tests/bench/bench_indexing.py --json \
            >"$WORK/indexing.json" 2>"$WORK/indexing.log"
        indexing_rc=$?
        log "bench_indexing exit $indexing_rc"
        tail -n 8 "$WORK/indexing.log" >&2
    else
        log "no time left for bench_indexing"
    fi
else
    log "tests/bench/bench_indexing.py is absent: skipped"
fi

# -- one JSON object -----------------------------------------------------------------------------
ELAPSED=$(($(date +%s) - START)) SEARCH_RC=$search_rc INDEXING_RC=$indexing_rc \
    FAISS_GPUS=$faiss_gpus WORK=$WORK "$PY" - <<'PYEOF' | tee "$WORK/gpu_check.json"
import json
import os
import subprocess
from pathlib import Path

work = Path(os.environ["WORK"])


def last_json(path: Path, rc: int):
    if rc == -1:
        return None
    text = path.read_text() if path.exists() else ""
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    reason = "timed out" if rc in (124, 137) else f"exit {rc}"
    return {"error": reason}


machine = {"cpus": os.cpu_count(), "faiss_gpus": int(os.environ["FAISS_GPUS"] or 0)}
try:
    machine["gpu"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout.strip()
except (OSError, subprocess.SubprocessError):
    machine["gpu"] = None
try:
    import torch

    machine["torch"] = torch.__version__
    machine["torch_cuda"] = torch.cuda.is_available()
except ImportError:
    machine["torch"] = None
try:
    import faiss

    machine["faiss"] = getattr(faiss, "__version__", "?")
except ImportError:
    machine["faiss"] = None

print(json.dumps({
    "machine": machine,
    "bench_search": last_json(work / "search.json", int(os.environ["SEARCH_RC"])),
    "bench_indexing": last_json(work / "indexing.json", int(os.environ["INDEXING_RC"])),
    "elapsed_s": int(os.environ["ELAPSED"]),
}))
PYEOF

if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$WORK"/*.json "$WORK"/*.log "$OUT"/ 2>/dev/null || true
fi
rm -rf "$WORK/search" "$WORK/data"
[ $search_rc = 0 ]
