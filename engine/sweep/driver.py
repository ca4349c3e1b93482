"""The sweep driver: asks the study for trials, runs each as its own worker process, answers
their per-epoch reports with prune decisions, and records how each ended.

Each trial is an ordinary run directory under SWEEP_DIR/trials/, trained by
``python -m engine.sweep.trial`` (see trial.py) in its own process session; one such process is
kept waiting ahead of time (a standby: it imports torch while the study opens or the previous
trial trains) and is handed the next run. Trial processes die with the driver
(PR_SET_PDEATHSIG), so a SIGKILLed sweep leaves no trial running. A trial sends one line
per epoch over a pipe (``{"epoch": 3, "value": 0.91}``); the driver reports it to the study,
asks the pruner and answers ``prune`` or ``run`` at once, so a pruned trial stops within the
next step (status "pruned", checkpoint kept).

On start the driver takes the sweep's lock and recovers trials the study still lists as
running (the driver was killed): one whose run directory already ended (completed or pruned just
before the kill) is recorded from its run, not run again; the others were cut short — their run
directories are marked failed, and each is retried once with the same values (Optuna's retry
callback) in a new run directory.
"""
from __future__ import annotations

import json
import math
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.problems import SpecError
from engine.runs import RunDir, effective_status, read_status, request_control, write_status
from engine.sweep import study as studies
from engine.sweep.config import SweepSpec, trial_problems, trial_spec
from engine.sweep.launch import REPO_ROOT, child_env
from engine.sweep.sweepdir import SweepDir


#: how often the driver looks at its trials and the stop request when nothing is reported
TICK_S = 0.2
#: importances are recomputed at most this often while trials finish (and once at the end)
IMPORTANCE_EVERY_S = 5.0


@dataclass
class RunningTrial:
    """A trial whose worker process is running."""

    number: int
    run: RunDir
    proc: subprocess.Popen
    reply_fd: int  # the driver writes prune decisions here
    report_fd: int  # the trial's epoch reports arrive here
    params: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    buffer: bytes = b""
    closed: bool = False


@dataclass(frozen=True)
class Standby:
    """A trial process started ahead of time, importing torch while it waits for its run."""

    proc: subprocess.Popen
    reply_fd: int
    report_fd: int


@dataclass(frozen=True)
class SweepResult:
    """How a sweep ended."""

    status: str
    counts: dict[str, int]
    rows: list[studies.TrialRow]
    best: studies.TrialRow | None
    metric: str
    direction: str


