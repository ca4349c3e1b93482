"""A relative `data.path` in a spec file is read against the spec file's folder (not the current
one); the run directory's spec.toml keeps the absolute path; a missing file names the folder."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli import main
from engine.runs import RunDir
from engine.spec import ExperimentSpec, load_spec, resolve_data_path

CSV = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(40))
SPEC = """name = "rel"
[data]
source = "csv"
path = "{path}"
target = "label"
batch_size = 8
[model]
layers = [{{type = "Linear", out_features = 0}}]
[training]
epochs = 1
"""


def _project(root: Path, data_path: str = "data/table.csv") -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "table.csv").write_text(CSV, encoding="utf-8")
    spec = root / "spec.toml"
    spec.write_text(SPEC.format(path=data_path), encoding="utf-8")
    return spec


def test_load_spec_resolves_against_the_spec_folder(tmp_path, monkeypatch):
    spec_file = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    assert load_spec(spec_file).data.options["path"] == str(tmp_path / "project" / "data" / "table.csv")


def test_absolute_home_and_empty_paths_are_kept(tmp_path):
    for raw in (str(tmp_path / "x.csv"), "~/x.csv", ""):
        spec = ExperimentSpec.from_dict({"data": {"source": "csv", "path": raw}})
        assert resolve_data_path(spec, tmp_path).data.options["path"] == raw
    digits = ExperimentSpec()
    assert resolve_data_path(digits, tmp_path) is digits


def test_train_from_another_folder_and_the_run_keeps_the_absolute_path(tmp_path, monkeypatch, capsys):
    spec_file = _project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", str(spec_file), "--quiet", "--runs-dir", str(tmp_path / "runs")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "completed"
    kept = RunDir.open(summary["run_dir"]).spec_path.read_text(encoding="utf-8")
    assert f'path = "{tmp_path / "project" / "data" / "table.csv"}"' in kept


def test_a_set_path_is_relative_to_the_current_folder(tmp_path, monkeypatch, capsys):
    spec_file = _project(tmp_path / "project", "nowhere.csv")
    monkeypatch.chdir(tmp_path / "project" / "data")
    assert main(["validate", str(spec_file), "--set", "data.path=table.csv"]) == 0, capsys.readouterr().err


def test_a_missing_file_names_the_folder_searched(tmp_path, monkeypatch, capsys):
    spec_file = _project(tmp_path / "project", "tabel.csv")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert f"data.path: file not found: {tmp_path / 'project' / 'tabel.csv'}" in err


def test_a_relative_path_typed_in_the_app_names_the_current_folder(tmp_path, monkeypatch):
    from engine.data import describe_data
    from engine.problems import SpecError

    monkeypatch.chdir(tmp_path)
    spec = ExperimentSpec.from_dict({"data": {"source": "csv", "path": "missing.csv", "target": "label"}})
    try:
        describe_data(spec.data)
    except SpecError as err:
        assert f"file not found: missing.csv (looked in {tmp_path})" in str(err)
    else:
        raise AssertionError("a missing file must be a problem")
