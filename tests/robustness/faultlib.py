"""The fault harness shared by tests/robustness/test_faults.py and benchmarks/faults.py.

A *chain* trains one run directory through several killed sessions and one final resume:

1. start a job (a single-process `train`, or a 2-rank DDP job through `train` or `worker`);
2. kill it: a named fault point (engine.faults, ``NETWRIGHT_FAULT=point:kill@who``) or a
   SIGKILL of the CLI, the worker or a rank after a random delay;
3. check what is left: every process of the job gone within 10 s of the loss (else *hung*) and
   none left behind (*orphans*), the latest checkpoint loads (*corrupt checkpoints*), every
   complete line of events.jsonl parses (*unreadable events*), and the status reads "crashed",
   or "completed" when the final status was written before the loss (*wrong status*);
4. the next session of the chain is a `train --resume` of the same directory (killed again),
   and the last one runs to the end: it must exit 0 with status "completed" (*failed resumes*).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

REPO = Path(__file__).resolve().parents[2]

SPEC = """
name = "faults"
seed = 1
[data]
source = "random"
batch_size = 16
val_fraction = 0.2
shape = [12]
classes = 3
samples = 400
[model]
layers = [{type = "Linear", out_features = 32}, {type = "ReLU"}, {type = "Linear", out_features = 0}]
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 4
log_every = 1
checkpoint_every = 1
device = "cpu"
"""
DDP = '\n[parallel]\nstrategy = "ddp"\nprocesses = 2\n'

#: named kill points and who may be killed there, per job kind
SINGLE_POINTS = ["before_first_step", "mid_step#7", "mid_step#23", "mid_checkpoint#1", "mid_checkpoint#2",
                 "mid_event_write#2", "mid_event_write#5", "final_eval", "final_checkpoint", "after_final_status"]
RANK_POINTS = ["before_first_step", "mid_step#5", "mid_step#30", "final_eval", "final_checkpoint",
               "after_final_status", "teardown"]
RANK0_ONLY = ["mid_checkpoint#1", "mid_checkpoint#3", "mid_event_write#3"]  # rank 0 writes files
ENDED_WITHIN_S = 10.0  # a lost process must take the whole job down this fast (issue 17)
HUNG_AFTER_S = 60.0    # still running this long after the loss: hung (a loaded machine may exceed 10 s)


@dataclass
class Kill:
    """One killed session and what was found after it."""

    kind: str            # single | ddp-train | ddp-worker
    how: str             # e.g. "mid_step#7:kill@rank1" or "sigkill rank1 after 3.2 s"
    fired: bool = False  # the job was really killed (not finished before the fault)
    status: str = ""
    hung: bool = False
    end_seconds: float = 0.0  # from the loss (first process gone) to the last process of the job gone
    orphans: int = 0
    corrupt_checkpoint: bool = False
    unreadable_events: int = 0
    wrong_status: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Totals:
    kills: int = 0
    corrupt_checkpoints: int = 0
    unreadable_events: int = 0
    failed_resumes: int = 0
    hung_jobs: int = 0
    orphans: int = 0
    wrong_status: int = 0
    slow_ends: int = 0       # ended, but more than ENDED_WITHIN_S after the loss
    max_end_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(self, kill: Kill) -> None:
        if not kill.fired:
            return
        self.kills += 1
        self.corrupt_checkpoints += kill.corrupt_checkpoint
        self.unreadable_events += kill.unreadable_events
        self.hung_jobs += kill.hung
        self.orphans += kill.orphans
        self.wrong_status += kill.wrong_status
        self.slow_ends += kill.end_seconds > ENDED_WITHIN_S and not kill.hung
        self.max_end_seconds = max(self.max_end_seconds, kill.end_seconds)
        if kill.corrupt_checkpoint or kill.unreadable_events or kill.hung or kill.orphans or kill.wrong_status:
            self.problems.append(f"{kill.kind} {kill.how}: status {kill.status}; " + "; ".join(kill.notes))

    def merge(self, other: "Totals") -> None:
        for name in ("kills", "corrupt_checkpoints", "unreadable_events", "failed_resumes", "hung_jobs", "orphans",
                     "wrong_status", "slow_ends"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_end_seconds = max(self.max_end_seconds, other.max_end_seconds)
        self.problems += other.problems

    def line(self) -> str:
        return (f"kills {self.kills}, corrupt checkpoints {self.corrupt_checkpoints}, unreadable events "
                f"{self.unreadable_events}, failed resumes {self.failed_resumes}, hung jobs {self.hung_jobs}, "
                f"orphans {self.orphans}, wrong status {self.wrong_status}; slowest end {self.max_end_seconds:.1f} s "
                f"after the loss ({self.slow_ends} over {ENDED_WITHIN_S:.0f} s)")

    @property
    def clean(self) -> bool:
        return not (self.corrupt_checkpoints or self.unreadable_events or self.failed_resumes or self.hung_jobs
                    or self.orphans or self.wrong_status)


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "NETWRIGHT_FAULT"}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), out.get("PYTHONPATH", "")]))
    out["OMP_NUM_THREADS"] = "1"
    out.update(extra)
    return out


def new_run(root: Path, kind: str) -> Path:
    """A fresh run directory for a chain of `kind`."""
    from engine.runs import RunDir
    from engine.spec import ExperimentSpec

    spec = ExperimentSpec.from_toml(SPEC + (DDP if kind != "single" else ""))
    return RunDir.create(root, spec).path


def command(kind: str, run: Path, first: bool) -> list[str]:
    """The session's command line: `train` (or the `worker` the app starts) of `run`."""
    base = [sys.executable, "-m", "engine"]
    if kind == "ddp-worker":
        return base + ["worker", str(run)] + ([] if first else ["--resume"])
    return base + ["train", str(run), "--quiet"] if first else base + ["train", "--resume", str(run), "--quiet"]


