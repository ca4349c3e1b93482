"""The ray launcher's follower: the local process that owns a run directory while its Ray job runs.

Started by `RayLauncher.submit` (engine.launchers.ray) in its own session, output to the run's
log.txt: it tails the job's output (`JobSubmissionClient.tail_job_logs`), appends the ranks'
lines to log.txt, writes the job's records into the run directory (:class:`RecordWriter`: in
streamed mode, what rank 0 writes on the cluster), keeps the job's state in status.json,
forwards control requests in streamed mode, and writes the final status when the job ends.
"""
from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from engine.launchers.ray import RAY_STATES, RayLauncher, connect, runtime_env

if TYPE_CHECKING:  # pragma: no cover
    from engine.runs import RunDir


class RecordWriter:
    """Writes the job's records into the local run directory (streamed mode), idempotently: a
    log stream read again from its start re-sends records already applied."""

    def __init__(self, run: "RunDir"):
        self.run = run
        self.events_size = run.events_path.stat().st_size if run.events_path.exists() else 0
        self.log_offset = 0
        self.parts: dict[str, list[bytes]] = {}

    def apply(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "append":
            self._append(record)
        elif kind == "status":
            self._status(dict(record.get("data") or {}))
        elif kind == "file":
            self._file(record)
        elif kind == "append_bytes":
            self._append_bytes(record)
        elif kind == "remove":
            target = self._inside(record.get("path", ""))
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)

    def _inside(self, rel: str, folder: Path | None = None) -> Path | None:
        """The local path of `rel` when it lies inside `folder` (default: checkpoints/), else None."""
        target = (self.run.path / rel).resolve()
        root = (folder or self.run.checkpoints).resolve()
        return target if target.is_relative_to(root) and target != root else None

    def _append_bytes(self, record: dict[str, Any]) -> None:
        target = self._inside(str(record.get("path", "")), self.run.tensorboard)
        if target is None:
            return
        data, offset = base64.b64decode(record.get("data", "")), int(record.get("offset", 0))
        size = target.stat().st_size if target.exists() else 0
        if offset <= size < offset + len(data):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "ab") as f:
                f.write(data[size - offset:])

    def _append(self, record: dict[str, Any]) -> None:
        data = str(record.get("data", "")).encode("utf-8")
        offset = int(record.get("offset", 0))
        if record.get("file") == "events.jsonl":  # the job's copy began as this file: same offsets
            new = data[max(0, self.events_size - offset):] if offset <= self.events_size else b""
            if new:
                with open(self.run.events_path, "ab") as f:
                    f.write(new)
                self.events_size += len(new)
        elif record.get("file") == "log.txt" and offset + len(data) > self.log_offset and offset <= self.log_offset:
            from engine.appendlog import append_text

            append_text(self.run.log_path, data[self.log_offset - offset:].decode("utf-8", "replace"))
            self.log_offset = offset + len(data)

    def _status(self, data: dict[str, Any]) -> None:
        from engine.runs import write_status

        status = data.pop("status", None)
        for key in ("pid", "pid_created", "host", "started", "ended", "updated", "launcher", "job_id"):
            data.pop(key, None)
        if isinstance(data.get("checkpoint"), str):  # the job's path -> the copy here
            data["checkpoint"] = str(self.run.checkpoints / Path(data["checkpoint"]).name)
        if status:
            write_status(self.run, status, pid=os.getpid(), **data)

    def _file(self, record: dict[str, Any]) -> None:
        from engine.atomic import atomic_write_bytes

        rel = str(record.get("path", ""))
        target = self._inside(rel)
        if target is None:
            return
        part, parts = int(record.get("part", 0)), int(record.get("parts", 1))
        chunks = self.parts.setdefault(rel, [])
        if part != len(chunks):  # a repeated stream: start this file over at its first part
            chunks.clear()
            if part:
                return
        chunks.append(base64.b64decode(record.get("data", "")))
        if len(chunks) == parts:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, b"".join(chunks))
            del self.parts[rel]


