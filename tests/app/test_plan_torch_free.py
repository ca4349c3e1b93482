"""The Train page's plan never imports torch in the GUI process, even on a machine with GPUs
(their names and memory come from a short-lived subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from engine.devices import Devices, set_devices_for_tests
from app.services import train_plan
from tests.engine.parallel.runner import tiny_spec

set_devices_for_tests(Devices(gpus=2, cpus=4))  # as if this machine had two GPUs
calls = []
original = train_plan._gpu_properties.__wrapped__
train_plan._gpu_properties = lambda n: calls.append(n) or original(n)
spec = tiny_spec(parallel={"strategy": "ddp", "processes": 2})
result = train_plan.compute_plan(spec)
print(json.dumps({"torch": "torch" in sys.modules, "calls": calls, "steps": result.steps_per_epoch,
                  "devices": [[d.kind, d.name] for d in result.devices]}))
"""


def test_plan_with_gpus_keeps_torch_out_of_the_gui_process():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["torch"] is False
    assert out["calls"] == [2]
    kinds = [kind for kind, _ in out["devices"]]
    assert kinds == ["cpu", "cuda", "cuda"]  # real names from torch where there are GPUs, else the driver's or "GPU"
    assert out["devices"][1][1].startswith("cuda:0 ") and out["devices"][2][1].startswith("cuda:1 ")
    assert out["steps"] == 480 // 2 // 16  # 640 samples, val 0.25 -> 480 train; ddp floor split, batch 16
