"""Every command ends quietly when its reader closes the pipe (`netwright runs | head`) and on
Ctrl-C: no traceback, exit code 0 (pipe) or 130 (interrupt)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.cli import EXIT_INTERRUPTED, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _many_runs(folder: Path, count: int = 300) -> None:
    """Run folders `runs` lists (a spec and a status each): enough output to fill a pipe."""
    for i in range(count):
        run = folder / f"20260101-000000-digits_mlp-{i:04x}"
        run.mkdir(parents=True)
        (run / "spec.toml").write_text('name = "digits_mlp"\n', encoding="utf-8")
        (run / "status.json").write_text('{"status": "completed"}', encoding="utf-8")


@pytest.mark.parametrize("args", [["runs"], ["examples"], ["reference"], ["validate", "digits_mlp"],
                                  ["plan", "tiny_gpt"], ["explain", "--list-methods"], ["--help"]])
def test_a_closed_pipe_ends_quietly(args, tmp_path):
    _many_runs(tmp_path / "runs")
    env = dict(ENV, NETWRIGHT_RUNS_DIR=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    proc.stdout.close()  # the reader is gone before the first write, as after `| head -0`
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_runs_piped_into_head_reads_the_first_lines(tmp_path):
    _many_runs(tmp_path / "runs")
    env = dict(ENV, NETWRIGHT_RUNS_DIR=str(tmp_path / "runs"))
    done = subprocess.run(f"{sys.executable} {ROOT / 'main.py'} runs | head -n 2; echo status=${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.splitlines()[0].startswith("run ") and done.stdout.strip().endswith("status=0"), done
    assert "Traceback" not in done.stderr


def test_ctrl_c_ends_a_command_quietly_with_130(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        import engine.commands.examples as examples

        def run(args):
            print("ready", flush=True)
            time.sleep(120)
        examples.run = run
        from engine.cli import main
        sys.exit(main(["examples"]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path, env=ENV, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED
    assert err.strip() == "interrupted" and "Traceback" not in err


def test_every_command_goes_through_the_quiet_wrapper(monkeypatch, capsys):
    """In-process: a KeyboardInterrupt from any command becomes 130 (pipes: the subprocess tests)."""
    def raise_(exc):
        def run(args):
            raise exc
        return run
    parser, modules = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, module in modules.items():
        monkeypatch.setattr(module, "run", raise_(KeyboardInterrupt()))
        required = [a for a in commands[name]._actions if not a.option_strings and a.nargs is None]
        assert main([name, *["x"] * len(required)]) == EXIT_INTERRUPTED, name
    assert capsys.readouterr().err.count("interrupted") == len(modules)