def _descendants(proc: psutil.Process) -> set[int]:
    try:
        return {p.pid for p in proc.children(recursive=True)}
    except psutil.Error:
        return set()


def run_session(kind: str, run: Path, first: bool, fault: str | None = None, *, kill_after: float | None = None,
                who: str = "main", timeout: float = 120.0) -> tuple[Kill, int | None]:
    """One session of `run`; killed by `fault` (NETWRIGHT_FAULT) or a SIGKILL of `who` after
    `kill_after` seconds of training (None: let it finish). Returns (what happened, exit code)."""
    from engine.worker import rank_pids

    how = fault or (f"sigkill {who} after {kill_after:.1f} s" if kill_after is not None else "no fault")
    kill = Kill(kind, how)
    extra = {"NETWRIGHT_FAULT": fault} if fault else {}
    events_at = _size(run / "events.jsonl")
    stderr_at = _size(run / "session-stderr.txt")
    with open(run / "session-stderr.txt", "ab") as err:
        proc = subprocess.Popen(command(kind, run, first), cwd=REPO, env=env(**extra), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    tracked = {proc.pid}
    root = psutil.Process(proc.pid)
    end = time.monotonic() + timeout
    started_training = None
    first_loss = None
    while proc.poll() is None and time.monotonic() < end:
        tracked |= _descendants(root)
        ranks = {pid for pid in rank_pids(run).values() if pid in tracked}
        if first_loss is None and any(_gone(pid) for pid in ranks):
            first_loss = time.monotonic()
        if kill_after is not None and started_training is None and _training(run, events_at):
            started_training = time.monotonic()
        if kill_after is not None and started_training is not None and time.monotonic() - started_training >= kill_after:
            pid = proc.pid if who in ("main", "worker") else rank_pids(run).get(int(who.removeprefix("rank")))
            if pid is not None and pid in tracked:
                try:
                    os.kill(pid, signal.SIGKILL)
                    kill.fired = True
                    first_loss = time.monotonic()
                except OSError:
                    pass
                kill_after = None
        time.sleep(0.05)
    if proc.poll() is None:
        kill.hung = True
        kill.notes.append(f"still running after {timeout:.0f} s")
        _kill_tree(proc, tracked)
    code = proc.wait()
    ended = time.monotonic()
    if fault:
        kill.fired = code == -signal.SIGKILL or _new_text_has(run, events_at, stderr_at, "killed by SIGKILL")
    if kill.fired and first_loss is not None:
        kill.end_seconds = ended - first_loss
        if kill.end_seconds > HUNG_AFTER_S and not kill.hung:
            kill.hung = True
            kill.notes.append(f"the job ended {kill.end_seconds:.1f} s after the loss")
    _check_left(kill, tracked, run)
    return kill, code


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _new_text_has(run: Path, events_at: int, stderr_at: int, text: str) -> bool:
    """Whether this session's part of the events log or stderr holds `text`."""
    for name, offset in (("events.jsonl", events_at), ("session-stderr.txt", stderr_at)):
        try:
            with open(run / name, "rb") as fh:
                fh.seek(offset)
                if text.encode() in fh.read():
                    return True
        except OSError:
            continue
    return False


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _training(run: Path, offset: int) -> bool:
    """This session has started training (its `start` event is in the log)."""
    from engine.events import read_events

    found, _ = read_events(run / "events.jsonl", offset)
    return any(e.get("type") in ("start", "metric") for e in found)


def _kill_tree(proc: subprocess.Popen, tracked: set[int]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for pid in tracked:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _check_left(kill: Kill, tracked: set[int], run: Path) -> None:
    """Orphans, checkpoint, events and status after a session ended."""
    from engine.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
    from engine.runs import effective_status

    alive = []
    for pid in tracked:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            continue
    if alive:
        _, alive = psutil.wait_procs(alive, timeout=ENDED_WITHIN_S)
    if alive:
        kill.orphans = len(alive)
        kill.notes.append(f"left behind: {[(p.pid, ' '.join(p.cmdline()[-3:])) for p in alive]}")
        for p in alive:
            p.kill()
    folder = latest_checkpoint(run / "checkpoints")
    if (run / "checkpoints" / "latest").exists():
        try:
            if folder is None:
                raise CheckpointError([])
            load_checkpoint(folder)
        except CheckpointError as err:
            kill.corrupt_checkpoint = True
            kill.notes.append(f"checkpoint: {err}")
    bad = unreadable_lines(run / "events.jsonl")
    if bad:
        kill.unreadable_events = len(bad)
        kill.notes.append(f"unreadable event lines: {bad[:3]}")
    kill.status = effective_status(run)
    expected = "completed" if final_status_written(run) else "crashed"
    never_started = kill.status == "created" and not _has_event(run, "start")  # killed before it recorded a start
    if kill.fired and kill.status != expected and not never_started:
        kill.wrong_status = True
        kill.notes.append(f"status {kill.status!r}, expected {expected!r}")


def _has_event(run: Path, kind: str) -> bool:
    from engine.events import read_events

    return any(e.get("type") == kind for e in read_events(run / "events.jsonl")[0])


def unreadable_lines(path: Path) -> list[str]:
    """Complete lines of an events file that are not JSON objects (a trailing partial line is
    not complete: the next writer must cut it off before appending)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    end = data.rfind(b"\n")
    bad = []
    for line in data[: end + 1].splitlines():
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line[:80].decode(errors="replace"))
        except ValueError:
            bad.append(line[:80].decode(errors="replace"))
    return bad


def final_status_written(run: Path) -> bool:
    """The last session wrote its final "completed" status (event log or status.json)."""
    from engine.runs import read_status

    return read_status(run).get("status") == "completed"


def pick_fault(kind: str, rng: random.Random) -> tuple[str | None, float | None, str]:
    """A fault for one session of `kind`: (NETWRIGHT_FAULT value or None, random kill delay, who)."""
    if kind == "single":
        if rng.random() < 0.6:
            return f"{rng.choice(SINGLE_POINTS)}:kill@main", None, "main"
        return None, rng.uniform(0.0, 1.2), "main"  # a session trains for about a second
    if rng.random() < 0.6:
        who = rng.choice(["rank0", "rank1", "worker"])
        if who == "worker":
            return "worker_exit:kill@worker", None, who
        point = rng.choice(RANK_POINTS + (RANK0_ONLY if who == "rank0" else []))
        return f"{point}:kill@{who}", None, who
    return None, rng.uniform(0.0, 4.0), rng.choice(["worker", "rank0", "rank1"])


def run_chain(root: Path, kind: str, kills: int, rng: random.Random, totals: Totals,
              say: Callable[[str], None] = lambda text: None) -> None:
    """Kill `kills` sessions of one run directory of `kind`, then resume it to the end."""
    run = new_run(root, kind)
    first = True
    done = 0
    attempts = 0
    while done < kills and attempts < kills * 3:
        attempts += 1
        if final_status_written(run):  # the run completed before a fault hit: start a new one
            run, first = new_run(root, kind), True
        fault, delay, who = pick_fault(kind, rng)
        kill, code = run_session(kind, run, first, fault, kill_after=delay, who=who)
        totals.add(kill)
        say(f"{kind:10s} {kill.how:34s} -> exit {code}, status {kill.status}" + (" (not fired)" if not kill.fired else "")
            + (f"  PROBLEM: {'; '.join(kill.notes)}" if kill.notes else ""))
        if kill.fired:
            done += 1
        elif code not in (0, None) and not first:
            totals.failed_resumes += 1
            totals.problems.append(f"{kind} resume of {run.name} failed with exit {code}: {_tail(run)}")
        first = False
    if final_status_written(run):
        return
    kill, code = run_session(kind, run, False, None)
    ok = code == 0 and final_status_written(run) and not kill.hung
    say(f"{kind:10s} {'final resume':34s} -> exit {code}, status {kill.status}" + ("" if ok else f"  FAILED: {_tail(run)}"))
    if not ok:
        totals.failed_resumes += 1
        totals.problems.append(f"{kind} final resume of {run.name}: exit {code}, status {kill.status}: {_tail(run)}")
    for name in ("corrupt_checkpoint", "unreadable_events", "orphans", "hung"):
        if getattr(kill, name):
            totals.problems.append(f"{kind} final resume of {run.name}: {name}: {kill.notes}")
    totals.corrupt_checkpoints += kill.corrupt_checkpoint
    totals.unreadable_events += kill.unreadable_events
    totals.orphans += kill.orphans
    totals.hung_jobs += kill.hung


def _tail(run: Path) -> str:
    for name in ("session-stderr.txt", "log.txt"):
        try:
            text = (run / name).read_text(errors="replace").strip().splitlines()
        except OSError:
            continue
        if text:
            return " | ".join(text[-3:])[-400:]
    return ""


def run_kills(root: Path, kills: int, *, seed: int = 0, ddp_share: float = 0.35, chain: int = 3, jobs: int = 1,
              say: Callable[[str], None] = lambda text: None) -> Totals:
    """`kills` kills in chains of up to `chain` per run directory; about `ddp_share` of the chains
    are 2-rank DDP jobs (half started through `train`, half through `worker`); `jobs` chains run
    at once (each in its own run directory)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(seed)
    plan = []
    left = kills
    while left > 0:
        r = rng.random()
        kind = "single" if r >= ddp_share else ("ddp-train" if r < ddp_share / 2 else "ddp-worker")
        plan.append((kind, min(chain, left), rng.randrange(1 << 30)))
        left -= plan[-1][1]

    def one(item) -> Totals:
        kind, n, chain_seed = item
        part = Totals()
        chain_rng = random.Random(chain_seed)
        while part.kills < n:  # a chain whose faults did not fire is drawn again
            before = part.kills
            run_chain(root, kind, n - part.kills, chain_rng, part, say)
            if part.kills == before and len(part.problems) > 50:
                break
        return part

    totals = Totals()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for part in pool.map(one, plan):
            totals.merge(part)
    return totals
