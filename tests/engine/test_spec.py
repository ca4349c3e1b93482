"""The experiment spec: TOML round trip, overrides, structural errors, unknown keys."""
from __future__ import annotations

import pytest

from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.spec import (
    ExperimentSpec, LayerSpec, TrainingSpec, apply_overrides, check_fixed, load_spec, save_spec,
    section_params,
)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_round_trip_exactly(path, tmp_path):
    spec = load_spec(path)
    out = tmp_path / "again.toml"
    save_spec(spec, out)
    again = load_spec(out)
    assert again == spec
    assert again.to_toml() == spec.to_toml()


def test_nested_layers_round_trip():
    spec = load_spec(EXAMPLES / "resnet_mini.toml")
    residual = spec.model.layers[3]
    assert residual.type == "Residual" and len(residual.layers) == 5
    assert residual.layers[0].params["out_channels"] == 16
    assert ExperimentSpec.from_toml(spec.to_toml()) == spec


def test_disabled_and_named_layers_survive(tmp_path):
    spec = ExperimentSpec().with_layers([LayerSpec("Linear", {"out_features": 4}, name="head", enabled=False)])
    again = ExperimentSpec.from_toml(spec.to_toml())
    assert again.model.layers[0].enabled is False
    assert again.model.layers[0].name == "head"


def test_overrides_are_typed_by_schema():
    spec = load_spec(EXAMPLES / "digits_mlp.toml")
    out = apply_overrides(spec, [
        "training.epochs=3", "optimizer.lr=0.5", "model.layers[1].out_features=32",
        "name=123", "training.compile=true", "parallel.stages=[1, 3]",
    ])
    assert out.training.epochs == 3
    assert out.optimizer.options["lr"] == 0.5
    assert out.model.layers[1].params["out_features"] == 32
    assert out.name == "123"  # a string field stays a string
    assert out.training.compile is True
    assert out.parallel.stages == [1, 3]


def test_scheduler_overrides_are_typed_by_the_schedulers_schema():
    """`--set scheduler.*` is typed by the chosen scheduler's Params (a lookup bug once left it untyped)."""
    from engine.validation import validate

    spec = apply_overrides(load_spec(EXAMPLES / "digits_mlp.toml"), ["scheduler.name=warmup_cosine"])
    out = apply_overrides(spec, ["scheduler.warmup_fraction=0.1"])
    assert out.scheduler.options["warmup_fraction"] == 0.1 and not validate(out)
    whole = apply_overrides(spec, ["scheduler.warmup_fraction=1"]).scheduler.options["warmup_fraction"]
    assert whole == 1.0 and isinstance(whole, float)  # a float option: 1 is read as 1.0, not the integer 1
    too_big = validate(apply_overrides(spec, ["scheduler.warmup_fraction=2"]))
    assert [str(p) for p in too_big] == ["scheduler.warmup_fraction: must be at most 1, got 2"]
    plateau = apply_overrides(spec, ["scheduler.name=plateau", "scheduler.metric=val_accuracy"])
    assert plateau.scheduler.options["metric"] == "val_accuracy" and not validate(plateau)


@pytest.mark.parametrize("assignment, fragment", [
    ("epochs", "key=value"),
    ("model.layers[9].out_features=3", "out of range"),
    ("trainng.epochs=3", "did you mean 'training'"),
])
def test_bad_overrides_name_the_key(assignment, fragment):
    with pytest.raises(SpecError) as err:
        apply_overrides(ExperimentSpec().with_layers([LayerSpec("ReLU")]), [assignment])
    assert fragment in str(err.value)


def test_non_toml_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[data\nsource = 1\n")
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert str(bad) in str(err.value) and "line 2" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")


def test_layer_without_type_names_its_path():
    with pytest.raises(SpecError, match=r"model\.layers\[1\]\.type"):
        ExperimentSpec.from_toml('[model]\nlayers = [{type = "ReLU"}, {out_features = 3}]\n')


def test_unknown_keys_are_kept_and_reported_with_suggestions():
    spec = ExperimentSpec.from_toml('sed = 3\n[training]\nepoch = 5\n')
    problems = {p.path: p.message for p in check_fixed(spec)}
    assert "did you mean 'seed'" in problems["sed"]
    assert "did you mean 'epochs'" in problems["training.epoch"]
    assert "epoch = 5" in spec.to_toml()  # a hand-written file saves back unchanged


def test_fixed_section_types_and_ranges_are_checked():
    spec = ExperimentSpec.from_toml('[training]\nepochs = 0\nprecision = "fp8"\ncompile = "yes"\n')
    paths = {p.path for p in check_fixed(spec)}
    assert {"training.epochs", "training.precision", "training.compile"} <= paths


def test_section_params_expose_the_schema():
    params = {p.name: p for p in section_params(TrainingSpec)}
    assert params["precision"].choices == ("fp32", "bf16", "fp16")
    assert params["epochs"].default == 10 and params["epochs"].min == 1


def test_spec_imports_light_and_lists_strategies_without_torch():
    """The GUI imports the spec before its first paint: no torch, numpy or engine.parallel then;
    the strategy choices load the strategy classes on first use, still without torch."""
    import subprocess
    import sys

    code = ("import sys; import engine.spec as s\n"
            "assert not {'torch', 'numpy', 'engine.parallel', 'engine.data'} & set(sys.modules), sorted(sys.modules)\n"
            "param = next(p for p in s.section_params(s.ParallelSpec) if p.name == 'strategy')\n"
            "assert list(param.choices) == ['none', 'ddp', 'fsdp', 'tensor', 'pipeline'], list(param.choices)\n"
            "assert 'engine.parallel.strategies.pipeline' in sys.modules\n"
            "assert not {'torch', 'numpy'} & set(sys.modules), 'the choices loaded torch or numpy'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_registry_loaded_on_first_use_is_complete_for_every_thread():
    """The GUI validates on a worker thread while the Train page lists the strategies: whichever
    thread loads the registering module, the other sees every entry, never a partial list."""
    import subprocess
    import sys

    code = ("import threading\nfrom engine.spec import STRATEGIES\n"
            "seen = []\nstart = threading.Barrier(8)\n"
            "def look():\n    start.wait()\n    seen.append(tuple(STRATEGIES.names()))\n"
            "threads = [threading.Thread(target=look) for _ in range(8)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "assert set(seen) == {('none', 'ddp', 'fsdp', 'tensor', 'pipeline')}, seen\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
