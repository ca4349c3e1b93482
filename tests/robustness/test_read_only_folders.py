"""A runs folder or explain output folder that cannot be written is named, exit code 2 (a
read-only tmpfs when the tests run as root and may mount, else a folder without write permission)."""
from __future__ import annotations

import os
import subprocess

import pytest

from engine.cli import main
from tests.robustness.corpus import GOOD


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True).returncode != 0:
            pytest.skip("root, but cannot mount a read-only tmpfs here")
        yield folder
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        return
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("where", ["option", "option-subfolder", "environment"])
def test_read_only_runs_folder_is_named(where, read_only, tmp_path, monkeypatch, capsys):
    spec = tmp_path / "good.toml"
    spec.write_text(GOOD)
    target = read_only / "runs" if where == "option-subfolder" else read_only
    if where == "environment":
        monkeypatch.setenv("NETWRIGHT_RUNS_DIR", str(target))
        argv = ["train", str(spec)]
    else:
        argv = ["train", str(spec), "--runs-dir", str(target)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{target}: the runs folder is not writable" in err and "Traceback" not in err, err
    assert "NETWRIGHT_RUNS_DIR" in err  # says what to do


def test_read_only_explain_output_is_named(read_only, tmp_path, capsys):
    spec = tmp_path / "good.toml"
    spec.write_text(GOOD)
    assert main(["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run = next((tmp_path / "runs").iterdir())
    capsys.readouterr()
    assert main(["explain", str(run), "--samples", "1", "--out", str(read_only / "maps")]) == 2
    err = capsys.readouterr().err
    assert f"{read_only / 'maps'}: the output folder is not writable" in err and "--out" in err, err
