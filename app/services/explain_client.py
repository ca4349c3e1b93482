"""ExplainClient: talks to the explain worker process (engine.interpret.server) from the GUI.

The worker loads the trained run once and answers requests; it runs as a separate OS process
(QProcess), so a Captum error, an out-of-memory or a crash there never takes the window down.
Replies arrive as Qt signals on the GUI thread. `cancel()` kills the worker and starts a fresh
one (the model is loaded again), failing every pending request with "cancelled".

    client = ExplainClient()
    client.ready.connect(on_info)           # dict: kind, class names, methods and their schemas
    client.open(run_dir)
    rid = client.request("explain", index=3, method="Saliency", params={}, target="predicted")
    client.result.connect(lambda rid, op, result: ...)
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QProcess, Signal

from app.services.engine_process import engine_process
from engine.interpret.protocol import dumps, loads


class ExplainClient(QObject):
    """One worker process for one run. States: idle, starting, ready, busy, failed."""

    ready = Signal(dict)                 # the run's info, once the model is loaded
    loadFailed = Signal(str)             # the run cannot be opened (message names the file)
    result = Signal(int, str, dict)      # request id, op, result
    failed = Signal(int, str, str)       # request id, op, message
    progress = Signal(int, float)        # request id, fraction done
    stateChanged = Signal(str)
    crashed = Signal(str)                # the worker died unexpectedly (stderr tail)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._buffer = b""
        self._pending: dict[int, str] = {}
        self._waiting: list[bytes] = []  # requests written once the worker is ready
        self._next_id = 1
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self.state = "idle"
        self.info: dict[str, Any] = {}
        self.run_dir: Path | None = None
        self.checkpoint = "latest"
        app = QCoreApplication.instance()
        if app is not None:  # never leave a worker behind when the app quits
            app.aboutToQuit.connect(self.close)

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self, run_dir: str | Path, checkpoint: str = "latest") -> None:
        """Start a worker for `run_dir` (stopping any previous one)."""
        self._stop(reason="another run was opened")
        self.run_dir, self.checkpoint = Path(run_dir), checkpoint
        self._start()

    def _start(self) -> None:
        assert self.run_dir is not None
        self.info = {}
        self._buffer = b""
        self._stderr.clear()
        proc = engine_process(self)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self._proc = proc
        self._set_state("starting")
        proc.start(sys.executable, ["-m", "engine.interpret.server", str(self.run_dir), "--checkpoint", self.checkpoint])

    def cancel(self) -> None:
        """Stop whatever the worker is doing: kill it and start a fresh one for the same run."""
        if self._proc is None or self.run_dir is None:
            return
        self._stop(reason="cancelled")
        self._start()

    def close(self) -> None:
        """Stop the worker (pending requests fail with "closed")."""
        self._stop(reason="closed")
        self._set_state("idle")

    def _stop(self, reason: str) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for signal in (proc.readyReadStandardOutput, proc.readyReadStandardError, proc.finished, proc.errorOccurred):
                signal.disconnect()
            if proc.state() != QProcess.ProcessState.NotRunning:
                proc.kill()
                proc.waitForFinished(3000)  # SIGKILL: returns at once
            proc.deleteLater()
        self._waiting.clear()
        pending, self._pending = self._pending, {}
        for rid, op in pending.items():
            self.failed.emit(rid, op, reason)

    @property
    def pid(self) -> int | None:
        return int(self._proc.processId()) if self._proc is not None and self._proc.processId() else None

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    # -- requests ----------------------------------------------------------------------------
    def request(self, op: str, **payload: Any) -> int:
        """Queue a request; returns its id (replies carry it). Restarts a dead worker."""
        rid = self._next_id
        self._next_id += 1
        self._pending[rid] = op
        line = dumps({"id": rid, "op": op, **payload})
        if self._proc is None and self.run_dir is not None:
            self._start()
        if self.state == "ready" or self.state == "busy":
            self._write(line)
        else:
            self._waiting.append(line)
        self._set_state("busy" if self.state in ("ready", "busy") else self.state)
        return rid

    def _write(self, line: bytes) -> None:
        if self._proc is not None:
            self._proc.write(line)

    # -- process I/O -------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._buffer += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._dispatch(loads(line))

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", "replace")
        self._stderr.extend(line for line in text.splitlines() if line.strip())

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        rid = int(msg.get("id", -1))
        if "progress" in msg:
            self.progress.emit(rid, float(msg["progress"]))
            return
        if rid == 0:  # the worker's greeting
            if msg.get("ok"):
                self.info = msg["result"]
                self._set_state("ready")
                self.ready.emit(self.info)
                waiting, self._waiting = self._waiting, []
                for line in waiting:
                    self._write(line)
                if self._pending:
                    self._set_state("busy")
            else:
                self._set_state("failed")
                self.loadFailed.emit(message_of(msg))
            return
        op = self._pending.pop(rid, "")
        if msg.get("ok"):
            self.result.emit(rid, op, msg["result"])
        else:
            self.failed.emit(rid, op, message_of(msg))
        if not self._pending and self.state == "busy":
            self._set_state("ready")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        was = self.state
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.deleteLater()
        tail = self.stderr_tail().splitlines()[-6:]
        message = f"the explain worker stopped (exit code {code})" + (":\n" + "\n".join(tail) if tail else "")
        pending, self._pending = self._pending, {}
        self._waiting.clear()
        for rid, op in pending.items():
            self.failed.emit(rid, op, message)
        if was == "starting":
            self._set_state("failed")
            if not self.info:
                self.loadFailed.emit(message)
        else:
            self._set_state("failed")
            self.crashed.emit(message)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._set_state("failed")
            self.loadFailed.emit(f"could not start the explain worker ({sys.executable})")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)


def message_of(msg: dict[str, Any]) -> str:
    """A readable message from an error reply (problems one per line)."""
    if msg.get("problems"):
        return "\n".join(f"{p['path']}: {p['message']}" if p.get("path") else p["message"] for p in msg["problems"])
    return str(msg.get("error", "unknown error"))
