"""A stand-in worker for fast GUI tests: writes a run directory exactly as the real worker does
(status.json, events.jsonl through engine.events, log lines), honours stop/pause/resume requests,
and needs no torch. `python tests/app/fake_worker.py RUN_DIR [--steps N] [--delay S] [--fail-at K]
[--phase-delay S] [--exit-delay S]`.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import runs  # noqa: E402
from engine.reporting import RunReporter  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--fail-at", type=int, default=-1)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--ignore-control", action="store_true", help="act on SIGTERM only (a hung worker)")
    parser.add_argument("--startup-delay", type=float, default=0.0, help="seconds before training starts")
    parser.add_argument("--phase-delay", type=float, default=0.0, help="seconds spent in each start-up phase")
    parser.add_argument("--exit-delay", type=float, default=0.0,
                        help="seconds the process lingers after its final status (like the ranks tearing down)")
    args = parser.parse_args(argv)
    time.sleep(args.startup_delay)  # like importing torch: SIGTERM now simply ends the process
    run = runs.RunDir.open(args.run_dir)
    runs.claim(run, "worker")  # like the real worker: own the run directory before writing into it
    reporter = RunReporter(run)
    code = train(args, run, reporter)
    time.sleep(args.exit_delay)
    return code


def train(args: argparse.Namespace, run: runs.RunDir, reporter: RunReporter) -> int:
    for phase in ("starting worker", "loading data", "building model"):  # as the worker and rank 0 report them
        reporter.event("phase", phase=phase)
        reporter.writer.flush()
        time.sleep(args.phase_delay)
    signal.signal(signal.SIGTERM, lambda *_: reporter.request_stop())
    start = 0
    if args.resume and (run.checkpoints / "step.txt").exists():
        start = int((run.checkpoints / "step.txt").read_text())
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    runs.write_status(run, "running", pid=os.getpid())
    reporter.event("start", total_steps=args.steps, total_epochs=epochs, steps_per_epoch=args.steps_per_epoch,
                   world_size=1, resumed_from=start)
    reporter.event("status", status="running")
    reporter.event("log", message=f"fake worker: {args.steps} steps")
    reporter.event("phase", phase="first step")
    reporter.writer.flush()
    time.sleep(args.phase_delay)
    step = start
    while step < args.steps:
        action = reporter.control()
        if args.ignore_control:
            action = "stop" if reporter._stop_asked else "run"
        if action == "pause":
            reporter.event("status", status="paused")
            while reporter.control() == "pause":
                time.sleep(0.05)
            reporter.event("status", status="running")
            continue
        if action == "stop":
            (run.checkpoints / "step.txt").write_text(str(step))
            reporter.event("checkpoint", step=step, path=str(run.checkpoints / "step.txt"))
            reporter.event("status", status="stopped", step=step, message="stopped on request")
            reporter.close()
            return 0
        if step == args.fail_at:
            reporter.event("error", rank=0, step=step, message="ValueError: boom",
                           traceback="Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom")
            reporter.event("status", status="failed", message="ValueError: boom")
            reporter.close()
            return 1
        step += 1
        epoch = step / args.steps_per_epoch
        reporter.event("metric", step=step, epoch=epoch, train_loss=2.0 * math.exp(-step / 80) + 0.05,
                       lr=1e-3, grad_norm=1.0 / (1 + step / 50), samples_per_second=1000.0)
        if step % args.steps_per_epoch == 0:
            (run.checkpoints / "step.txt").write_text(str(step))
            reporter.event("epoch", step=step, epoch=int(epoch), val_loss=1.5 * math.exp(-step / 90) + 0.1,
                           val_accuracy=min(0.99, 0.5 + step / (2 * args.steps)))
            reporter.event("checkpoint", step=step)
        time.sleep(args.delay)
    reporter.event("status", status="completed", step=step, metrics={"train_loss": 0.1})
    reporter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
