#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (under 5 minutes): the GPU-marked tests (single GPU,
# NCCL, bf16 autocast, DDP/FSDP with 1 rank; 2-rank strategies when 2 GPUs are present) and the
# overhead benchmarks on the GPU, printing their ratios.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, in the project's environment
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

python - <<'PY' || exit 2
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible to torch (install a CUDA build of torch)"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
      + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
PY

GPUS=$(python -c "import torch; print(torch.cuda.device_count())")
PROCS=$(( GPUS >= 2 ? 2 : 1 ))

echo "== GPU-marked tests"
timeout 240 python -m pytest -m gpu -q -p no:cacheprovider tests/ || status=1

echo "== trainer overhead on GPU (ours / plain loop)"
timeout 120 python benchmarks/overhead.py --device cuda --reps 3 || status=1

echo "== DDP overhead on GPU, $PROCS rank(s) over NCCL (ours / hand-written DDP loop)"
timeout 150 python benchmarks/parallel.py --device cuda --processes "$PROCS" --rounds 2 --steps 200 --skip-pipeline || status=1

exit $status
