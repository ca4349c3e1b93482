"""Follow a sweep directory from outside (the Sweeps page): its status, every trial's latest
record, and each trial's per-epoch curve of the sweep's metric. Incremental and cheap: only new
bytes of trials.jsonl and of each trial's events log are read on each :meth:`SweepWatch.poll`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.events import read_events
from engine.runs import RunDir
from engine.sweep.sweepdir import SweepDir, latest_trials


@dataclass
class TrialView:
    """One trial as a watcher sees it: its latest record and its metric per epoch so far."""

    number: int
    state: str = "running"
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    run: str = ""
    message: str = ""
    seconds: float | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    offset: int = 0

    @property
    def last(self) -> float | None:
        """The value to show: the final one, else the latest epoch's."""
        return self.value if self.value is not None else (self.curve[-1][1] if self.curve else None)


class SweepWatch:
    """`poll()` reads what changed; `status`, `trials` (by number) and `metric` describe the sweep."""

    def __init__(self, sweep_dir: SweepDir):
        self.dir = sweep_dir
        self.status: dict[str, Any] = {}
        self.trials: dict[int, TrialView] = {}
        self._offset = 0
        self._records: list[dict[str, Any]] = []

    @property
    def metric(self) -> str:
        return str(self.status.get("metric") or "")

    @property
    def direction(self) -> str:
        return str(self.status.get("direction") or "maximize")

    def poll(self) -> bool:
        """Read new trial records and epochs; True when anything changed."""
        before = (self.status.get("updated"), len(self._records), sum(len(t.curve) for t in self.trials.values()))
        self.status = self.dir.read_status()
        self.status["effective"] = self.dir.effective_status()
        found, self._offset = self.dir.read_trials(self._offset)
        self._records += found
        for number, record in latest_trials(found).items():
            view = self.trials.setdefault(number, TrialView(number))
            view.state = str(record.get("state", view.state))
            view.params = dict(record.get("params") or view.params)
            view.value = record.get("value") if record.get("state") == "completed" else None
            view.run = str(record.get("run") or view.run)
            view.message = str(record.get("message") or "")
            view.seconds = record.get("seconds", view.seconds)
        if self.metric:
            for view in self.trials.values():
                self._read_curve(view)
        after = (self.status.get("updated"), len(self._records), sum(len(t.curve) for t in self.trials.values()))
        return before != after

    def _read_curve(self, view: TrialView) -> None:
        if not view.run:
            return
        events, view.offset = read_events(RunDir(self.dir.path / view.run).events_path, view.offset)
        for event in events:
            value = event.get(self.metric)
            if event.get("type") == "epoch" and isinstance(value, (int, float)):
                view.curve.append((int(event.get("epoch", len(view.curve) + 1)), float(value)))

    def best(self) -> TrialView | None:
        """The best completed trial so far."""
        done = [t for t in self.trials.values() if t.state == "completed" and t.value is not None]
        if not done:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t.value)

    def run_path(self, number: int) -> Path | None:
        view = self.trials.get(number)
        return self.dir.path / view.run if view is not None and view.run else None


def list_sweeps(sweeps_dir: Path) -> list[SweepDir]:
    """Every sweep directory under `sweeps_dir`, newest first."""
    if not sweeps_dir.is_dir():
        return []
    found = [SweepDir(p) for p in sweeps_dir.iterdir() if SweepDir.is_sweep(p)]
    return sorted(found, key=lambda s: s.path.name, reverse=True)
