"""The ray launcher: a run's ranks as a Ray job on a Ray cluster, one actor per rank.

``submit`` checks that the address answers (within `connect_timeout_s`; nothing is started when
it does not), submits ``python -m engine.launchers._ray_job ...`` through Ray's job submission
API (runtime env: this machine's `engine` package uploaded, or the one installed on the cluster),
records ``launcher = "ray"`` and the job id in the run's status and starts the local
**follower** (:func:`follow_run`, its own process): it owns the local run directory while the job
runs, tails the job's output into log.txt and, in streamed mode, writes what rank 0 writes on the
cluster (events, status, checkpoints, TensorBoard files) into the local run directory, forwards
stop / pause / resume requests of control.json to rank 0 (through a small control job), and
writes the final status with the job's outcome (a failed rank named with its traceback; engine.launchers._ray_follow).

Modes (`mode`): **shared** — the run directory is a path every node mounts (checked before the
ranks start: a probe file written here is read by the job and each rank); **streamed** — the
ranks train in node-local copies and rank 0's files come back through the job's log stream.
The cluster side is engine.launchers._ray_job.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.launchers.base import JobState, LaunchError, Launcher, Submission, register
from engine.problems import Problem
from engine.registry import Param

if TYPE_CHECKING:  # pragma: no cover
    from engine.runs import RunDir
    from engine.spec import ExperimentSpec

#: Ray's job states -> the scheduler states the Monitor and `runs` show (Slurm's names)
RAY_STATES = {"PENDING": "PENDING", "RUNNING": "RUNNING", "SUCCEEDED": "COMPLETED", "FAILED": "FAILED",
              "STOPPED": "CANCELLED"}
DEFAULT_PORTS = {"ray": 10001, "http": 8265, "https": 443}
PROBE = ".ray-probe"
ENGINE_DIR = Path(__file__).resolve().parent.parent
INSTALL_HINT = "pip install 'netwright[ray]' (Ray's job submission client needs ray[default])"


def require_ray():
    """The Ray job submission client, or LaunchError with the install hint."""
    try:
        from ray.job_submission import JobSubmissionClient  # (heavy: only when a Ray launcher is used)
    except ImportError as err:
        raise LaunchError([Problem("launcher.kind", f"the ray launcher needs Ray ({err.name or err} is not "
                                                    f"installed): {INSTALL_HINT}")]) from None
    return JobSubmissionClient


def ray_installed() -> bool:
    """Is Ray importable here? (finds the package without importing it)"""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def endpoint(address: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a Ray address: ``ray://HEAD:10001`` or ``http://HEAD:8265``."""
    parts = urlsplit(address if "://" in address else f"http://{address}")
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise LaunchError([Problem("launcher.address", f"{address!r} is not a Ray address: give the job submission "
                                                       "address http://HEAD:8265 or a Ray Client address ray://HEAD:10001")])
    return parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]


