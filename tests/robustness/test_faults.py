"""The fault suite: jobs killed at named points and at random moments leave a run that reads
right, loads and resumes (issues 16 and 17). `benchmarks/faults.py --kills 200` is the long run.

What is checked after every kill (tests/robustness/faultlib.py): every process of the job gone
(no orphans, not hung), the latest checkpoint loads, every complete events line parses, the
status reads "crashed" — or "completed" when rank 0 had written the final checkpoint and status
before the loss — and a `train --resume` of the same directory runs to completion."""
from __future__ import annotations

import json

import pytest

from engine.events import read_events
from engine.runs import effective_status, read_status
from tests.robustness.faultlib import final_status_written, new_run, run_kills, run_session

pytestmark = pytest.mark.slow


def _assert_left_clean(kill) -> None:
    assert kill.fired, f"the fault did not fire: {kill.how}"
    assert not kill.hung and not kill.orphans, kill.notes
    assert not kill.corrupt_checkpoint and not kill.unreadable_events, kill.notes
    assert not kill.wrong_status, kill.notes


def _resume_completes(kind, run) -> None:
    kill, code = run_session(kind, run, False, None)
    assert code == 0 and not kill.hung and not kill.orphans and not kill.unreadable_events, (code, kill.notes)
    assert read_status(run)["status"] == "completed"


def test_ten_random_kills(tmp_path):
    """CI's share of `benchmarks/faults.py`: 10 kills (named points and random SIGKILLs of the CLI,
    the worker or a rank), chains of 3 per run directory, each chain resumed to the end."""
    totals = run_kills(tmp_path, 10, seed=16, ddp_share=0.2, chain=3)
    assert totals.kills == 10
    assert totals.clean, totals.line() + "\n" + "\n".join(totals.problems)


@pytest.mark.parametrize("point", ["before_first_step", "mid_checkpoint#2", "mid_event_write#3", "after_final_status"])
def test_cli_killed_at_a_named_point(point, tmp_path):
    run = new_run(tmp_path, "single")
    kill, _ = run_session("single", run, True, f"{point}:kill@main")
    _assert_left_clean(kill)
    if point == "after_final_status":  # the final checkpoint and status were written: nothing to resume
        assert effective_status(run) == "completed"
        return
    assert effective_status(run) == "crashed"
    _resume_completes("single", run)


def test_resume_before_the_first_checkpoint_starts_from_step_0(tmp_path):
    """Issue 17: a job killed before its first checkpoint resumes from step 0 in the same run
    directory instead of failing; the start event and the log say so."""
    run = new_run(tmp_path, "single")
    kill, _ = run_session("single", run, True, "mid_step#3:kill@main")
    _assert_left_clean(kill)
    assert not (run / "checkpoints" / "latest").exists()
    _resume_completes("single", run)
    starts = [e for e in read_events(run / "events.jsonl")[0] if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["step"] == 0 and not starts[1]["resumed_from"]
    assert "started from step 0" in starts[1]["note"]
    assert "started from step 0" in (run / "log.txt").read_text()


@pytest.mark.parametrize("point,who", [
    ("before_first_step", "rank1"), ("final_eval", "rank0"), ("after_final_status", "rank1"),
    ("teardown", "rank0"), ("worker_exit", "worker"),
])
def test_ddp_rank_or_launcher_lost_at_a_named_point(point, who, tmp_path):
    """Issue 17: the loss of any rank (or the launcher) in any phase ends the job without a
    process left; "completed" when rank 0 wrote the final checkpoint and status before the loss
    (a log line names the lost rank), else "crashed" — and then a resume completes."""
    run = new_run(tmp_path, "ddp-train")
    kill, code = run_session("ddp-train", run, True, f"{point}:kill@{who}")
    _assert_left_clean(kill)
    if final_status_written(run):
        assert effective_status(run) == "completed"
        if who != "worker":
            assert code == 0
            lost = [e for e in read_events(run / "events.jsonl")[0] if e["type"] == "log" and "during shutdown" in e["message"]]
            assert lost and f"rank {who[-1]}" in lost[-1]["message"], json.dumps(lost)
        return
    assert effective_status(run) == "crashed"
    _resume_completes("ddp-train", run)
