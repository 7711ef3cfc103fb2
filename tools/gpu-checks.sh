#!/usr/bin/env bash
# The GPU checks (issue 12, item 6) as one command, on a machine with CUDA and
# robustsk's dependencies (tests need pytest and pytest-timeout):
#
#     bash tools/gpu-checks.sh [OUTDIR]
#
# 1. every CUDA test: tests/test_cuda.py (each defense, attack, certificate and
#    the report on the GPU against the CPU; no host-device synchronisation in
#    the attacks' step loops; no autograd graph kept between steps) and the
#    on-CUDA tests of the other files (pytest -k cuda);
# 2. benchmarks/eval_speed.py on the GPU: PGD-20 on Fashion-MNIST's 10,000 test
#    images through score_adversarial, against torchattacks and a raw loop;
#    then benchmarks/eval_profile.py: where that call's time goes (phases,
#    kernels launched per step, host-device synchronisations);
# 3. benchmarks/gpu.py --quick over every defense (2,048 Fashion-MNIST images);
# 4. benchmarks/gpu.py on Fashion-MNIST's full training set (60,000 images)
#    for AdversarialTraining, TRADES and FriendlyAdversarialTraining.
#
# Each step has its own time limit in seconds (TESTS_S, EVAL_S, PROFILE_S, QUICK_S,
# FULL_S; a defense of the benchmarks is stopped after PER_DEFENSE_S), so one
# slow step cannot starve the others; QUICK_DEFENSES and FULL_DEFENSES (class
# names, space-separated) replace the two benchmarks' lists. Logs and tables go
# to OUTDIR (default gpu-checks/). The exit status is that of the tests.
set -uo pipefail
out=${1:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    "$PY" - <<'EOF'
import importlib
import platform
print("python", platform.python_version())
for name in ("torch", "numpy", "scipy", "sklearn", "skorch", "pandas", "skops", "geomloss",
             "cvxpy"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as err:  # report what is missing, go on
        print(name, "missing:", type(err).__name__, err)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

timeout "${TESTS_S:-240}" "$PY" -m pytest -q -p no:cacheprovider -rsfE --tb=short \
    --durations=15 --timeout=200 --continue-on-collection-errors -k cuda tests \
    2>&1 | tee "$out/cuda_tests.log"
tests=$?

# PGD-20 through score_adversarial against torchattacks (if installed) and a raw loop
timeout "${EVAL_S:-120}" "$PY" benchmarks/eval_speed.py --dataset fashion --device cuda \
    --n-train 5000 --n-test 10000 --epochs 3 --runs 7 --auto-batches 2>&1 \
    | tee "$out/eval_speed.log"
timeout "${PROFILE_S:-90}" "$PY" benchmarks/eval_profile.py --device cuda --n 10000 \
    --batch-size 256 2>&1 | tee "$out/eval_profile.log"

per=${PER_DEFENSE_S:-30}
# shellcheck disable=SC2086  # the lists are meant to split into names
timeout "${QUICK_S:-150}" "$PY" benchmarks/gpu.py --quick --time-limit "$per" \
    ${QUICK_DEFENSES:+--defenses $QUICK_DEFENSES} --output "$out/gpu_cuda_quick.txt" 2>&1 | tee "$out/gpu_quick.log"
timeout "${FULL_S:-150}" "$PY" benchmarks/gpu.py --time-limit "$((per * 2))" \
    --defenses ${FULL_DEFENSES:-AdversarialTraining TRADES FriendlyAdversarialTraining} \
    --output "$out/gpu_cuda_full.txt" 2>&1 | tee "$out/gpu_full.log"
exit "$tests"
