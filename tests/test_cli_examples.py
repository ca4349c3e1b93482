"""`netwright examples` lists the shipped specs; a bare example name works wherever a SPEC is asked
for, from any folder (an existing file of that name still wins); the main help's examples run."""
from __future__ import annotations

import json
import shlex

import pytest

from engine.cli import EPILOG, main
from engine.paths import EXAMPLES, examples, spec_argument


def test_every_example_has_a_one_line_description():
    found = examples()
    assert {e.name for e in found} == {p.stem for p in EXAMPLES.glob("*.toml")}
    for example in found:
        assert 20 < len(example.description) < 140, example


def test_examples_command_lists_names_and_descriptions(capsys):
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    for example in examples():
        assert f"{example.name}  " in out and example.description in out
    assert main(["examples", "--paths"]) == 0
    assert str(EXAMPLES / "wine_mlp.toml") in capsys.readouterr().out


def test_a_bare_example_name_resolves_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert spec_argument("digits_mlp") == EXAMPLES / "digits_mlp.toml"
    assert spec_argument("digits_mlp.toml") == EXAMPLES / "digits_mlp.toml"
    (tmp_path / "digits_mlp.toml").write_text('name = "mine"\n', encoding="utf-8")
    assert spec_argument("digits_mlp.toml").resolve() == (tmp_path / "digits_mlp.toml").resolve()  # a file wins
    assert spec_argument("sub/digits_mlp") == tmp_path.joinpath("sub/digits_mlp").relative_to(tmp_path)


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_take_an_example_name(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([command, "moons_mlp"]) == 0
    assert "moons_mlp" in capsys.readouterr().out


def test_an_unknown_name_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "digts_mlp"]) == 2
    err = capsys.readouterr().err
    assert f"file not found (looked in {tmp_path})" in err and "netwright examples" in err


def _epilog_commands() -> list[list[str]]:
    lines = [line.strip() for line in EPILOG.splitlines()[1:]]
    commands = [shlex.split(line.split("  ")[0].split("|")[0]) for line in lines]
    assert all(c[0] == "netwright" for c in commands)
    return [c[1:] for c in commands]


def test_the_help_examples_work_from_another_folder(tmp_path, monkeypatch, capsys):
    """Every example in `netwright --help`: CLI ones run here; GUI ones route to the app with the file."""
    from netwright import wants_gui

    monkeypatch.chdir(tmp_path)
    for args in _epilog_commands():
        if wants_gui(args):
            assert not args or spec_argument(args[0]).is_file(), args
            continue
        code = main(args)
        out = capsys.readouterr().out
        if args[0] == "doctor":
            assert code in (0, 1) and "runs folder" in out  # 1 only when this machine lacks something
        else:
            assert code == 0, (args, out)
        if args[0] == "train":
            assert json.loads(out.strip().splitlines()[-1])["status"] == "completed"