def check_reachable(address: str, timeout: float) -> None:
    """LaunchError unless something accepts a connection at `address` within `timeout` seconds."""
    scheme, host, port = endpoint(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as err:
        why = (f"no answer within {timeout:g} s" if isinstance(err, (socket.timeout, TimeoutError))
               else (err.strerror or str(err)).lower())
    raise LaunchError([Problem("launcher.address", f"no Ray cluster answers at {address} ({host}:{port}: {why}): "
                                                   "start the head (`ray start --head`) or fix the address (job "
                                                   "submission: http://HEAD:8265; Ray Client: ray://HEAD:10001)")])


#: Ray Client address -> the job server's http address it named (a Ray Client connection takes seconds)
_JOB_SERVERS: dict[str, str] = {}


def connect(address: str, timeout: float = 5.0):
    """A JobSubmissionClient for `address`, failing within about `timeout` seconds."""
    client_cls = require_ray()
    check_reachable(address, timeout)
    target = _JOB_SERVERS.get(address) or (address if "://" in address else f"http://{address}")
    try:
        client = client_cls(target)
    except Exception as err:  # it answered, but not as a Ray dashboard / job server
        raise LaunchError([Problem("launcher.address", f"{address} answers but is not a Ray job server "
                                                       f"({type(err).__name__}: {err})")]) from None
    if address.startswith("ray://"):
        _JOB_SERVERS[address] = client.get_address()
    return client


# ----------------------------------------------------------------------------- the job

def job_arguments(launcher: "RayLauncher", run: "RunDir", spec: "ExperimentSpec", *, resume: bool, probe: str = "PROBE",
                  streamer: str = "STREAMER") -> list[str]:
    """The job's entrypoint as an argument list (the plan shows it)."""
    par = spec.parallel
    args = [launcher.python, "-m", "engine.launchers._ray_job", "--mode", launcher.mode,
            "--ranks", str(par.processes * par.nnodes), "--cpus-per-rank", f"{launcher.cpus_per_rank:g}",
            "--gpus-per-rank", f"{launcher.gpus_per_rank:g}", "--placement", launcher.placement,
            "--wait-for-resources", f"{launcher.wait_for_resources_s:g}"]
    if launcher.mode == "shared":
        args += ["--run-dir", str(Path(run.path).resolve()), "--probe", probe]
    else:
        args += ["--scratch", launcher.scratch_dir, "--streamer", streamer]
    return args + (["--resume"] if resume else [])


def runtime_env(launcher: "RayLauncher", staging: Path | None) -> dict[str, Any]:
    """The job's runtime env: the engine package uploaded (code = upload), the staged run files
    as the working directory (streamed), and how long `ray job stop` waits for a graceful end."""
    env: dict[str, Any] = {"env_vars": {"PYTHONUNBUFFERED": "1", "RAY_JOB_STOP_WAIT_TIME_S": str(int(launcher.stop_grace_s))}}
    if launcher.code == "upload":
        env["py_modules"] = [str(ENGINE_DIR)]
        env["excludes"] = ["__pycache__", "*.pyc"]
    if staging is not None:
        env["working_dir"] = str(staging)
    return env


def stage(run: "RunDir", resume: bool) -> Path:
    """A temporary folder with what the streamed job needs: spec.toml, events.jsonl (its `seq`
    continues) and, to resume, the latest checkpoint with its pointer."""
    from engine.checkpoint import latest_checkpoint

    staging = Path(tempfile.mkdtemp(prefix="netwright-ray-stage-"))
    shutil.copy2(run.spec_path, staging / "spec.toml")
    if run.events_path.exists():
        shutil.copy2(run.events_path, staging / "events.jsonl")
    latest = latest_checkpoint(run.checkpoints) if resume else None
    if latest is not None:
        shutil.copytree(latest, staging / "checkpoints" / latest.name)
        (staging / "checkpoints" / "latest").write_text(latest.name + "\n")
    return staging


# ----------------------------------------------------------------------------- the launcher

@register
class RayLauncher(Launcher):
    name = "ray"
    label = "Ray"
    description = "A Ray job on a Ray cluster: one actor per rank in a placement group, torch.distributed inside them"
    params = (
        Param("address", "str", "http://127.0.0.1:8265", "The cluster: its job submission address http://HEAD:8265, "
              "or a Ray Client address ray://HEAD:10001", label="Cluster address"),
        Param("mode", "choice", "streamed", "shared: the run folder is on a filesystem every node mounts; streamed: "
              "the ranks train in node-local folders and rank 0's events, status and checkpoints stream back here",
              choices=("streamed", "shared"), label="Run folder"),
        Param("cpus_per_rank", "float", 1.0, "CPUs each rank's actor reserves", min=0.0, label="CPUs per rank"),
        Param("gpus_per_rank", "float", 0.0, "GPUs each rank's actor reserves (1 for one GPU per rank with NCCL)",
              min=0.0, label="GPUs per rank"),
        Param("placement", "choice", "PACK", "How the placement group places the ranks: PACK fills nodes, SPREAD "
              "spreads them (STRICT_ variants fail rather than bend)",
              choices=("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"), label="Placement"),
        Param("code", "choice", "upload", "upload: this machine's engine package goes with the job; installed: the "
              "cluster's Python has netwright installed", choices=("upload", "installed"), label="Netwright code"),
        Param("python", "str", "python", "The Python the job runs on the cluster (with torch installed)",
              label="Python on the nodes"),
        Param("scratch_dir", "str", "/tmp/netwright-ray", "streamed: where each node keeps the ranks' folders",
              label="Scratch folder on the nodes"),
        Param("connect_timeout_s", "float", 5.0, "How long the address may take to answer", min=0.1,
              label="Connect timeout (s)"),
        Param("wait_for_resources_s", "float", 0.0, "Give up when the cluster has not placed the ranks after this "
              "many seconds (0: wait, as a queued job does)", min=0.0, label="Wait for resources (s)"),
        Param("stop_grace_s", "float", 60.0, "After `ray job stop`, how long the job may take to stop gracefully",
              min=1.0, label="Stop grace time (s)"),
    )

    def script(self, run_dir: str | Path, spec: "ExperimentSpec") -> str:
        from engine.runs import RunDir

        args = job_arguments(self, RunDir(Path(run_dir)), spec, resume=False)
        env = runtime_env(self, Path("STAGED_RUN_FILES") if self.mode == "streamed" else None)
        return (f"ray job submit --address {self.address} --runtime-env-json {shlex.quote(json.dumps(env))} -- "
                + shlex.join(args))

    def check(self, spec: "ExperimentSpec", plan: Any = None) -> list[Problem]:
        from engine.devices import uses_gpu  # (a pure probe of the spec's device)

        problems = []
        if not ray_installed():
            problems.append(Problem("launcher.kind", f"the ray launcher needs Ray, which is not installed: {INSTALL_HINT}"))
        try:
            endpoint(self.address)
        except LaunchError as err:
            problems += err.problems
        if uses_gpu(spec) and not self.gpus_per_rank:
            problems.append(Problem("launcher.gpus_per_rank", "the spec trains on GPUs: give each rank a GPU "
                                                              "(gpus_per_rank = 1)"))
        return problems

    def preflight(self, run: "RunDir", spec: "ExperimentSpec") -> list[Problem]:
        try:
            connect(self.address, self.connect_timeout_s)
        except LaunchError as err:
            return err.problems
        return []

    def submit(self, run: "RunDir", spec: "ExperimentSpec", *, resume: bool = False, follow: bool = True) -> Submission:
        """Submit the job, record it in the run's status and (`follow`) start the follower."""
        job_id = submit_job(self, run, spec, resume=resume)  # (the status records it, "created" until followed)
        process = start_follower(run, resume=resume) if follow else None
        return Submission(job_id=job_id, process=process)

    def job_state(self, run: "RunDir") -> JobState | None:
        from engine.runs import load_status

        record = load_status(run)
        if not record.job_id:
            return None
        try:
            client = connect(self.address, self.connect_timeout_s)
            info = client.get_job_info(record.job_id)
        except Exception as err:
            return JobState(job_id=record.job_id, state="UNKNOWN", reason=str(err).splitlines()[0][:200])
        state = RAY_STATES.get(str(getattr(info.status, "value", info.status)), "UNKNOWN")
        if state == "RUNNING" and record.extra.get("job_state") == "PENDING":  # the driver waits for the ranks' resources
            state = "PENDING"
        reason = record.extra.get("job_reason", "") if state == "PENDING" else ""
        message = ""
        if state not in ("RUNNING", "PENDING", "COMPLETED"):  # ours names the rank; Ray's quotes the whole log
            message = record.message or next(iter((info.message or "").splitlines()), "")
        return JobState(job_id=record.job_id, state=state, reason=reason, nodes=record.extra.get("job_nodes", ""),
                        message=message)

    def cancel(self, run: "RunDir") -> bool:
        from engine.runs import load_status

        job_id = load_status(run).job_id
        if not job_id:
            return False
        try:
            return bool(connect(self.address, self.connect_timeout_s).stop_job(job_id))
        except Exception:
            return False


def submit_job(launcher: RayLauncher, run: "RunDir", spec: "ExperimentSpec", *, resume: bool) -> str:
    """Submit the run's Ray job; returns its id (also the submission id)."""
    from engine.atomic import atomic_write_text
    from engine.runs import write_status

    client = connect(launcher.address, launcher.connect_timeout_s)
    token = secrets.token_hex(8)
    streamer = f"netwright-{run.id}-{token}"
    staging = None
    if launcher.mode == "shared":
        atomic_write_text(run.path / PROBE, token + "\n")
    else:
        staging = stage(run, resume)
    try:
        job_id = client.submit_job(entrypoint=shlex.join(job_arguments(launcher, run, spec, resume=resume, probe=token,
                                                                       streamer=streamer)),
                                   runtime_env=runtime_env(launcher, staging),
                                   submission_id=f"netwright-{run.id}-{token}"[-120:],
                                   metadata={"netwright_run": run.id})
    except Exception as err:
        raise LaunchError([Problem("launcher.address", f"the Ray cluster at {launcher.address} refused the job: "
                                                       f"{type(err).__name__}: {err}")]) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    write_status(run, "created", launcher=launcher.name, job_id=job_id, job_state="PENDING", job_streamer=streamer)
    return job_id


# ----------------------------------------------------------------------------- the follower

def start_follower(run: "RunDir", *, resume: bool = False) -> subprocess.Popen:
    """The follower of `run`'s Ray job as its own process (session), output to the run's log."""
    from engine.appendlog import open_append
    from engine.launchers.local import REPO_ROOT

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    code = "import sys; from engine.launchers._ray_follow import follow_main; sys.exit(follow_main(sys.argv[1:]))"
    log = open_append(run.log_path)
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, str(run.path), *(["--resume"] if resume else [])],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    finally:
        os.close(log)
    # reaped when it ends, also in a long-lived caller (the app) that never waits for it
    threading.Thread(target=proc.wait, name=f"reap-ray-follower-{proc.pid}", daemon=True).start()
    return proc
