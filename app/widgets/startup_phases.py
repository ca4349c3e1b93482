"""StartupPhases: what a run is doing before its first point — "starting worker", "loading data",
"building model", "first step" (engine.events.PHASES) — each with its time, and the time since
Train was pressed ticking. The worker and rank 0 report the phases as ``phase`` events; the
first phase begins at the click, before the worker has even started."""
from __future__ import annotations

import re
import time
from typing import Any, Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

#: the phases in order (engine.events.PHASES; repeated here so the GUI imports no engine module for it)
PHASES = ("starting worker", "loading data", "building model", "first step")


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StartupPhases(QFrame):
    """A strip of the start-up phases. `begin(t0)` at the click, `add_event(event)` for each
    event (``phase`` events advance it; the first ``metric`` ends start-up), `tick()` once a second."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("startupPhases")
        self.setStyleSheet("#startupPhases { background: palette(alternate-base); border: 1px solid palette(mid);"
                           " border-radius: 6px; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        row.setSpacing(18)
        self.title = QLabel("Starting up", objectName="startupTitle")
        self.title.setStyleSheet("font-weight: 600;")
        row.addWidget(self.title)
        self.labels: dict[str, QLabel] = {}
        for name in PHASES:
            label = QLabel(objectName="phase_" + name.replace(" ", "_"))
            label.setTextFormat(Qt.TextFormat.RichText)
            self.labels[name] = label
            row.addWidget(label)
        row.addStretch(1)
        self.elapsed = QLabel(objectName="startupElapsed")
        row.addWidget(self.elapsed)
        self.t0: float | None = None
        self.started: dict[str, float] = {}
        self.done = False
        self.hide()

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> str:
        """The phase under way ("" before begin or once done)."""
        if self.done or self.t0 is None:
            return ""
        return max(self.started, key=PHASES.index) if self.started else PHASES[0]

    def begin(self, t0: float | None) -> None:
        """A run was started (`t0`: the click, Unix seconds) or attached (None: its start-up
        phases show only if its events say it is still starting)."""
        self.t0 = t0
        self.started = {PHASES[0]: t0} if t0 is not None else {}
        self.done = False
        self.setVisible(t0 is not None)
        self.tick()

    def add_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if self.done:
            return
        if kind == "phase" and event.get("phase") in PHASES:
            when = float(event.get("time") or time.time())
            if self.t0 is None:
                self.t0 = when
            self.started.setdefault(str(event["phase"]), when)
            self.setVisible(True)
            self.tick()
        elif kind == "metric" or (kind == "status" and event.get("status") not in ("running", "created")):
            self.finish()

    def finish(self) -> None:
        """Start-up is over (the first point arrived, or the run ended)."""
        self.done = True
        self.hide()

    # ------------------------------------------------------------------ view
    def text(self) -> str:
        """The strip as plain text (for tests and the accessible name)."""
        return " · ".join(re.sub(r"<[^>]+>", "", label.text()) for label in self.labels.values())

    def tick(self, now: float | None = None) -> None:
        if self.t0 is None:
            return
        now = time.time() if now is None else now
        current = self.current
        names = list(PHASES)
        for i, name in enumerate(names):
            label = self.labels[name]
            begun = self.started.get(name)
            later = [self.started[n] for n in names[i + 1:] if n in self.started]
            if begun is not None and later:
                label.setText(f"<span style='color:#2f8f5b'>✓</span> {name} {_clock(min(later) - begun)}")
            elif name == current:
                label.setText(f"<b>● {name}…</b> {_clock(now - (begun or self.t0))}")
            else:
                label.setText(f"<span style='color:gray'>○ {name}</span>")
        self.elapsed.setText(f"{_clock(now - self.t0)} since Train")
        self.setAccessibleName(self.text())