def parse_output(text: str, pending: str) -> tuple[list[dict[str, Any] | str], str]:
    """Split job output into records (dicts) and plain lines; returns them and the partial tail."""
    from engine.launchers._ray_job import MARK

    lines = (pending + text).split("\n")
    out: list[dict[str, Any] | str] = []
    for line in lines[:-1]:
        at = line.find(MARK)
        if at >= 0:
            try:
                out.append(json.loads(line[at + len(MARK):]))
                continue
            except ValueError:
                pass
        out.append(line)
    return out, lines[-1]


def follow_run(run: "RunDir", launcher: RayLauncher, *, resume: bool = False,
               say: Callable[[str], None] | None = None) -> int:
    """Own the local run directory while its Ray job runs (see the module docstring); returns
    0 (completed / stopped), 1 (failed, crashed) or 2 (another process owns the run)."""
    from engine.event_types import ErrorEvent
    from engine.events import EventWriter
    from engine.problems import SpecError
    from engine.runs import begin_session, claim, end_session, load_status, release, write_status
    from engine.runs.session import result_fields

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        claim(run, "ray follower")
    except SpecError as err:
        say(str(err))
        return 2
    try:
        record = load_status(run)
        job_id, streamer = record.job_id, record.extra.get("job_streamer", "")
        begin_session(run, pid=os.getpid(), launcher="ray", job_id=job_id)
        client = connect(launcher.address, launcher.connect_timeout_s)
        outcome = _follow(client, job_id, run, launcher, streamer, say)
        info = client.get_job_info(job_id)
        state = RAY_STATES.get(str(getattr(info.status, "value", info.status)), "UNKNOWN")
        write_status(run, load_status(run).status or "running", job_state=state)
        result, failures = outcome["result"], outcome["failures"]
        final, fields, message = None, {}, ""
        if isinstance(result, dict) and result.get("status") in ("completed", "stopped", "failed", "pruned"):
            final, fields, message = result["status"], result_fields(result), result.get("message", "")
        if failures:
            killed = any(f.get("killed") for f in failures)
            final = final if final in ("completed", "stopped") else ("crashed" if killed else "failed")
            message = "; ".join(f["message"] for f in failures)
            with EventWriter(run.events_path) as events:
                for f in failures:
                    events.emit(ErrorEvent(message=f["message"], traceback=f.get("traceback", ""), rank=f.get("rank", -1)))
            say(message)
        if final is None:
            final = "stopped" if state == "CANCELLED" else "failed"
            message = f"the Ray job {job_id} ended {state} without a result: {info.message or 'see log.txt'}"
            say(message)
        if message:
            fields["message"] = message
        written = end_session(run, final, force=final == "crashed", **fields)
        return 0 if written["status"] in ("completed", "stopped", "pruned") else 1
    except Exception as err:
        say(f"ray follower: {type(err).__name__}: {err}")
        end_session(run, "failed", message=f"following the Ray job failed: {type(err).__name__}: {err}")
        return 1
    finally:
        release(run)


