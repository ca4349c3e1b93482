"""One compression in a background process: ``python -m engine compress SOURCE --step ... --runs-dir DIR``
(a QProcess, so a failure there never takes the window down and the GUI never imports torch).

Signals: `progress(fraction, text)` from the command's ``[ 50%] step 2/3: ...`` lines,
`finished(record)` with its JSON result (engine.compress.CompressResult.to_dict), `failed(message)`
with the problems it named (or its last error lines) and `cancelled()`. `cancel()` sends SIGTERM:
the command cancels between steps or at the fine-tune's next step and keeps no run; a second
`cancel()` kills it."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QObject, QProcess, Signal

from app.services.engine_process import engine_process
from engine.commands.compress import EXIT_INTERRUPTED

_PROGRESS = re.compile(r"^\[\s*(\d+)%\]\s*(.*)$")


class CompressJob(QObject):
    progress = Signal(float, str)
    finished = Signal(dict)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._stdout = b""
        self._stderr: list[str] = []
        self._partial = b""
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self._proc is not None

    def start(self, source: str | Path, steps: Sequence[str], runs_dir: str | Path) -> None:
        """Compress `source` with `steps` (``name:key=value,...``) into a new run under `runs_dir`."""
        if self._proc is not None:
            raise RuntimeError("a compression is already running")
        self._stdout, self._partial, self._stderr, self._cancelling = b"", b"", [], False
        proc = engine_process(self)
        proc.readyReadStandardOutput.connect(lambda: self._read_stdout(proc))
        proc.readyReadStandardError.connect(lambda: self._read_stderr(proc))
        proc.finished.connect(lambda code, _status: self._finished(proc, code))
        proc.errorOccurred.connect(lambda error: self._error(proc, error))
        self._proc = proc
        args = ["-m", "engine", "compress", str(source), "--runs-dir", str(runs_dir)]
        for step in steps:
            args += ["--step", step]
        self.progress.emit(0.0, "starting")
        proc.start(sys.executable, args)

    def cancel(self) -> None:
        """Ask the command to cancel (SIGTERM: it stops after the current step); a second call
        sends SIGTERM again, which interrupts the step at once. Either way the command removes
        its unfinished run (a SIGKILL would leave it behind)."""
        if self._proc is None:
            return
        if not self._cancelling:
            self._cancelling = True
            self.progress.emit(-1.0, "cancelling…")
        self._proc.terminate()

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the process ends (tests, closing the window)."""
        return self._proc is None or self._proc.waitForFinished(ms)

    # ------------------------------------------------------------------ process output
    def _read_stdout(self, proc: QProcess) -> None:
        self._stdout += bytes(proc.readAllStandardOutput())

    def _read_stderr(self, proc: QProcess) -> None:
        data = self._partial + bytes(proc.readAllStandardError())
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            match = _PROGRESS.match(line)
            if match:
                self.progress.emit(int(match.group(1)) / 100.0, match.group(2))
            elif line.strip():
                self._stderr.append(line)

    def _record(self) -> dict[str, Any] | None:
        for line in reversed(self._stdout.decode("utf-8", "replace").splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def _finished(self, proc: QProcess, code: int) -> None:
        if proc is not self._proc:
            return
        self._read_stderr(proc)
        self._proc = None
        proc.deleteLater()
        record = self._record() or {}
        if code == 0 and record.get("status") == "compressed":
            self.finished.emit(record)
        elif self._cancelling or code == EXIT_INTERRUPTED:
            self.cancelled.emit()
        elif record.get("status") == "invalid":
            self.failed.emit("\n".join(record.get("problems") or ["the request was refused"]))
        else:
            tail = [line for line in self._stderr if not line.startswith(" ")][-3:] or self._stderr[-3:]
            self.failed.emit("\n".join(tail) or f"the compression process ended with code {code}")

    def _error(self, proc: QProcess, error: QProcess.ProcessError) -> None:
        if proc is self._proc and error == QProcess.ProcessError.FailedToStart:
            self._proc = None
            proc.deleteLater()
            self.failed.emit(f"could not start the compression process ({proc.errorString()})")
