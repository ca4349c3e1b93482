"""The `train` command's progress display on stderr (an event observer).

On a terminal: a live bar (epoch, step, loss, throughput, ETA) with epoch summaries printed
above it. Otherwise (a log file, a pipe): one line per epoch, nothing redrawn."""
from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

from engine.metrics import format_metrics


def _fmt_seconds(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _fmt_metrics(fields: dict[str, Any]) -> str:
    return format_metrics(fields)


class Progress:
    """Receives the trainer's events and draws progress on `stream`."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.total = 0
        self.epochs = 0
        self.first_step = 0
        self.t0 = time.monotonic()
        self.line = ""

    def event(self, type: str, **fields: Any) -> None:
        handler = getattr(self, f"_on_{type}", None)
        if handler is not None:
            handler(fields)

    def _write_line(self, text: str) -> None:
        if self.live and self.line:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        if self.live and self.line:
            self.stream.write(self.line)
        self.stream.flush()

    def _on_start(self, f: dict[str, Any]) -> None:
        self.total, self.epochs, self.first_step = f["total_steps"], f["epochs"], f.get("step", 0)
        self.t0 = time.monotonic()
        resumed = f" (resumed at step {f['step']})" if f.get("resumed_from") else ""
        self._write_line(f"training {f['params']:,} parameters on {f['device']}: {f['epochs']} epochs x "
                         f"{f['steps_per_epoch']} steps, batch {f['global_batch']}{resumed}")

    def _on_metric(self, f: dict[str, Any]) -> None:
        if not self.live or not self.total:
            return
        step = f["step"]
        done = min(1.0, step / self.total)
        elapsed = time.monotonic() - self.t0
        rate = (step - self.first_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        width = max(10, min(30, shutil.get_terminal_size((100, 20)).columns - 80))
        bar = "#" * int(done * width) + "." * (width - int(done * width))
        self.line = (f"[{bar}] {done:4.0%} epoch {f['epoch']:.1f}/{self.epochs} step {step}/{self.total} "
                     f"loss {f['train_loss']:.4f} {f['samples_per_s']:.0f}/s ETA {_fmt_seconds(eta)}")
        self.stream.write("\r\033[K" + self.line)
        self.stream.flush()

    def _on_epoch(self, f: dict[str, Any]) -> None:
        self._write_line(f"epoch {f['epoch']}/{self.epochs}  step {f['step']}  {_fmt_metrics(f)}  "
                         f"({f.get('epoch_seconds', 0):.1f}s)")

    def _on_checkpoint(self, f: dict[str, Any]) -> None:
        if not self.live:
            return
        self._write_line(f"checkpoint {f['path']}")

    def _on_error(self, f: dict[str, Any]) -> None:
        rank = f" (rank {f['rank']})" if f.get("rank") else ""
        self._write_line(f"error{rank}: {f.get('message', '')}")

    def _on_log(self, f: dict[str, Any]) -> None:
        if f.get("level", "info") != "info":
            self._write_line(f"{f['level']}: {f.get('message', '')}")

    def _on_status(self, f: dict[str, Any]) -> None:
        status = f.get("status")
        if status in ("completed", "stopped", "failed", "pruned"):
            if self.live and self.line:
                self.stream.write("\r\033[K")
                self.line = ""
            message = f" — {f['message']}" if f.get("message") else ""
            self._write_line(f"{status} after {f.get('step', 0)} steps in {_fmt_seconds(time.monotonic() - self.t0)}{message}")
        elif status == "paused":
            self._write_line("paused (resume with `resume RUN_DIR`)")
