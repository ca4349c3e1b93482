"""The one device probe (engine.devices): GPUs from the driver's /proc entries without torch, and
the device/precision check that validate, plan and the run share."""
from __future__ import annotations

import dataclasses

import pytest

from engine import devices
from engine.devices import Devices, check_device, gpu_count, gpu_name, set_devices_for_tests
from engine.parallel.summary import plan_summary
from engine.paths import EXAMPLES
from engine.spec import load_spec
from engine.validation import validate


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    for i, model in enumerate(["NVIDIA H200", "NVIDIA A100-SXM4-80GB"]):
        folder = tmp_path / f"0000:0{i}:00.0"
        folder.mkdir()
        (folder / "information").write_text(f"Model: \t\t {model}\nIRQ:   42\n")
    monkeypatch.setattr(devices, "PROC_GPUS", str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)  # as in the GUI process
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path


def test_gpus_come_from_the_driver_without_torch(fake_proc, monkeypatch):
    assert gpu_count() == 2
    assert [gpu_name(0), gpu_name(1), gpu_name(2)] == ["NVIDIA H200", "NVIDIA A100-SXM4-80GB", "GPU"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert gpu_count() == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_count() == 0


def test_no_driver_means_no_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "PROC_GPUS", str(tmp_path / "missing"))
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    assert gpu_count() == 0 and gpu_name(0) == "GPU"


def test_the_app_names_gpus_through_the_engine_probe(fake_proc, monkeypatch):
    from app.services import train_plan

    monkeypatch.setattr("subprocess.run", lambda *a, **k: (_ for _ in ()).throw(OSError("no python")))
    assert train_plan._gpu_properties.__wrapped__(2) == (("NVIDIA H200", 0), ("NVIDIA A100-SXM4-80GB", 0))


@pytest.fixture
def cpu_only():
    set_devices_for_tests(Devices(gpus=0, cpus=2))
    yield
    set_devices_for_tests(None)


def test_fp16_on_a_cpu_only_machine_is_a_problem_in_validate_and_plan(cpu_only):
    spec = load_spec(EXAMPLES / "digits_mlp.toml")
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, precision="fp16", device="auto"))
    problems = validate(spec)
    assert [p.path for p in problems] == ["training.precision"]
    assert "this machine has no CUDA GPU" in problems[0].message and "bf16" in problems[0].message
    assert plan_summary(spec, problems=problems).problems == tuple(problems)
    assert check_device(dataclasses.replace(spec, training=dataclasses.replace(spec.training, precision="bf16"))) == []


def test_cuda_n_beyond_the_gpus_is_named(monkeypatch):
    set_devices_for_tests(Devices(gpus=1, cpus=2))
    try:
        spec = load_spec(EXAMPLES / "digits_mlp.toml")
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, device="cuda:1"))
        assert [str(p) for p in check_device(spec)] == ["training.device: 'cuda:1': this machine has 1 GPU(s) (cuda:0..cuda:0)"]
    finally:
        set_devices_for_tests(None)


def test_a_run_resolves_auto_by_the_same_probe():
    import torch

    from engine.devices import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")  # torch is loaded: torch answers
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"
