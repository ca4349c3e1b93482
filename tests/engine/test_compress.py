"""Compression (engine/compress): prune (unstructured / structured), quantize (torchao int8),
fine-tune; each result a new run directory linked to its source, re-loadable; bad requests named."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from engine.cli import main as cli
from engine.compress import STEPS, CompressCancelled, compress_run, parse_step
from engine.export import export_run
from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.runs import RunDir, read_status
from engine.session import run_training
from engine.spec import apply_overrides, load_spec
from engine.trained import load_run_model

# one xdist worker for the module, so its module-scoped fixture (the trained digits CNN) is built once
pytestmark = pytest.mark.xdist_group("compress")

pytest.importorskip("torchao")
pytest.importorskip("torch_pruning")


def trained_run(tmp_path: Path, example: str, overrides: list[str]) -> Path:
    """A run of `example` trained in this process with `overrides`; its folder."""
    spec = apply_overrides(load_spec(EXAMPLES / f"{example}.toml"), overrides)
    run = RunDir.create(tmp_path / "runs", spec)
    assert run_training(run).status == "completed"
    return run.path


def test_steps_are_registered_with_schemas():
    assert {"prune", "quantize", "finetune", "qat"} <= set(STEPS.names())
    assert [p.name for p in STEPS.get("prune").params] == ["sparsity", "structured", "scope"]
    request = parse_step("prune:sparsity=0.25,structured=true")
    assert request.options == {"sparsity": 0.25, "structured": True, "scope": "global"}
    assert request.label() == "prune:sparsity=0.25,structured=true,scope=global"


@pytest.mark.parametrize("text, expected", [
    ("prun:sparsity=0.5", "did you mean 'prune'"),
    ("prune:sparsty=0.5", "did you mean 'sparsity'"),
    ("prune:sparsity=2", "sparsity"),
    ("quantize:scheme=int3", "int3"),
    ("prune:0.5", "expected KEY=VALUE"),
    ("quantize:scheme=int8_dynamic,calibration=5", "quantize.calibration: is only used with scheme = int8_static"),
    ("quantize:scheme=int8_weight_only,group_size=64", "quantize.group_size: is only used with scheme = int4_weight_only"),
    ("qat:weights=int8,group_size=64", "qat.group_size: is only used with weights = int4"),
])
def test_bad_requests_are_named(text, expected):
    with pytest.raises(SpecError) as err:
        parse_step(text)
    assert expected in str(err.value)


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("cnn"), "digits_cnn", ["training.epochs=4", "training.log_every=50"])


@pytest.mark.slow
def test_global_prune_and_finetune_keeps_accuracy_and_sparsity(digits_cnn, tmp_path):
    result = compress_run(digits_cnn, ["prune:sparsity=0.5", "finetune:epochs=2"], runs_dir=tmp_path, timed=False)
    assert result.before.val_quality > 0.9
    assert result.after.val_quality >= result.before.val_quality - 0.02
    assert result.after.nonzero <= 0.55 * result.before.nonzero  # fine-tuning kept the pruned weights at zero
    record = json.loads(RunDir(result.run_dir).compress_record.read_text())
    assert record["source"] == str(digits_cnn) and record["steps"][1] == "finetune:epochs=2,lr=0.0"
    assert read_status(result.run_dir)["status"] == "completed"
    reloaded = load_run_model(result.run_dir)  # an ordinary run: it opens like any other
    total, nonzero = sum(p.numel() for p in reloaded.model.parameters()), sum(
        int((p != 0).sum()) for p in reloaded.model.parameters())
    assert (total, nonzero) == (result.after.params, result.after.nonzero)


@pytest.mark.slow
def test_per_layer_prune_prunes_each_layer(digits_cnn, tmp_path):
    result = compress_run(digits_cnn, ["prune:sparsity=0.3,scope=layer"], runs_dir=tmp_path, timed=False)
    model = load_run_model(result.run_dir).model
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            zeros = float((module.weight == 0).float().mean())
            assert 0.29 <= zeros <= 0.31, module


@pytest.mark.slow
def test_structured_prune_of_resnet_shrinks_layers(tmp_path):
    import torch_pruning as tp

    source = trained_run(tmp_path, "resnet_mini", ["training.epochs=1", "training.max_steps=3"])
    result = compress_run(source, ["prune:sparsity=0.5,structured=true,scope=layer"], runs_dir=tmp_path, timed=False)
    assert result.after.params < 0.5 * result.before.params
    before, after = load_run_model(source), load_run_model(result.run_dir)  # the new spec.toml builds the shrunk model
    x = torch.as_tensor(before.data.x_val[:1])
    macs_before, _ = tp.utils.count_ops_and_params(before.model, x)
    macs_after, _ = tp.utils.count_ops_and_params(after.model, x)
    assert macs_after < 0.5 * macs_before  # fewer multiply-adds: the deterministic side of "faster"
    widths = [layer.params.get("out_channels") for layer in after.spec.model.layers if layer.type == "Conv2d"]
    assert widths == [8]
    assert after.model(x).shape == before.model(x).shape


@pytest.mark.slow
def test_structured_prune_of_output_only_model_is_refused(tmp_path):
    source = trained_run(tmp_path, "digits_mlp", ["training.epochs=1", "training.max_steps=2",
                                                  "model.layers=[{type='Flatten'},{type='Linear',out_features=0}]"])
    with pytest.raises(SpecError, match="only its output layer"):
        compress_run(source, ["prune:structured=true"], runs_dir=tmp_path / "out", timed=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # a refused request leaves no run


@pytest.mark.slow
def test_int8_dynamic_quantization_of_bigmodel(tmp_path):
    source = trained_run(tmp_path, "seed_bigmodel", ["training.max_steps=4", "data.samples=640"])
    result = compress_run(source, ["quantize:scheme=int8_dynamic"], runs_dir=tmp_path, timed=False)
    assert result.before.weights_bytes / result.after.weights_bytes >= 3.5
    assert result.after.val_quality >= result.before.val_quality - 0.01
    loaded = load_run_model(result.run_dir)  # safetensors + torchao metadata, no pickle
    assert type(loaded.model[0].weight).__name__ == "Int8Tensor"
    with pytest.raises(SpecError, match="holds quantized weights"):  # named, not a crash in the writer
        export_run(result.run_dir, "bundle", tmp_path / "bundle")
    from engine.export.probe import name_failure

    def refuse(module, x):
        raise RuntimeError("no converter")

    advice = str(name_failure(loaded.model, torch.as_tensor(loaded.data.x_val[:2]), loaded.spec, RuntimeError("no"),
                              refuse, "ONNX"))
    assert "export the run from before its quantization" in advice and "(script and bundle always work)" not in advice
    with pytest.raises(SpecError, match="cannot be fine-tuned"):
        compress_run(result.run_dir, ["finetune:epochs=1"], runs_dir=tmp_path / "again", timed=False)


@pytest.mark.slow
def test_static_int8_and_quantization_aware_training(digits_cnn, tmp_path):
    static = compress_run(digits_cnn, ["quantize:scheme=int8_static,calibration=64"], runs_dir=tmp_path, timed=False)
    assert static.after.weights_bytes < static.before.weights_bytes  # the Linear layers (the convolutions stay float)
    assert static.after.val_quality >= static.before.val_quality - 0.02
    linear = [m for m in load_run_model(static.run_dir).model if hasattr(m, "in_features")][0]
    assert type(linear.weight).__name__ == "Int8Tensor" and float(linear.weight.act_quant_scale) > 0  # calibrated, saved
    texts: list[str] = []
    qat = compress_run(digits_cnn, ["qat:epochs=1"], runs_dir=tmp_path, timed=False,  # fake-quantized training, converted
                       progress=lambda fraction, text: texts.append(text))
    assert qat.notes[0] == "qat: 23 steps, 1 epochs" and qat.quantized == "qat_int8"
    assert "quantization-aware training: epoch 1/1 done" in texts, texts
    assert qat.after.weights_bytes < qat.before.weights_bytes and qat.after.val_quality >= qat.before.val_quality - 0.02
    linear = [m for m in load_run_model(qat.run_dir).model if hasattr(m, "in_features")][0]
    assert type(linear.weight).__name__ == "IntxUnpackedToInt8Tensor"
    with pytest.raises(SpecError, match="qat.group_size: 48 does not divide the input size 512"):
        compress_run(digits_cnn, ["qat:weights=int4,group_size=48"], runs_dir=tmp_path / "odd", timed=False)


def test_a_missing_compress_extra_is_named_with_its_install_line(digits_cnn, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)  # as if not installed: importing it fails
    with pytest.raises(SpecError, match=r"--step 1 quantize: needs torchao, which is not installed — "
                                        r"pip install 'netwright\[compress\]'"):
        compress_run(digits_cnn, ["quantize"], runs_dir=tmp_path, timed=False)
    assert not any(tmp_path.iterdir())  # the half-made run is removed
    monkeypatch.undo()  # torchao back
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)  # another torchao, without that part
    with pytest.raises(SpecError, match=r"the installed torchao has no torchao.quantization"):
        compress_run(digits_cnn, ["quantize"], runs_dir=tmp_path, timed=False)


@pytest.mark.slow
def test_unsupported_scheme_is_named(digits_cnn, tmp_path):
    try:
        compress_run(digits_cnn, ["quantize:scheme=int4_weight_only"], runs_dir=tmp_path, timed=False)
    except SpecError as err:
        assert "quantize.scheme: int4_weight_only is not supported" in str(err)
    else:  # a build that supports it: the run is written and loads
        assert load_run_model(next(tmp_path.iterdir())).model is not None


@pytest.mark.slow
def test_cli_prints_table_and_writes_run(digits_cnn, tmp_path, capsys):
    code = cli(["compress", str(digits_cnn), "--step", "prune:sparsity=0.5", "--step", "quantize",
                "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "weights file (bytes)" in out and "val_accuracy" in out
    record = json.loads(out.strip().splitlines()[-1])
    assert record["status"] == "compressed" and Path(record["run_dir"]).parent == tmp_path
    assert cli(["compress", str(digits_cnn), "--step", "quantise"]) == 2
    assert "did you mean 'quantize'" in capsys.readouterr().out


@pytest.mark.slow
def test_cancel_between_steps_and_while_finetuning_keeps_no_run(digits_cnn, tmp_path):
    with pytest.raises(CompressCancelled):
        compress_run(digits_cnn, ["prune:sparsity=0.5"], runs_dir=tmp_path / "a", timed=False, cancelled=lambda: True)
    texts: list[str] = []
    with pytest.raises(CompressCancelled, match="cancelled while training"):  # the trainer stops at its next step
        compress_run(digits_cnn, ["prune:sparsity=0.5", "finetune:epochs=5"], runs_dir=tmp_path / "b", timed=False,
                     progress=lambda fraction, text: texts.append(text),
                     cancelled=lambda: any(t.startswith("step 2/2") for t in texts))
    assert not any((tmp_path / "a").iterdir()) and not any((tmp_path / "b").iterdir())
    assert not any(t.startswith("fine-tuning: epoch") for t in texts)  # stopped within the first epoch


def test_latency_is_timed_on_one_thread_and_the_setting_restored(monkeypatch):
    from engine.compress import measure

    seen = []
    model = torch.nn.Linear(4, 2)
    real = model.forward
    monkeypatch.setattr(model, "forward", lambda x: (seen.append(torch.get_num_threads()), real(x))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert measure.latency_ms(model, torch.zeros(3, 4), repeats=4) > 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [measure.LATENCY_THREADS] * (measure.WARMUP + 4)
