"""The Optuna study of a sweep: created in (or reloaded from) the sweep directory's SQLite storage.

Only the sweep driver talks to the study (one writer: no SQLite lock contention); trials report
their epochs to the driver, which reports them here. Each Optuna trial carries user attributes
linking it to its run: ``run`` (the run directory, relative to the sweep directory), ``outcome``
(running / completed / pruned / failed / invalid / interrupted / stopped) and ``message``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from engine.sweep.pruners import build_pruner, check_pruner
from engine.sweep.samplers import build_sampler, check_sampler

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from engine.sweep.config import SweepSpec
    from engine.sweep.sweepdir import SweepDir

STUDY_NAME = "sweep"
#: times a trial cut short by a crash or a stop of the whole sweep is run again
MAX_RETRY = 1
#: outcomes that used up a trial of the budget (an interrupted trial is retried instead)
COUNTED = ("completed", "pruned", "failed", "invalid", "stopped")


def open_study(sweep_dir: "SweepDir", sweep: "SweepSpec") -> "optuna.Study":
    """The sweep's study in SQLite, created on first use. The sampler's seed moves on by the
    number of trials already made, so a resumed random search does not repeat itself."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(sweep_dir.storage_url, engine_kwargs={"connect_args": {"timeout": 60}})
    made = 0
    if STUDY_NAME in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        made = len(optuna.load_study(study_name=STUDY_NAME, storage=storage).get_trials(deepcopy=False))
    sampler_options = check_sampler(sweep.sampler, dict(sweep.sampler_options), sweep.dimensions)[0]
    pruner_options = check_pruner(sweep.pruner, dict(sweep.pruner_options))[0]
    sampler = build_sampler(sweep.sampler, sampler_options, sweep.dimensions, sweep.sampler_seed + made)
    pruner = build_pruner(sweep.pruner, pruner_options, sweep.base.training.epochs)
    return optuna.create_study(study_name=STUDY_NAME, storage=storage, sampler=sampler, pruner=pruner,
                               direction=sweep.resolved_direction(), load_if_exists=True)


def outcome(trial: Any) -> str:
    """A trial's outcome (its user attribute, else from its Optuna state). A queued retry is
    "waiting" (it carries a copy of the interrupted trial's attributes)."""
    if trial.state.name == "WAITING":
        return "waiting"
    got = trial.user_attrs.get("outcome")
    if got:
        return str(got)
    return {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
            "WAITING": "waiting"}.get(trial.state.name, trial.state.name.lower())


def counted(study: "optuna.Study") -> int:
    """Trials that used up the budget."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished() and outcome(t) in COUNTED)


def mark_interrupted(study: "optuna.Study", number: int, message: str) -> bool:
    """Record that trial `number` was cut short (crash, SIGKILL, stop of the sweep): FAIL with
    outcome "interrupted" and a retry queued through Optuna's retry callback — or outcome
    "failed" when it was already a retry. Returns whether a retry was queued."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    frozen = study._storage.get_trial(trial_id)
    retry = len(frozen.system_attrs.get("retry_history", [])) < MAX_RETRY
    study._storage.set_trial_user_attr(trial_id, "outcome", "interrupted" if retry else "failed")
    study._storage.set_trial_user_attr(trial_id, "message", message if retry else f"{message} (already retried once)")
    if frozen.state == optuna.trial.TrialState.RUNNING:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    if retry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, study._storage.get_trial(trial_id))
    return retry


@dataclass(frozen=True)
class TrialRow:
    """One trial as the summary table and the JSON line show it."""

    number: int
    outcome: str
    value: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    run: str = ""
    message: str = ""
    epochs: int = 0


def rows(study: "optuna.Study") -> list[TrialRow]:
    """Every trial of the study, in order."""
    out = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)]
                                                     if t.intermediate_values else None)
        if value is not None and not math.isfinite(value):
            value = None
        out.append(TrialRow(t.number, outcome(t), value, dict(t.params), str(t.user_attrs.get("run", "")),
                            str(t.user_attrs.get("message", "")), len(t.intermediate_values)))
    return out


def best_rows(all_rows: Sequence[TrialRow], direction: str, n: int = 5) -> list[TrialRow]:
    """The `n` best completed trials, best first."""
    done = [r for r in all_rows if r.outcome == "completed" and r.value is not None]
    return sorted(done, key=lambda r: r.value, reverse=direction == "maximize")[:n]


def importances(trials: Sequence[Any], direction: str) -> dict[str, float]:
    """Optuna's parameter importances (fANOVA) over completed trials; {} while too few."""
    import optuna

    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return {}
    study = optuna.create_study(direction=direction)
    study.add_trials(complete)
    try:
        found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):  # e.g. every completed trial has the same values
        return {}
    return {k: round(float(v), 4) for k, v in found.items()}