class SweepDriver:
    """Runs one sweep directory to the end of its budget (or a stop request)."""

    def __init__(self, sweep_dir: SweepDir, sweep: SweepSpec, *, say: Callable[[str], None] | None = None,
                 stop_event: threading.Event | None = None):
        self.dir = sweep_dir
        self.sweep = sweep
        self.say = say or (lambda line: None)
        self.metric = sweep.resolved_metric()
        self.direction = sweep.resolved_direction()
        self.budget = sweep.budget()
        self.stop_event = stop_event or threading.Event()
        self.stopping = False
        self.running: dict[int, RunningTrial] = {}
        self.standby: Standby | None = None
        self.selector = selectors.DefaultSelector()
        self.importances: dict[str, float] = {}
        self._importance_thread: threading.Thread | None = None
        self._importance_at = 0.0
        self.study: Any = None

    # ------------------------------------------------------------------ the whole sweep
    def run(self) -> SweepResult:
        from engine.runs import acquire, release

        acquire(self.dir, "sweep")  # one driver per sweep: a second is refused, naming this one
        try:
            self.dir.clear_control()
            self.standby = self._spawn()  # the first trial's process imports torch while the study opens
            self.study = studies.open_study(self.dir, self.sweep)
            self.started = time.monotonic()
            self.dir.write_status("running", pid=os.getpid(), started=time.time(), metric=self.metric,
                                  direction=self.direction, budget=self.budget, minutes=self.sweep.minutes,
                                  concurrency=self.sweep.concurrency, sampler=self.sweep.sampler, pruner=self.sweep.pruner,
                                  params=[d.path for d in self.sweep.dimensions])
            self.dir.log(f"sweep started (pid {os.getpid()}): budget {self.budget or 'unlimited'} trials, "
                         f"{self.sweep.concurrency} at once, sampler {self.sweep.sampler}, pruner {self.sweep.pruner}")
            self._recover()
            self._loop()
            self._drop_standby()
            status = "stopped" if self.stopping else "completed"
            self._compute_importances(wait=True)
            result = self.result(status)
            self._write_status(status, ended=time.time())  # before the lock goes: never "running" without an owner
            self.dir.log(f"sweep {status}: {json.dumps(result.counts)}")
            return result
        except BaseException as err:
            self._kill_all()
            self.dir.log(f"sweep failed: {type(err).__name__}: {err}")
            self.dir.write_status("failed", ended=time.time(), message=f"{type(err).__name__}: {err}")
            raise
        finally:
            release(self.dir)

    def _loop(self) -> None:
        while True:
            if not self.stopping and (self.stop_event.is_set() or self.dir.stop_requested()):
                self._stop_all()
            while self._can_launch():
                self._launch_next()
            self._keep_standby()
            if not self.running:
                if not self._can_launch():
                    return
                continue
            for key, _ in self.selector.select(TICK_S):
                self._read_reports(self.running[key.data])
            for trial in list(self.running.values()):
                if trial.closed or trial.proc.poll() is not None:
                    self._finish(trial)

    def _can_launch(self) -> bool:
        if self.stopping or len(self.running) >= self.sweep.concurrency:
            return False
        if self.sweep.minutes and time.monotonic() - self.started >= self.sweep.minutes * 60:
            return False
        return not self.budget or studies.counted(self.study) + len(self.running) < self.budget

    def _stop_all(self) -> None:
        self.stopping = True
        self.dir.log(f"stop requested: stopping {len(self.running)} running trial(s), starting no new one")
        self.say(f"stopping: {len(self.running)} running trial(s) finish their step and checkpoint")
        for trial in self.running.values():
            request_control(trial.run, "stop")

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> None:
        """Trials the study lists as running: record those whose run already ended (completed or
        pruned before the driver died); mark the others failed (run directory too) and queue each
        for one retry."""
        import optuna

        for frozen in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            message = "interrupted: the sweep ended while this trial ran"
            run_rel = frozen.user_attrs.get("run")
            run = RunDir(self.dir.path / run_rel) if run_rel else None
            if run is not None and run.path.is_dir():
                ending = run_ending(run, self.metric)
                if ending.outcome in ("completed", "pruned"):
                    self._record(frozen.number, ending, run, dict(frozen.params), None)
                    continue
                if effective_status(run) not in ("completed", "pruned", "failed", "stopped"):
                    write_status(run, "failed", message=message)
            retried = studies.mark_interrupted(self.study, frozen.number, message)
            self.dir.append_trial({"trial": frozen.number, "state": "interrupted" if retried else "failed",
                                   "message": message, "params": dict(frozen.params), "run": run_rel or ""})
            self.say(f"trial {frozen.number} was cut short by the last stop or crash"
                     f"{' — running it again' if retried else ' (already retried once)'}")

    # ------------------------------------------------------------------ launching
    def _launch_next(self) -> None:
        import optuna

        trial = self.study.ask()
        params = {d.path: d.suggest(trial) for d in self.sweep.dimensions}
        number = trial.number
        for key, value in (("outcome", "running"), ("run", ""), ("message", "")):
            trial.set_user_attr(key, value)
        try:
            spec = trial_spec(self.sweep, params, number)
            problems = trial_problems(spec)
        except SpecError as err:
            problems = err.problems
        if problems:
            message = "; ".join(str(p) for p in problems)
            trial.set_user_attr("outcome", "invalid")
            trial.set_user_attr("message", message)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.dir.append_trial({"trial": number, "state": "invalid", "params": params, "message": message})
            self.say(self._line(number, "invalid", None, params, 0.0, message))
            return
        run = RunDir.create(self.dir.trials, spec)
        write_status(run, "created", sweep=str(self.dir.path), trial=number, params=params)
        trial.set_user_attr("run", str(run.path.relative_to(self.dir.path)))
        self.running[number] = self._start(number, run, params)
        self.dir.append_trial({"trial": number, "state": "running", "params": params,
                               "run": str(run.path.relative_to(self.dir.path))})
        self._write_status("running")

    def _spawn(self) -> Standby:
        """Start a trial process that imports torch and the engine, then waits for its run."""
        to_trial_r, to_trial_w = os.pipe()
        from_trial_r, from_trial_w = os.pipe()
        env = child_env()
        threads = trial_threads(self.sweep.concurrency, self.sweep.base.parallel.processes)
        if threads and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(threads)
        cmd = [sys.executable, "-m", "engine.sweep.trial", "--metric", self.metric,
               "--channel", f"{to_trial_r},{from_trial_w}"]
        with open(self.dir.log_path, "ab") as log:  # until it has a run (then the run's log.txt)
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=str(REPO_ROOT), env=env, start_new_session=True,
                                    pass_fds=(to_trial_r, from_trial_w))
        os.close(to_trial_r)
        os.close(from_trial_w)
        return Standby(proc, to_trial_w, from_trial_r)

    def _start(self, number: int, run: RunDir, params: dict[str, Any]) -> RunningTrial:
        """Give the run to the waiting trial process (or a new one) and start the next standby."""
        standby, self.standby = self.standby or self._spawn(), None
        message = (json.dumps({"run": str(run.path)}) + "\n").encode()
        try:
            os.write(standby.reply_fd, message)
        except OSError:  # the waiting process died (see the sweep's log.txt): a fresh one takes the run
            os.close(standby.reply_fd)
            os.close(standby.report_fd)
            standby.proc.wait()
            standby = self._spawn()
            os.write(standby.reply_fd, message)
        self.selector.register(standby.report_fd, selectors.EVENT_READ, number)
        return RunningTrial(number, run, standby.proc, standby.reply_fd, standby.report_fd, params)

    def _keep_standby(self) -> None:
        """One trial process waits, warmed up, while another trial may still be launched."""
        more = not self.stopping and (not self.budget or studies.counted(self.study) + len(self.running) < self.budget)
        if more and self.standby is None:
            self.standby = self._spawn()
        elif not more and self.standby is not None:
            self._drop_standby()

    def _drop_standby(self) -> None:
        standby, self.standby = self.standby, None
        if standby is None:
            return
        os.close(standby.reply_fd)
        os.close(standby.report_fd)
        standby.proc.kill()  # it has no run yet: nothing to lose, and no waiting for its imports to finish
        standby.proc.wait()

    # ------------------------------------------------------------------ reports
    def _read_reports(self, trial: RunningTrial) -> None:
        try:
            data = os.read(trial.report_fd, 65536)
        except OSError:
            data = b""
        if not data:
            self._close_channel(trial)
            return
        trial.buffer += data
        *lines, trial.buffer = trial.buffer.split(b"\n")
        for line in lines:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            self._answer(trial, report)

    def _answer(self, trial: RunningTrial, report: dict[str, Any]) -> None:
        """Report one epoch to the study and tell the trial whether to go on."""
        import optuna

        value, epoch = report.get("value"), report.get("epoch")
        prune = False
        if isinstance(value, (int, float)) and math.isfinite(value) and isinstance(epoch, int):
            handle = optuna.trial.Trial(self.study, self._trial_id(trial.number))
            handle.report(float(value), epoch)
            prune = handle.should_prune()
        try:
            os.write(trial.reply_fd, b"prune\n" if prune else b"run\n")
        except OSError:  # the trial is gone; its exit is handled by the loop
            pass

    def _trial_id(self, number: int) -> int:
        return self.study._storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)

    def _close_channel(self, trial: RunningTrial) -> None:
        if not trial.closed:
            trial.closed = True
            self.selector.unregister(trial.report_fd)
            os.close(trial.report_fd)
            os.close(trial.reply_fd)

    # ------------------------------------------------------------------ endings
    def _finish(self, trial: RunningTrial) -> None:
        """The trial's process ended: record its outcome in the study from its run directory."""
        code = trial.proc.wait()
        self._close_channel(trial)
        del self.running[trial.number]
        ending = run_ending(trial.run, self.metric, stopping=self.stopping)
        if ending.outcome == "failed" and ending.status not in ("failed", "completed"):
            message = f"the trial process ended with code {code} and status {ending.status} (see {trial.run.log_path})"
            write_status(trial.run, "failed", message=message)
            ending = TrialEnding(ending.status, "failed", None, message)
        self._record(trial.number, ending, trial.run, trial.params, time.monotonic() - trial.started)

    def _record(self, number: int, ending: "TrialEnding", run: RunDir, params: dict[str, Any],
                seconds: float | None) -> None:
        """Tell the study how trial `number` ended and log it (trials.jsonl, the progress line)."""
        import optuna

        outcome, message = ending.outcome, ending.message
        if outcome == "interrupted":
            retried = studies.mark_interrupted(self.study, number, "stopped with the sweep")
            outcome = "interrupted" if retried else "failed"
        else:
            state = {"completed": optuna.trial.TrialState.COMPLETE,
                     "pruned": optuna.trial.TrialState.PRUNED}.get(outcome, optuna.trial.TrialState.FAIL)
            handle = optuna.trial.Trial(self.study, self._trial_id(number))
            handle.set_user_attr("outcome", outcome)
            handle.set_user_attr("message", message)
            self.study.tell(number, ending.value, state=state)
        shown = ending.value if outcome == "completed" else _last_value(self.study, number)
        record = {"trial": number, "state": outcome, "value": shown, "params": params,
                  "run": str(run.path.relative_to(self.dir.path)), "message": message}
        if seconds is not None:
            record["seconds"] = round(seconds, 2)
        self.dir.append_trial(record)
        self.say(self._line(number, outcome, shown, params, seconds or 0.0, message))
        self._compute_importances()
        self._write_status("running")

    def _kill_all(self) -> None:
        if self.standby is not None:
            self.standby.proc.kill()
        for trial in self.running.values():
            try:
                os.killpg(trial.proc.pid, signal.SIGTERM)
            except OSError:
                pass
        for trial in self.running.values():
            try:
                trial.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(trial.proc.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ reporting
    def _line(self, number: int, outcome: str, value: float | None, params: dict[str, Any], seconds: float,
              message: str) -> str:
        done = studies.counted(self.study)
        budget = f"/{self.budget}" if self.budget else ""
        shown = f"{self.metric} {value:.4g}" if value is not None else ""
        values = " ".join(f"{k}={_short(v)}" for k, v in params.items())
        best = self._best()
        tail = f"best {best.value:.4g} (trial {best.number})" if best is not None else "no completed trial yet"
        note = f" — {message}" if message and outcome in ("failed", "invalid", "stopped") else ""
        return f"trial {number:>3} {outcome:<11} {shown:<22} {values}  {seconds:.1f}s  [{done}{budget} done, {tail}]{note}"

    def _best(self) -> studies.TrialRow | None:
        found = studies.best_rows(studies.rows(self.study), self.direction, 1)
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("completed", "pruned", "failed", "invalid", "interrupted", "stopped", "running")}
        for row in studies.rows(self.study):
            if row.outcome in out:
                out[row.outcome] += 1
        return out

    def result(self, status: str) -> SweepResult:
        all_rows = studies.rows(self.study)
        best = studies.best_rows(all_rows, self.direction, 1)
        return SweepResult(status, self.counts(), all_rows, best[0] if best else None, self.metric, self.direction)

    def _write_status(self, status: str, **extra: Any) -> None:
        best = self._best()
        self.dir.write_status(status, counts=self.counts(), importances=self.importances,
                              best={"trial": best.number, "value": best.value, "params": dict(best.params), "run": best.run}
                              if best is not None else None, **extra)

    def _compute_importances(self, *, wait: bool = False) -> None:
        """Recompute the parameter importances in a background thread (at most every few
        seconds while trials run; `wait`: now, and wait for it — the final ones)."""
        if self._importance_thread is not None and self._importance_thread.is_alive():
            if not wait:
                return
            self._importance_thread.join()
        if not wait and time.monotonic() - self._importance_at < IMPORTANCE_EVERY_S:
            return
        self._importance_at = time.monotonic()
        trials = self.study.get_trials(deepcopy=True)

        def compute() -> None:
            found = studies.importances(trials, self.direction)
            if found:
                self.importances = found

        self._importance_thread = threading.Thread(target=compute, name="importances", daemon=True)
        self._importance_thread.start()
        if wait:
            self._importance_thread.join()


