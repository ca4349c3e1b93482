"""`validate(spec)`: every problem in a spec at once, each naming its field path.

Each module owns the check of its section (the spec's fixed fields, data options, optimizer,
scheduler, loss, device and precision, model shapes, parallel layout); this module only runs
them in order. It sits above engine.parallel in the layers of engine/ (docs/architecture.md):
the GUI, `validate`, `plan`, `train` and the worker all call this one function.
"""
from __future__ import annotations

from typing import Callable, List

from engine.adaptation import check_adaptation
from engine.data import check_data
from engine.devices import check_device
from engine.distill import check_distill
from engine.losses import check_loss
from engine.optim import check_optim
from engine.parallel.plan import check_parallel
from engine.problems import Problem
from engine.schedulers import check_scheduler
from engine.shapes import check_model
from engine.spec import ExperimentSpec, check_fixed, check_launcher
from engine.tracking.checks import check_tracking

Check = Callable[[ExperimentSpec], List[Problem]]

CHECKS: list[Check] = [check_fixed, check_data, check_optim, check_scheduler, check_loss, check_device, check_model,
                       check_adaptation, check_parallel, check_tracking, check_launcher, check_distill]


def validate(spec: ExperimentSpec) -> list[Problem]:
    """Every problem in the spec at once, each naming its field path."""
    problems: list[Problem] = []
    for check in CHECKS:
        problems.extend(check(spec))
    return problems
