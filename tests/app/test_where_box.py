"""The Train page's "Where" box: launchers from the registry, their options in the spec's
[launcher] section (undoable), problems at the field, and the script in the plan panel."""
from __future__ import annotations

from PySide6.QtCore import Qt

from engine.spec import LAUNCHERS, ExperimentSpec
from tests.app.test_train_page import ready, window  # noqa: F401 (the fixture)


def test_where_box_edits_launcher_and_plan_shows_sbatch_script(qtbot, window):  # noqa: F811
    page = window.show_page("train")
    ready(qtbot, page)
    where = page.where
    assert [b.text() for b in where.buttons.values()][:2] == ["This machine", "Slurm"]
    assert list(where.buttons) == LAUNCHERS.names()
    assert where.buttons["local"].isChecked() and where.form.isHidden()  # today's behaviour: nothing to set

    qtbot.mouseClick(where.buttons["slurm"], Qt.MouseButton.LeftButton)
    assert window.document.spec.launcher.kind == "slurm"
    assert {"partition", "time_limit", "gpus_per_node", "setup", "login_host"} <= {p.name for p in where.form.params}
    assert where.form.isVisibleTo(page)
    editor = where.form.editor("partition")
    editor.set_value("gpu")
    editor.changed.emit("gpu")
    assert window.document.spec.launcher.options["partition"] == "gpu"
    ready(qtbot, page)
    panel = page.plan_panel
    assert panel.nodes_title.text() == "SLURM SUBMITS" and panel.commands.isVisibleTo(page)
    script = panel.commands.toPlainText()
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --ntasks-per-node=" in script
    assert str(page.run_service.runs_dir) in script  # the run's folder under this window's runs folder
    assert page.train_button.text() == "Submit"
    saved = ExperimentSpec.from_toml(window.document.spec.to_toml())
    assert saved.launcher.kind == "slurm" and saved.launcher.options["partition"] == "gpu"

    editor = where.form.editor("time_limit")  # a bad value: named at the field, Submit blocked
    editor.set_value("soon")
    editor.changed.emit("soon")
    ready(qtbot, page)
    assert "not a Slurm time" in where.form.problem("time_limit")
    assert not page.train_button.isEnabled() and not panel.commands.isVisibleTo(page)

    window.document.undo_stack.undo()  # the time limit
    window.document.undo_stack.undo()  # the partition
    window.document.undo_stack.undo()  # Slurm
    assert window.document.spec.launcher.kind == "local" and where.buttons["local"].isChecked()
    ready(qtbot, page)
    assert page.train_button.text() == "Train" and "[launcher]" not in window.document.spec.to_toml()