@dataclass(frozen=True)
class TrialEnding:
    """How a trial's run directory ended, as the study records it."""

    status: str  # the run's effective status
    outcome: str  # completed / pruned / failed / interrupted / stopped
    value: float | None  # the metric told to the study (completed trials only)
    message: str = ""


def run_ending(run: RunDir, metric: str, *, stopping: bool = False) -> TrialEnding:
    """Read how a trial's run ended from its status.json (the metric from its final metrics, else
    the last event that carries it). `stopping`: the whole sweep is stopping, so a stopped run
    was interrupted (retried on resume), not stopped on its own."""
    status = effective_status(run)
    data = read_status(run)
    message = str(data.get("message") or "")
    if status == "completed":
        value = (data.get("metrics") or {}).get(metric)
        if not _finite(value):
            value = _last_event_value(run, metric)
        if _finite(value):
            return TrialEnding(status, "completed", float(value), message)
        return TrialEnding(status, "failed", None, f"the run reported no {metric}")
    if status == "pruned":
        return TrialEnding(status, "pruned", None, message)
    if status == "stopped":
        return TrialEnding(status, "interrupted", None, message) if stopping else \
            TrialEnding(status, "stopped", None, message or "stopped by request")
    return TrialEnding(status, "failed", None, message)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _last_event_value(run: RunDir, metric: str) -> float | None:
    from engine.events import read_events

    found = [e[metric] for e in read_events(run.events_path)[0] if _finite(e.get(metric))]
    return float(found[-1]) if found else None


def _last_value(study: Any, number: int) -> float | None:
    values = study.trials[number].intermediate_values
    return values[max(values)] if values else None


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trial_threads(concurrency: int, processes: int) -> int:
    """CPU threads per trial process when several share the machine (0 = leave torch's default)."""
    if concurrency <= 1:
        return 0
    return max(1, (os.cpu_count() or 1) // (concurrency * max(1, processes)))


def oversubscribed(concurrency: int, processes: int) -> str:
    """A warning when the trials at once need more processes than the machine has cores ('' if fine)."""
    cores = os.cpu_count() or 1
    need = concurrency * max(1, processes)
    if need <= cores:
        return ""
    return (f"{concurrency} trials at once × {max(1, processes)} process(es) each = {need} processes on {cores} CPU "
            f"cores: they will compete for the cores (lower --parallel to {max(1, cores // max(1, processes))} for full speed)")
