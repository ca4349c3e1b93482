"""The floors of engine/ (pyproject's import-linter contracts) hold, cover every engine module,
and docs/architecture.md shows them as they are. Replaces the import-time Qt check, which could
not see imports inside functions."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools import architecture

ROOT = Path(__file__).resolve().parent.parent


def test_lint_imports_keeps_every_contract():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # analyse this tree, not an installed copy
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_engine_module_stands_on_a_floor():
    """A new top-level module of engine/ must be given its layer (else the contract would not see it)."""
    named = [m for layer in architecture.layers_contract()["layers"] for m in architecture.split_layer(layer)[0]]
    listed = {m.rstrip("?") for m in named}
    present = {f"engine.{p.stem if p.is_file() else p.name}" for p in (ROOT / "engine").iterdir()
               if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p / "__init__.py").is_file()}
    present.discard("engine.resources")  # package data, no code
    assert present - listed == set(), f"add these to the engine-layers contract in pyproject.toml: {sorted(present - listed)}"
    required = {m for m in named if not m.endswith("?")}
    assert required - present == set(), f"the contract names modules that do not exist: {sorted(required - present)}"


def test_qt_free_contract_forbids_app_and_qt():
    contract = next(c for c in architecture.contracts() if c["id"] == "engine-qt-free")
    assert contract["type"] == "forbidden" and contract["source_modules"] == ["engine"]
    assert {"app", "PySide6", "pyqtgraph"} <= set(contract["forbidden_modules"])


def test_architecture_doc_is_generated_from_the_contract():
    assert architecture.main(["--check"]) == 0, "docs/architecture.md is out of date: run python -m tools.architecture"
    text = architecture.DOC.read_text(encoding="utf-8")
    for layer in architecture.layers_contract()["layers"]:
        modules, sep = architecture.split_layer(layer)
        heading = f" {sep} ".join(m for m in modules if not m.endswith("?"))
        assert f"\n### {heading}\n" in text, f"docs/architecture.md needs a paragraph '### {heading}'"


#: modules whose imports inside functions must each say why (the floors reshaped by issue 14;
#: extend the list as other modules are cleaned up)
REASONED = ["engine/parallel", "engine/layers", "engine/spec.py", "engine/validation.py", "engine/optim.py",
            "engine/schedulers.py", "engine/registry.py", "engine/devices.py", "engine/steps.py",
            "engine/reference.py", "engine/losses.py", "engine/model.py", "engine/shapes.py",
            "engine/commands/plan.py", "engine/commands/validate.py", "engine/commands/reference.py", "engine/data",
            "engine/interpret/context.py", "engine/interpret/output.py", "engine/interpret/protocol.py",
            "engine/interpret/render.py", "engine/pretrained"]


def _function_imports(path: Path):
    import ast

    lines = path.read_text(encoding="utf-8").splitlines()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    text = lines[inner.lineno - 1:inner.end_lineno]
                    yield inner.lineno, any("#" in line for line in text)


def test_imports_inside_functions_say_why():
    """An import inside a function hides a dependency from a reader; where one is needed (to keep
    torch or numpy out of the GUI process) its line says so."""
    files = [p for entry in REASONED for p in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry])]
    silent = [f"{p.relative_to(ROOT)}:{line}" for p in files for line, reasoned in _function_imports(p) if not reasoned]
    assert silent == [], f"imports inside functions without a reason comment: {silent}"
