"""One sweep trial's process: ``python -m engine.sweep.trial --metric M --channel R,W``.

The driver starts it ahead of time (while the previous trial trains, so torch is already
imported when its turn comes); its first line on the channel names the run directory
(``{"run": RUN_DIR}``; end of file = not needed, exit). It then trains the run directory like
`train` does (its output goes to the run's log.txt) and, after each epoch, sends the epoch's value of the
sweep's metric to the driver over the channel (one JSON line) and waits for its answer: ``prune``
asks the trainer to stop after the current step with status "pruned" (checkpoint kept). The
process dies with the driver (PR_SET_PDEATHSIG): a killed sweep leaves no trial behind.
A parallel trial (processes > 1) runs through the worker; its rank 0 gets the prune request
through the run's control file (within ~0.1 s)."""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import threading
from typing import Any

from engine.runs import RunDir, request_control

#: how long a trial waits for the driver's answer before it trains on
ANSWER_TIMEOUT_S = 60.0


class Channel:
    """The trial's end of the pipes to the driver: `ask(report) -> "prune" | "run"`."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.buffer = b""
        self.lock = threading.Lock()

    def receive(self) -> str:
        """The next line from the driver, waiting as long as it takes ('' at end of file)."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.read_fd, 4096)
            if not chunk:
                return ""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def ask(self, report: dict[str, Any]) -> str:
        with self.lock:
            try:
                os.write(self.write_fd, (json.dumps(report) + "\n").encode())
                while b"\n" not in self.buffer:
                    ready, _, _ = select.select([self.read_fd], [], [], ANSWER_TIMEOUT_S)
                    chunk = os.read(self.read_fd, 4096) if ready else b""
                    if not chunk:
                        return "run"  # no answer (the driver is gone or busy): train on
                    self.buffer += chunk
            except OSError:
                return "run"
            line, _, self.buffer = self.buffer.partition(b"\n")
            return line.decode().strip()


class EpochReporter:
    """An observer of the run's events: after each epoch, asks the driver whether to prune."""

    def __init__(self, channel: Channel, metric: str, on_prune: Any = None):
        self.channel, self.metric = channel, metric
        self.on_prune = on_prune
        self.pruned = False

    def attach(self, reporter: Any) -> None:
        """The run reporter the trainer polls (its `request_prune` stops the loop)."""
        self.on_prune = reporter.request_prune

    def event(self, type: str, **fields: Any) -> None:
        if type != "epoch" or self.pruned:
            return
        value = fields.get(self.metric)
        if not isinstance(value, (int, float)):
            return
        if self.channel.ask({"epoch": int(fields.get("epoch", 0)), "value": value}) == "prune":
            self.pruned = True
            self.on_prune()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.sweep.trial", description=__doc__)
    parser.add_argument("--metric", required=True)
    parser.add_argument("--channel", required=True, help="READ_FD,WRITE_FD of the pipes to the driver")
    args = parser.parse_args(argv)
    from engine.worker import _die_with_parent  # the same guard the ranks use

    _die_with_parent()
    read_fd, write_fd = (int(x) for x in args.channel.split(","))
    channel = Channel(read_fd, write_fd)
    _warm_up()
    line = channel.receive()
    if not line:  # the sweep ended (or stopped) before this standby process got a trial
        return 0
    run = RunDir.open(json.loads(line)["run"])
    _output_into(run)
    spec = run.load_spec()
    if spec.parallel.processes > 1 or spec.parallel.nnodes > 1:
        return _parallel(run, EpochReporter(channel, args.metric, lambda: request_control(run, "prune")))
    return _single(run, EpochReporter(channel, args.metric))


def _warm_up() -> None:
    """Import what training needs while the driver has no trial for this process yet."""
    import engine.data  # noqa: F401  (torch, numpy and the engine's training modules)
    import engine.model  # noqa: F401
    import engine.session  # noqa: F401
    import engine.trainer  # noqa: F401
    import engine.validation  # noqa: F401


def _output_into(run: RunDir) -> None:
    """From now on this process's stdout and stderr go to the run's log.txt."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(run.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _single(run: RunDir, observer: EpochReporter) -> int:
    from engine.session import run_training

    def attach(reporter: Any) -> None:
        observer.attach(reporter)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: reporter.request_stop())

    try:
        result = run_training(run, observers=(observer,), on_reporter=attach)
    except Exception:  # reported into the run directory (error event, status failed) already
        return 1
    return 1 if result.status == "failed" else 0


def _parallel(run: RunDir, observer: EpochReporter) -> int:
    """Several ranks: the worker runs them; a thread follows the events log and forwards epochs."""
    from engine.events import read_events
    from engine.worker import run_worker

    done = threading.Event()

    def follow() -> None:
        offset = 0
        while not done.wait(0.1):
            found, offset = read_events(run.events_path, offset)
            for event in found:
                observer.event(event.get("type", ""), **{k: v for k, v in event.items() if k != "type"})

    thread = threading.Thread(target=follow, name="epoch-reports", daemon=True)
    thread.start()
    try:
        return run_worker(run.path)
    finally:
        done.set()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