class _HandlingFailed(Exception):
    """Applying one of the job's records here failed: not a lost connection, so not retried."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error

    def explained(self, run: "RunDir", job_id: str) -> RuntimeError:
        err = self.error
        return RuntimeError(f"applying the job's output to {run.path} failed ({type(err).__name__}: {err}); the job "
                            f"{job_id} may still run: `ray job status` / `ray job stop` it there")


#: how long the follower keeps trying to reach a cluster that stopped answering before it gives up
LOST_CONTACT_S = 120.0
#: the pause before reading the log again
RETRY_S = 2.0


def _follow(client: Any, job_id: str, run: "RunDir", launcher: RayLauncher, streamer: str,
            say: Callable[[str], None]) -> dict[str, Any]:
    """Tail the job's output until it ends; apply its records; forward control requests. The
    log is read again from its start after a lost connection: what was handled is skipped."""
    import asyncio
    import time

    from engine.appendlog import append_text
    from engine.runs import write_status

    writer = RecordWriter(run)
    outcome: dict[str, Any] = {"result": None, "failures": []}
    control = _ControlForwarder(run, launcher, client, streamer) if launcher.mode == "streamed" else None
    handled = 0  # items (lines and records) of the job's log handled so far

    def handle(item: dict[str, Any] | str) -> None:
        if isinstance(item, str):
            if item.strip():
                append_text(run.log_path, item)
            return
        kind = item.get("kind")
        if kind == "result":
            outcome["result"] = item.get("result")
        elif kind == "failure":
            outcome["failures"].append(item)
        elif kind == "pending":
            write_status(run, "running", job_state="PENDING", job_reason=item.get("message", ""))
        elif kind == "ranks":
            nodes = ",".join(sorted({r.get("host", "?") for r in item.get("ranks", [])}))
            write_status(run, "running", job_state="RUNNING", job_reason="", job_nodes=nodes)
        else:
            writer.apply(item)

    class Pass:
        """One reading of the log from its start."""

        def __init__(self) -> None:
            self.index, self.pending = 0, ""

        def feed(self, text: str, *, last: bool = False) -> None:
            nonlocal handled
            items, self.pending = parse_output(text + ("\n" if last and not text.endswith("\n") else ""), self.pending)
            for item in items:
                self.index += 1
                if self.index > handled:
                    try:
                        handle(item)
                    except Exception as err:  # our side (a full disk, a bad record): reading again cannot mend it
                        raise _HandlingFailed(err) from err
                    handled = self.index
            if control is not None:
                control.poll()

    async def tail() -> None:
        reading = Pass()
        async for chunk in client.tail_job_logs(job_id):
            reading.feed(chunk)
        if reading.pending:
            reading.feed("", last=True)

    async def main() -> None:
        task = asyncio.ensure_future(tail())
        while not task.done():  # requests are forwarded while the job is quiet too
            await asyncio.wait([task], timeout=0.5)
            if control is not None:
                control.poll()
        await task

    lost_since = None
    while True:
        try:
            asyncio.run(main())
            return outcome
        except _HandlingFailed as failed:
            raise failed.explained(run, job_id) from failed.error
        except Exception as err:  # the connection dropped (or the cluster stopped answering)
            try:
                status = str(getattr(client.get_job_status(job_id), "value", ""))
            except Exception:
                status = ""
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):  # it ended meanwhile: read the rest at once
                try:
                    Pass().feed(client.get_job_logs(job_id), last=True)
                except _HandlingFailed as failed:
                    raise failed.explained(run, job_id) from failed.error
                return outcome
            lost_since = lost_since or time.time()
            if time.time() - lost_since > LOST_CONTACT_S:
                raise RuntimeError(f"lost contact with the Ray cluster at {launcher.address} for over "
                                   f"{LOST_CONTACT_S:.0f} s ({type(err).__name__}: {err}); the job {job_id} may still "
                                   "run: `ray job status` / `ray job stop` it there") from None
            say(f"reading the job's log failed ({type(err).__name__}: {err}); reading it again")
            time.sleep(RETRY_S)
            if status:
                lost_since = None


class _ControlForwarder:
    """Streamed mode: a new request in the local control.json goes to rank 0 through a control
    job (which hands it to the run's streamer actor on the cluster)."""

    def __init__(self, run: "RunDir", launcher: RayLauncher, client: Any, streamer: str):
        self.run, self.launcher, self.client, self.streamer = run, launcher, client, streamer
        self.seen = self._read()

    def _read(self) -> str:
        try:
            return self.run.control_path.read_text()
        except OSError:
            return ""

    def poll(self) -> None:
        text = self._read()
        if text == self.seen:
            return
        self.seen = text
        try:
            action = json.loads(text).get("action")
        except ValueError:
            return
        if action in ("stop", "pause", "resume", "prune"):
            args = [self.launcher.python, "-m", "engine.launchers._ray_job", "--control", action, "--streamer", self.streamer]
            self.client.submit_job(entrypoint=shlex.join(args), runtime_env=runtime_env(self.launcher, None),
                                   metadata={"netwright_run": self.run.id, "netwright_control": action})


def follow_main(argv: list[str]) -> int:
    """The follower process: ``follow_main([RUN_DIR, "--resume"?])`` (started by `submit`)."""
    import logging

    from engine.runs import RunDir

    logging.getLogger("ray").setLevel(logging.WARNING)  # (the client's INFO lines are not the run's log)
    run = RunDir.open(argv[0])
    spec = run.load_spec()
    launcher = RayLauncher(spec.launcher.options)
    return follow_run(run, launcher, resume="--resume" in argv[1:])
