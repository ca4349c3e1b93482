"""The ordered list of whole-spec checks run by `engine.spec.validate`.

Each check takes an ExperimentSpec and returns Problems. Modules own their checks
(data options, optimizer options, model shapes, parallel layout); this list only
collects them so spec.py does not import every module at load time.
"""
from __future__ import annotations

from typing import Callable, List

from engine.problems import Problem

Check = Callable[["ExperimentSpec"], List[Problem]]  # noqa: F821


def _data(spec):
    from engine.data import check_data
    return check_data(spec)


def _optim(spec):
    from engine.optim import check_optim
    return check_optim(spec)


def _model(spec):
    from engine.shapes import check_model
    return check_model(spec)


def _parallel(spec):
    from engine.parallel.plan import check_parallel
    return check_parallel(spec)


CHECKS: list[Check] = [_data, _optim, _model, _parallel]
