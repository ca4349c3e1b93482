"""Export (engine/export): each example trained a few steps, exported to ONNX and torch.export,
reloaded in ONNX Runtime / torch.export.load and compared on validation samples; the script
export's train.py retraces the run's per-step losses; a layer that cannot export is named."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main as cli
from engine.export import FORMATS, export_run, read_records
from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.runs import RunDir, read_events
from engine.session import run_training
from engine.spec import apply_overrides, load_spec
from engine.trained import load_run_model

SHORT = ["training.epochs=1", "training.max_steps=2", "training.log_every=1"]


def trained_run(tmp_path: Path, example: str, extra: list[str] = ()) -> Path:
    """A run of `example` trained a couple of steps in this process; its folder."""
    spec = apply_overrides(load_spec(EXAMPLES / f"{example}.toml"), [*SHORT, *extra])
    run = RunDir.create(tmp_path / "runs", spec)
    assert run_training(run).status == "completed"
    return run.path


def val_inputs(run_dir: Path, n: int = 5) -> tuple[torch.nn.Module, torch.Tensor]:
    loaded = load_run_model(run_dir)
    return loaded.model, torch.as_tensor(loaded.data.x_val[:n])


def check_reloads(run_dir: Path, tmp_path: Path) -> None:
    """ONNX and .pt2 exports of the run reload and agree with the PyTorch model (also for a batch
    size the export was not traced with)."""
    import onnxruntime as ort

    onnx_record = export_run(run_dir, "onnx", tmp_path / "model.onnx")
    pt2_record = export_run(run_dir, "torch_export", tmp_path / "model.pt2")
    for record in (onnx_record, pt2_record):
        assert record.passed and record.max_abs_diff <= record.tolerance, record
        assert record.samples >= 2 and record.seconds > 0
    assert "exporter" in onnx_record.method and "opset 18" in onnx_record.method
    model, x = val_inputs(run_dir)
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["output"]
    assert session.get_inputs()[0].shape[0] == "batch"  # a dynamic batch dimension
    got = session.run(None, {"input": x.numpy()})[0]
    assert np.abs(got - expected).max() <= onnx_record.tolerance
    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    with torch.no_grad():
        assert np.abs(program(x).numpy() - expected).max() <= pt2_record.tolerance
    records = {r["format"]: r for r in read_records(run_dir)}
    assert set(records) == {"onnx", "torch_export"}
    assert records["onnx"]["file"] == str(tmp_path / "model.onnx")
    assert records["onnx"]["max_abs_diff"] == onnx_record.max_abs_diff


def test_digits_mlp_exports_to_onnx_and_pt2(tmp_path):
    run_dir = trained_run(tmp_path, "digits_mlp")
    check_reloads(run_dir, tmp_path)
    record = export_run(run_dir, "onnx", tmp_path / "ts.onnx", options={"exporter": "torchscript", "opset": 17})
    assert record.passed and record.method.startswith("TorchScript-based exporter, opset 17")


@pytest.mark.slow
@pytest.mark.parametrize("example", ["digits_cnn", "resnet_mini", "tiny_gpt"])
def test_examples_export_to_onnx_and_pt2(tmp_path, example):
    extra = ["data.seq_len=16", "model.layers[1].max_len=16"] if example == "tiny_gpt" else []
    check_reloads(trained_run(tmp_path, example, extra), tmp_path)


def test_cli_export_bundle_and_listing(tmp_path, capsys):
    run_dir = trained_run(tmp_path, "wine_mlp")
    assert cli(["export", str(run_dir), "--format", "bundle"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "exported" and result["max_abs_diff"] == 0.0
    folder = Path(result["file"])
    assert folder == run_dir / "exports" / "wine_mlp-bundle"
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "spec.toml", "MODEL_CARD.md"}
    card = (folder / "MODEL_CARD.md").read_text()
    assert "source `wine`" in card and "netwright train spec.toml" in card and "val_loss" in card
    assert load_spec(folder / "spec.toml") == load_spec(run_dir / "spec.toml")
    assert [r["format"] for r in read_records(run_dir)] == ["bundle"]
    assert cli(["runs", "--runs-dir", str(run_dir.parent), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["exports"] == [{"format": "bundle", "file": str(folder), "max_abs_diff": 0.0, "passed": True}]


def test_cli_bad_format_and_option_are_named(tmp_path, capsys):
    run_dir = trained_run(tmp_path, "wine_mlp")
    assert cli(["export", str(run_dir), "--format", "onnxx"]) == 2
    assert "did you mean 'onnx'" in capsys.readouterr().err
    assert cli(["export", str(run_dir), "--format", "onnx", "--option", "opset=3"]) == 2
    assert "export.opset" in capsys.readouterr().err
    assert cli(["export", str(tmp_path / "nowhere"), "--format", "onnx"]) == 2
    assert "run directory not found" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert cli(["export", str(run_dir), "--format", "bundle", "--out", str(tmp_path / "a_file" / "bundle")]) == 2
    assert f"{tmp_path / 'a_file' / 'bundle'}" in capsys.readouterr().err
    assert cli(["export", str(run_dir), "--format", "script", "--out", str(tmp_path / "a_file")]) == 2
    assert "is a file; script writes a folder" in capsys.readouterr().err


def test_export_refuses_a_run_another_process_owns(tmp_path, capsys):
    """export.json is a write into the run: while another process owns the run (training it),
    export is refused with that process named, and writes nothing."""
    from tests.engine.test_run_ownership import _end, _owner

    run_dir = trained_run(tmp_path, "wine_mlp")
    proc = _owner(RunDir(run_dir))
    try:
        assert cli(["export", str(run_dir), "--format", "bundle"]) == 2
        assert f"is in use by process {proc.pid}" in capsys.readouterr().err
    finally:
        _end(proc)
    assert read_records(run_dir) == [] and not (run_dir / "exports").exists()


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    run_dir = trained_run(tmp_path, "wine_mlp")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert cli(["export", str(run_dir), "--format", "onnx"]) == 2
    assert "onnx needs onnxruntime — pip install 'netwright[export]'" in capsys.readouterr().err


def test_formats_listed_with_their_options(capsys):
    assert {"onnx", "torch_export", "script", "bundle"} <= set(FORMATS.names())
    assert cli(["export", "--list-formats"]) == 0
    out = capsys.readouterr().out
    assert "opset = 18" in out and "exporter = 'auto' (auto|dynamo|torchscript)" in out


# ----------------------------------------------------------------------------- script


def run_without_netwright(folder: Path, script: str) -> subprocess.CompletedProcess:
    """Run a script in `folder` with Netwright's packages made unimportable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import runpy, sys; sys.path.insert(0, '.'); "
            "sys.modules.update(engine=None, app=None, netwright=None); "
            f"runpy.run_path({script!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-E", "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def test_script_export_trains_with_the_runs_losses(tmp_path):
    """train.py of the script export, run with only torch + scikit-learn (no Netwright on the
    path), prints the same loss at each of the first 20 steps as the Netwright run."""
    run_dir = trained_run(tmp_path, "digits_cnn", ["training.max_steps=20"])
    folder = tmp_path / "project"
    record = export_run(run_dir, "script", folder)
    assert record.passed and record.max_abs_diff == 0.0
    assert {p.name for p in folder.iterdir()} == {"model.py", "train.py", "weights.safetensors", "README.md"}
    source = (folder / "model.py").read_text()
    assert "class DigitsCnn(nn.Module)" in source and "self.conv2d_1 = nn.Conv2d(1, 16" in source
    assert "x = self.linear_2(x)" in source and "engine" not in source and "pickle" not in source
    done = run_without_netwright(folder, "train.py")
    assert done.returncode == 0, done.stderr
    script = [float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step ")]
    events, _ = read_events(run_dir / "events.jsonl")
    netwright = [e["train_loss"] for e in events if e["type"] == "metric"]
    assert len(netwright) == 20
    assert script == netwright


def test_script_export_batches_a_lone_last_sample_as_netwright_does(tmp_path):
    """1,438 training digits at batch 479 leave one sample over: it joins the last batch (3 steps
    an epoch, not 4), in train.py as in the run."""
    run_dir = trained_run(tmp_path, "digits_mlp", ["data.batch_size=479", "training.epochs=2", "training.max_steps=0"])
    folder = tmp_path / "project"
    assert export_run(run_dir, "script", folder).passed
    done = run_without_netwright(folder, "train.py")
    assert done.returncode == 0, done.stderr
    script = [float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step ")]
    events, _ = read_events(run_dir / "events.jsonl")
    assert script == [e["train_loss"] for e in events if e["type"] == "metric"] and len(script) == 6


def test_script_export_refuses_a_distilled_run_naming_the_teacher():
    """train.py writes the task loss only: a run trained from a teacher's soft labels would be
    retraced wrongly, so the script format refuses it and names [distill] teacher."""
    from engine.export.base import ExportError
    from engine.export.script.train_code import train_source

    spec = apply_overrides(load_spec(EXAMPLES / "digits_mlp.toml"), ["distill.teacher=runs/teacher"])
    with pytest.raises(ExportError) as err:
        train_source(spec, None, "DigitsMlp", "run-1")
    assert err.value.problems[0].path == "distill.teacher" and "onnx" in err.value.problems[0].message


def test_script_export_writes_nested_blocks_as_code(tmp_path):
    """Residual blocks become a small class around their nested stack; the weights load and the
    seeded initial weights equal Netwright's (checked by the format itself)."""
    run_dir = trained_run(tmp_path, "resnet_mini", ["training.max_steps=3"])
    record = export_run(run_dir, "script", tmp_path / "project")
    assert record.passed
    source = (tmp_path / "project" / "model.py").read_text()
    assert "class Residual(nn.Module)" in source and "self.residual_2 = Residual(" in source
    assert "skip=nn.Conv2d(16, 32, kernel_size=(1, 1), stride=(2, 2), bias=False)" in source
    assert "def lr_factor(t: int, plan)" in (tmp_path / "project" / "train.py").read_text()  # the cosine schedule
    done = run_without_netwright(tmp_path / "project", "train.py")
    assert done.returncode == 0, done.stderr
    events, _ = read_events(run_dir / "events.jsonl")
    assert [float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step ")] == [
        e["train_loss"] for e in events if e["type"] == "metric"]


def test_script_export_retraces_accumulation_l1_l2_decay_and_plateau(tmp_path):
    """The options the script must write out as code: gradient accumulation (a partial last group),
    an L1 penalty, coupled (l2) weight decay, the plateau schedule, two epochs."""
    run_dir = trained_run(tmp_path, "wine_mlp", [
        "training.epochs=2", "training.max_steps=0", "data.batch_size=16", "training.grad_accumulation=3",
        "regularization.l1=0.001", "regularization.weight_decay_mode=l2", "optimizer.weight_decay=0.01",
        "scheduler.name=plateau", "scheduler.patience=0"])
    assert export_run(run_dir, "script", tmp_path / "wine").passed
    train_py = (tmp_path / "wine" / "train.py").read_text()
    assert "ReduceLROnPlateau" in train_py and "scheduler.step(val_loss)" in train_py
    done = run_without_netwright(tmp_path / "wine", "train.py")
    assert done.returncode == 0, done.stderr
    events, _ = read_events(run_dir / "events.jsonl")
    netwright = [e["train_loss"] for e in events if e["type"] == "metric"]
    assert len(netwright) == 6  # 142 samples: 9 batches of 16, 3 steps an epoch
    assert [float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step ")] == netwright


@pytest.mark.slow
def test_script_export_of_tiny_gpt_retraces_the_run(tmp_path):
    """Text data (saved as data.npz), TransformerBlocks copied as source, warm-up cosine schedule,
    gradient clipping and AdamW's decoupled weight decay: the same per-step losses."""
    run_dir = trained_run(tmp_path, "tiny_gpt", ["data.seq_len=16", "model.layers[1].max_len=16",
                                                 "training.max_steps=4"])
    assert export_run(run_dir, "script", tmp_path / "gpt").passed
    assert (tmp_path / "gpt" / "data.npz").is_file()
    assert "class TransformerBlock(nn.Module)" in (tmp_path / "gpt" / "model.py").read_text()
    done = run_without_netwright(tmp_path / "gpt", "train.py")
    assert done.returncode == 0, done.stderr
    events, _ = read_events(run_dir / "events.jsonl")
    assert [float(line.split()[3]) for line in done.stdout.splitlines() if line.startswith("step ")] == [
        e["train_loss"] for e in events if e["type"] == "metric"]


# ----------------------------------------------------------------------------- not exportable


class DataDependent(torch.nn.Module):
    """Negates the batch when its mean is negative: Python control flow on tensor values."""

    def forward(self, x):
        if x.mean() < 0:
            return -x
        return x


@pytest.fixture
def data_dependent_layer():
    from engine.layers import LAYERS
    from engine.layers.base import layer, same

    layer("DataDependent", "Activation", "test layer with data-dependent control flow",
          builder=lambda c, children: DataDependent())(same)
    yield
    LAYERS.remove("DataDependent")


def test_non_exportable_layer_is_named(tmp_path, data_dependent_layer, capsys):
    run_dir = trained_run(tmp_path, "wine_mlp", ["model.layers[1].type=DataDependent"])
    with pytest.raises(SpecError) as err:
        export_run(run_dir, "torch_export", tmp_path / "m.pt2")
    message = str(err.value)
    assert message.startswith("model.layers[1]: layer datadependent_1 (DataDependent) cannot be exported to torch.export")
    assert cli(["export", str(run_dir), "--format", "onnx", "--option", "exporter=dynamo"]) == 2
    assert "model.layers[1]: layer datadependent_1 (DataDependent) cannot be exported to ONNX" in capsys.readouterr().err
    with pytest.raises(SpecError, match=r"datadependent_1: is a tests\.engine\.test_export\.DataDependent"):
        export_run(run_dir, "script", tmp_path / "project")
    assert read_records(run_dir) == []
