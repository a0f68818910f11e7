#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU: the CUDA tests (tests/test_cuda.py) and the CUDA
# renderer benchmarks (perf/test_bench_render.py -k cuda). Logs and the benchmark JSON go to
# $OUT (default out/device). Uses the python3 on PATH (it must hold a CUDA build of PyTorch) with
# the repository on PYTHONPATH, so it also runs where the package is not installed.
#   bash scripts/device_check.sh
set -u
PY=${PY:-python3}
OUT=${OUT:-out/device}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; "$PY" -c "import torch, kornia; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'kornia', kornia.__version__)"; } 2>&1 | tee "$OUT/device.txt"
"$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/cuda_tests.log"
tests=${PIPESTATUS[0]}
"$PY" -m pytest -q -p no:cacheprovider perf/test_bench_render.py -k cuda -s --benchmark-only \
    --benchmark-columns=min,mean,max,rounds --benchmark-json "$OUT/cuda_bench.json" 2>&1 | tee "$OUT/cuda_bench.log"
bench=${PIPESTATUS[0]}
echo "tests exit $tests, benchmarks exit $bench"
exit $(( tests || bench ))
