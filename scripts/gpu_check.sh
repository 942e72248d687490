#!/usr/bin/env bash
# GPU readiness in one command, on a CUDA machine:
#   1. tests/test_gpu.py, required to run (a machine without a usable GPU fails here, loudly, instead of skipping);
#   2. configs/gru.yaml and configs/lstm.yaml fitted with --accelerator gpu in 32-true, bf16-mixed and 16-mixed
#      (seconds per epoch, test accuracy);
#   3. the GPU benchmark (Lightning vs a plain PyTorch loop, cuDNN packed vs masked batches);
# and writes all of it to docs/results/gpu.md (or the path given as $1). About 5 minutes on an H100.
#
#   bash scripts/gpu_check.sh                   # LIGHTNING_SEQ_DATA must point at the Reuters files
#   GPU_CHECK_SMOKE=1 bash scripts/gpu_check.sh /tmp/gpu.md   # the same steps on CPU with a few batches each,
#                                                             # to check the script itself without a GPU
# Python packages the machine lacks are installed from .whl/ if present. For the lent GPU machines (Python 3.12,
# torch and lightning there, no jsonargparse, no internet), prepare on this side:
#   mkdir -p .data && cp ../shared/data/reuters.npz ../shared/data/reuters_word_index.json .data/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       jsonargparse==4.53.0 docstring-parser typeshed-client
# and run there, carrying .whl and .data:  LIGHTNING_SEQ_DATA=.data bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT=${1:-docs/results/gpu.md}
SMOKE=${GPU_CHECK_SMOKE:-0}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if ! python3 -c "import jsonargparse, docstring_parser" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_check_site .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/gpu_check_site"
fi

if [ "$SMOKE" = 1 ]; then
    ACCELERATOR=cpu PRECISIONS="32-true bf16-mixed" LIMITS="--trainer.limit_train_batches 3 --trainer.limit_val_batches 2 --trainer.limit_test_batches 2 --trainer.max_epochs 2"
    BENCH_LIMITS="--max_batches 8 --warmup 2 --repeats 1 --cells gru --directions uni"
else
    python3 -c "import torch, sys; torch.cuda.is_available() or sys.exit('error: no CUDA device is visible to torch ' + torch.__version__ + '; scripts/gpu_check.sh needs a GPU (GPU_CHECK_SMOKE=1 checks the script on CPU)')"
    ACCELERATOR=gpu PRECISIONS="32-true bf16-mixed 16-mixed" LIMITS="" BENCH_LIMITS="--repeats 3 --cells gru lstm"
fi
: "${LIGHTNING_SEQ_DATA:?set LIGHTNING_SEQ_DATA to the directory holding reuters.npz and reuters_word_index.json}"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

echo "== 1/3 tests/test_gpu.py"
if [ "$SMOKE" = 1 ]; then
    TESTS_CMD=(python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py)
else
    TESTS_CMD=(env LIGHTNING_SEQ_REQUIRE_GPU=1 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py)
fi
"${TESTS_CMD[@]}" 2>&1 | tee "$WORK/tests.log" || FAILED=1

echo "== 2/3 fits: gru, lstm x ($PRECISIONS) on $ACCELERATOR"
for config in gru lstm; do
    for precision in $PRECISIONS; do
        name="$config-$precision"
        # shellcheck disable=SC2086
        if ! python3 scripts/fit.py --config "configs/$config.yaml" --accelerator "$ACCELERATOR" --devices 1 \
            --precision "$precision" --trainer.enable_progress_bar false $LIMITS \
            --trainer.logger.init_args.save_dir "$WORK/runs" --trainer.logger.init_args.name "$name" \
            >"$WORK/$name.log" 2>&1; then
            echo "FAILED: $name (last lines below)"; tail -5 "$WORK/$name.log"; FAILED=1
        fi
    done
done

echo "== 3/3 benchmark: Lightning vs plain, pack vs mask"
for strategy in pack mask; do
    # shellcheck disable=SC2086
    python3 scripts/benchmark.py --accelerator "$ACCELERATOR" --variable_length "$strategy" $BENCH_LIMITS \
        --json "$WORK/bench-$strategy.json" >"$WORK/bench-$strategy.log" 2>&1 || { tail -5 "$WORK/bench-$strategy.log"; FAILED=1; }
done

python3 - "$WORK" "$REPORT" "$FAILED" "$SMOKE" <<'PY'
"""Collect what the three steps left in the work directory into one Markdown report."""
import json, platform, re, subprocess, sys
from pathlib import Path

import torch

from lightning_seq.experiments.benchmark import Measurement, table

work, report, failed, smoke = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
cudnn = torch.backends.cudnn.version() if torch.cuda.is_available() else None
tests = (work / "tests.log").read_text().strip().splitlines()
lines = [
    "# GPU check" + (" (CPU smoke run of the script, not GPU results)" if smoke else ""),
    "",
    f"`bash scripts/gpu_check.sh` on {device}; torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {cudnn}.",
    "",
    "## tests/test_gpu.py",
    "",
    f"`{tests[-1] if tests else 'no output'}`",
    "",
    "## Fits (`scripts/fit.py --config configs/<cell>.yaml --accelerator gpu --precision <p>`)",
    "",
    "| config | precision | epochs | s/epoch | best val acc | test acc | test macro-F1 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for run in sorted((work / "runs").glob("*/version_0")):
    config, precision = run.parent.name.split("-", 1)
    summary_file = run / "run_summary.json"
    if not summary_file.exists():
        lines.append(f"| {config} | {precision} | failed | | | | |")
        continue
    s = json.loads(summary_file.read_text())
    lines.append(
        f"| {config} | {precision} | {s['epochs']} | {s['seconds_per_epoch']:.2f} | {s['best_val_acc']:.4f} "
        f"| {s['test']['test/acc']:.4f} | {s['test']['test/f1_macro']:.4f} |"
    )
for strategy in ("pack", "mask"):
    path = work / f"bench-{strategy}.json"
    lines += ["", f"## Benchmark, `--variable_length {strategy}` (samples/s, fastest of the repeats)", ""]
    if path.exists():
        results = [Measurement(**m) for m in json.loads(path.read_text())["results"]]
        lines.append(table(results))
    else:
        lines.append("failed (see the script's output)")
lines += ["", "Status: " + ("FAILED: a step above failed" if failed else "all steps passed"), ""]
report.parent.mkdir(parents=True, exist_ok=True)
report.write_text("\n".join(lines))
print(f"Written to {report}")
PY

if [ "$FAILED" != 0 ]; then
    echo "error: the GPU check failed; see the output above and $REPORT" >&2
    exit 1
fi
echo "GPU check passed: $REPORT"
