"""The one device probe: which GPUs and CPU cores this machine has, without importing torch.

The GUI validates on every edit and must stay torch-free, so CUDA devices are counted from the
NVIDIA driver's /proc entries (limited by CUDA_VISIBLE_DEVICES) unless torch is already loaded,
in which case torch is asked. Tests pretend other hardware with :func:`set_devices_for_tests`.
:func:`check_device` is the spec check for `training.device` and `training.precision`.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from engine.problems import Problem

PROC_GPUS = "/proc/driver/nvidia/gpus"


@dataclass(frozen=True)
class Devices:
    """What this machine offers: `gpus` CUDA devices and `cpus` cores."""

    gpus: int
    cpus: int


def _visible(found: int) -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    return min(found, len([v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")]))


def _proc_folders() -> list[str]:
    try:
        return sorted(os.listdir(PROC_GPUS))
    except OSError:
        return []


def gpu_count() -> int:
    """CUDA devices: torch's answer when torch is loaded, else the driver's /proc entries."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception:  # pragma: no cover - broken driver
            return 0
    return _visible(len(_proc_folders()))


def gpu_name(index: int) -> str:
    """The model name the NVIDIA driver reports for GPU `index` ("GPU" when unknown)."""
    folders = _proc_folders()
    if 0 <= index < len(folders):
        try:
            with open(os.path.join(PROC_GPUS, folders[index], "information")) as fh:
                for line in fh:
                    if line.startswith("Model:"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    return "GPU"


def cpu_count() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def _probe() -> Devices:
    return Devices(gpu_count(), cpu_count())


_override: Devices | None = None


def local_devices() -> Devices:
    """GPUs and CPU cores of this machine (probed once; see :func:`set_devices_for_tests`)."""
    return _override or _probe()


def set_devices_for_tests(devices: Devices | None) -> None:
    """Pretend this machine has `devices` (None = probe the real hardware)."""
    global _override
    _override = devices


def uses_gpu(spec) -> bool:
    """True when training runs on CUDA: device cuda*, or auto with a GPU present."""
    device = spec.training.device
    if device.startswith("cuda"):
        return True
    return device == "auto" and local_devices().gpus > 0


def resolve_device(name: str) -> str:
    """The device a run trains on: 'auto' -> 'cuda' when this machine has a GPU (torch's answer
    once torch is loaded, as in a rank), else 'cpu'; other names are returned as given."""
    if name == "auto":
        return "cuda" if gpu_count() > 0 else "cpu"
    return name


def fp16_problem(where: str) -> Problem:
    """fp16 without a GPU; `where` says why there is none (validate, plan and the run say the same)."""
    return Problem("training.precision", f"fp16 needs a CUDA GPU (its gradient scaler does not run on CPU) and {where} "
                                         "— use bf16 or fp32 on CPU")


def check_device(spec) -> list[Problem]:
    """Problems with `training.device` on this machine and the precision it allows."""
    device = spec.training.device
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        return [Problem("training.device", f"must be auto, cpu, cuda or cuda:N; got {device!r}")]
    problems: list[Problem] = []
    if spec.launcher.remote:  # a cluster's nodes run it: their GPUs count (the launcher checks its own request)
        return problems
    gpus = local_devices().gpus
    if device.startswith("cuda") and gpus == 0:
        problems.append(Problem("training.device", f"{device!r} needs a CUDA GPU and none was found — use device = \"cpu\" or \"auto\""))
    elif device.startswith("cuda:") and int(device[5:]) >= gpus:
        problems.append(Problem("training.device", f"{device!r}: this machine has {gpus} GPU(s) (cuda:0..cuda:{gpus - 1})"))
    if spec.training.precision == "fp16" and not uses_gpu(spec):
        problems.append(fp16_problem("training.device is cpu" if device == "cpu" else "this machine has no CUDA GPU"))
    return problems
