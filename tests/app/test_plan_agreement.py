"""The Train page's plan panel shows the engine's numbers: the global batch counts gradient
accumulation, and a data problem is named as what to fix before the memory estimate."""
from __future__ import annotations

import dataclasses

from app.services.train_plan import TrainPlan
from app.widgets.plan_panel import PlanPanel
from engine.parallel.summary import plan_summary
from engine.paths import EXAMPLES
from engine.spec import apply_overrides, load_spec
from engine.validation import validate


def _panel(qtbot, spec) -> PlanPanel:
    problems = validate(spec)
    panel = PlanPanel()
    qtbot.addWidget(panel)
    panel.set_plan(TrainPlan(spec, plan_summary(spec, problems=problems), problems=tuple(problems)))
    return panel


def test_global_batch_counts_accumulation(qtbot):
    spec = apply_overrides(load_spec(EXAMPLES / "digits_mlp.toml"), ["data.batch_size=16", "training.grad_accumulation=4"])
    assert _panel(qtbot, spec).values["globalBatch"].text().startswith("64 (16 per rank")


def test_a_data_problem_is_what_to_fix_first(qtbot, tmp_path):
    spec = load_spec(EXAMPLES / "digits_mlp.toml")
    spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, source="csv",
                                                              options={"path": str(tmp_path / "missing.csv")}))
    assert _panel(qtbot, spec).values["memory"].text() == "— (fix the data first)"
