"""The Slurm launcher (`[launcher] kind = "slurm"`): an sbatch script in the run directory.

:meth:`SlurmLauncher.script` writes the job as a person would: ``#SBATCH`` lines for the nodes
(`parallel.nnodes`), tasks per node (`parallel.processes`: one rank each, one per GPU), GPUs and
CPUs, time limit, partition, account and extra options; the setup lines (``module load``, a
venv); then one ``srun`` task per node, each running torch's elastic launcher through
``netwright worker`` (static rendezvous on the job's first node, so global rank 0 and the run's
events are on node 0; `parallel.node_rank` and `rdzv_endpoint` are Slurm's to choose and are
ignored). Node 0 trains in the run directory itself; every other node runs in
RUN_DIR/nodes/node-N (its own log and rank output) sharing RUN_DIR/checkpoints, so a requeued
job resumes all nodes from the same checkpoint.

It is submitted with ``sbatch`` on this machine or, with `login_host`, over ``ssh`` (the user's
own ssh config and keys; no password is ever asked for or stored: BatchMode). The run directory
must be on a filesystem the nodes share: the launcher writes RUN_DIR/shared-probe before
submitting, checks it from the login node, and every node checks it before it starts (exit 3,
named by :meth:`job_state`). Stop, pause and resume go through the run directory as for local
runs; ``scancel`` (:meth:`cancel`) is the last resort, and its SIGTERM still ends with a
checkpoint when the ranks answer within Slurm's KillWait. With ``requeue`` a preempted job goes
back to the queue and resumes from the last checkpoint (``SLURM_RESTART_COUNT`` > 0).

Job states come from ``squeue`` while the job is queued or running and from ``scontrol show
job`` after it ended (for MinJobAge, 300 s by default). ``sacct`` is not used: it needs
slurmdbd, which many small clusters (and the test cluster) do not run; a job older than
MinJobAge shows as UNKNOWN, and the run's own status says how it ended.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from engine.launchers.base import JobState, LaunchError, Launcher, Submission, register
from engine.problems import Problem
from engine.registry import Param
from engine.runs import RunDir

SCRIPT_NAME = "job.sbatch"
PROBE_NAME = "shared-probe"
#: a node's exit code when it cannot read the run directory's probe file
NOT_SHARED_EXIT = 3
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")
INSTALL_HINT = ("install Slurm's client commands (Debian/Ubuntu: apt-get install slurm-client, or slurm-wlm for a "
                "whole one-machine cluster) or set launcher.login_host to submit on the cluster's login node over ssh")
_TIME = re.compile(r"^(INFINITE|UNLIMITED|\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2})$")
#: how long a Slurm command may take before the cluster counts as not answering
COMMAND_TIMEOUT_S = 30

PARAMS = (
    Param("partition", "str", "", "Slurm partition (queue) to submit to; empty = the cluster's default"),
    Param("account", "str", "", "Account charged for the job; empty = your default account"),
    Param("time_limit", "str", "01:00:00", "Wall-clock limit: MM, HH:MM:SS or D-HH:MM:SS (Slurm's --time)"),
    Param("gpus_per_node", "int", 0, "GPUs per node; use one rank per GPU (parallel.processes = this)", min=0, max=64,
          label="GPUs per node"),
    Param("cpus_per_rank", "int", 1, "CPU cores for each rank (Slurm's --cpus-per-task)", min=1, max=1024,
          label="CPU cores per rank"),
    Param("memory", "str", "", "Memory per node, e.g. 64G (Slurm's --mem); empty = the partition's default",
          label="Memory per node"),
    Param("sbatch_options", "str", "", "More #SBATCH options, separated by spaces or new lines, e.g. --qos=high --constraint=a100",
          label="Extra #SBATCH options"),
    Param("setup", "str", "", "Shell lines run before the ranks start on each node, e.g. module load cuda; "
                              "source ~/venv/bin/activate (separate commands with ; or new lines)", label="Set-up commands"),
    Param("python", "str", "", "Python on the nodes that has Netwright installed; empty = this Python "
                               "when submitting here, python3 (after the setup lines) on a login node", label="Python on the nodes"),
    Param("login_host", "str", "", "Submit on this login node over ssh (a host or ~/.ssh/config alias, keys or an agent; "
                                   "no password is stored); empty = run sbatch on this machine", label="Login node (ssh)"),
    Param("rdzv_port", "int", 29500, "Port of the rendezvous on the job's first node (several nodes)", min=1, max=65535),
    Param("requeue", "bool", True, "Let Slurm requeue the job after preemption or a node failure; it resumes from the "
                                   "last checkpoint", label="Requeue after preemption"),
)


@register
class SlurmLauncher(Launcher):
    """Submit the run as a Slurm batch job (see the module docstring)."""

    name = "slurm"
    label = "Slurm"
    description = ("Submit to a Slurm cluster with sbatch (here or on a login node over ssh): srun starts torch's "
                   "elastic launcher on every node; the run directory must be on a shared filesystem.")
    params = PARAMS

    # -- the script ----------------------------------------------------------------------
    def sbatch_lines(self, run_dir: Path, spec) -> list[str]:
        par = spec.parallel
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name)[:40] or "run"
        lines = [f"--job-name=nw-{name}", f"--nodes={par.nnodes}", f"--ntasks-per-node={par.processes}",
                 f"--cpus-per-task={self.cpus_per_rank}"]
        if self.gpus_per_node:
            lines.append(f"--gpus-per-node={self.gpus_per_node}")
        if self.memory:
            lines.append(f"--mem={self.memory}")
        lines.append(f"--time={self.time_limit}")
        if self.partition:
            lines.append(f"--partition={self.partition}")
        if self.account:
            lines.append(f"--account={self.account}")
        lines += [f"--output={run_dir / 'log.txt'}", "--open-mode=append", f"--chdir={run_dir}",
                  "--requeue" if self.requeue else "--no-requeue"]
        return lines + extra_options(self.sbatch_options)

    def python_command(self) -> str:
        if self.python:
            return self.python
        return sys.executable if not self.login_host else "python3"

    def script(self, run_dir: str | Path, spec, *, resume: bool = False) -> str:
        """The sbatch script for `spec` in `run_dir` (pure: nothing is written or run)."""
        from engine.launchers.local import REPO_ROOT

        run_dir = Path(run_dir)
        par = spec.parallel
        q = shlex.quote
        out = ["#!/bin/bash", f"# Netwright run {run_dir.name}: {par.processes} rank(s) per node x {par.nnodes} node(s), "
                              f"strategy {par.strategy}", f"# written by the slurm launcher; submit with: sbatch {q(str(run_dir / SCRIPT_NAME))}"]
        out += [f"#SBATCH {line}" for line in self.sbatch_lines(run_dir, spec)]
        # NETWRIGHT_LAUNCHER=slurm: the ranks leave Slurm's SIGTERM (sent to every process of the job)
        # to the worker, which stops them gracefully with a checkpoint
        out += ["", "set -eu", "export PYTHONUNBUFFERED=1 NETWRIGHT_LAUNCHER=slurm"]
        if not self.login_host and not self.python:  # this machine's checkout, as the local launcher runs it
            out.append(f"export PYTHONPATH={q(str(REPO_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}")
        setup = setup_lines(self.setup)
        if setup:
            out += ["", "# environment set-up (launcher.setup)", *setup]
        out += ["", f"RUN_DIR={q(str(run_dir))}", f"PYTHON={q(self.python_command())}",
                "# a requeued job (preemption, node failure) continues from the last checkpoint",
                f'RESUME={"--resume" if resume else ""}',
                'if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then RESUME=--resume; fi']
        if par.nnodes > 1:
            out += ["# the rendezvous runs on the job's first node",
                    'HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                    f"LAYOUT=\"--nnodes $SLURM_JOB_NUM_NODES --rdzv-endpoint $HEAD:{self.rdzv_port}\""]
        else:
            out.append('LAYOUT=""')
        out += ["export RUN_DIR PYTHON RESUME LAYOUT", "",
                "# what each node runs: check the run directory is shared, start the node's ranks",
                "read -r -d '' NODE_MAIN <<'EOF' || true",
                NODE_COMMAND.format(probe=PROBE_NAME, token=run_dir.name, code=NOT_SHARED_EXIT), "EOF", "",
                "# one task per node: torch's elastic launcher (netwright worker) starts the node's ranks",
                "srun --nodes=\"$SLURM_JOB_NUM_NODES\" --ntasks=\"$SLURM_JOB_NUM_NODES\" --ntasks-per-node=1 \\",
                f"     --cpus-per-task={par.processes * self.cpus_per_rank}"
                + (f" --gpus-per-node={self.gpus_per_node}" if self.gpus_per_node else "")
                + ' --kill-on-bad-exit=1 bash -c "$NODE_MAIN"']
        return "\n".join(out) + "\n"

    # -- checks ----------------------------------------------------------------------------
    def check(self, spec, plan: Any = None) -> list[Problem]:
        problems = []
        if not _TIME.match(str(self.time_limit).strip()):
            problems.append(Problem("launcher.time_limit", f"{self.time_limit!r} is not a Slurm time: use minutes (90), "
                                                           "HH:MM:SS (01:30:00) or D-HH:MM:SS (2-00:00:00)"))
        if self.gpus_per_node and spec.parallel.processes > self.gpus_per_node:
            problems.append(Problem("parallel.processes", f"is {spec.parallel.processes} but launcher.gpus_per_node is "
                                                          f"{self.gpus_per_node}: each rank needs its own GPU — set processes "
                                                          f"to {self.gpus_per_node} (one rank per GPU)"))
        if spec.training.device.startswith("cuda") and not self.gpus_per_node:
            problems.append(Problem("launcher.gpus_per_node", f"is 0 but training.device is {spec.training.device!r}: "
                                                              "ask Slurm for the GPUs (one per rank)"))
        for option in extra_options(self.sbatch_options):
            if not option.startswith("-"):
                problems.append(Problem("launcher.sbatch_options", f"{option!r} is not an sbatch option: write options such "
                                                                   "as --qos=high or --constraint=a100"))
        return problems

    def preflight(self, run: RunDir, spec) -> list[Problem]:
        """sbatch is there (here or on the login node), and the run directory is shared."""
        probe = run.path / PROBE_NAME
        probe.write_text(run.id + "\n", encoding="utf-8")
        if not self.login_host:
            if shutil.which("sbatch") is None:
                return [Problem("launcher", f"sbatch was not found on this machine — {INSTALL_HINT}")]
            return []
        found = self._run(["cat", str(probe)], check=False)
        if found.returncode == 255:
            return [Problem("launcher.login_host", unreachable(self.login_host, found.stderr))]
        if found.stdout.strip() != run.id:
            return [Problem("launcher.login_host", f"{self.login_host} cannot read {probe}: the run directory is not on a "
                                                   "filesystem the cluster shares — set the runs folder (NETWRIGHT_RUNS_DIR or "
                                                   "--runs-dir) to a shared path mounted at the same place on both machines")]
        found = self._run(["command", "-v", "sbatch"], check=False)
        if found.returncode != 0:
            return [Problem("launcher.login_host", f"sbatch was not found on {self.login_host} — log in there and check "
                                                   "`module load slurm` or PATH (launcher.setup runs only on the nodes)")]
        return []

    # -- submitting and watching -------------------------------------------------------------
    def submit(self, run: RunDir, spec, *, resume: bool = False) -> Submission:
        from engine.atomic import atomic_write_text
        from engine.runs import load_status, write_status

        problems = self.preflight(run, spec)
        if problems:
            raise LaunchError(problems)
        path = run.path / SCRIPT_NAME
        atomic_write_text(path, self.script(run.path, spec, resume=resume))
        path.chmod(0o755)
        found = self._run(["sbatch", "--parsable", str(path)], check=False)
        if found.returncode == 255 and self.login_host:
            raise LaunchError([Problem("launcher.login_host", unreachable(self.login_host, found.stderr))])
        if found.returncode != 0:
            raise LaunchError([Problem("launcher", f"sbatch refused the job: {last_line(found.stderr) or found.returncode} "
                                                   f"— see the script in {path}")])
        job_id = found.stdout.strip().split(";")[0]
        write_status(run, load_status(run).status or "created", launcher=self.name, job_id=job_id)
        run.log(f"submitted to Slurm as job {job_id} ({path})")
        return Submission(job_id=job_id, script=path)

    def job_state(self, run: RunDir) -> JobState | None:
        from engine.runs import load_status

        job_id = load_status(run).job_id
        if not job_id:
            return None
        try:
            queued = self._run(["squeue", "-h", "-j", job_id, "-o", "%T|%r|%N"], check=False)
            if queued.returncode == 255 and self.login_host:
                return JobState(job_id, "UNKNOWN", reason=unreachable(self.login_host, queued.stderr))
            line = queued.stdout.strip().splitlines()[0] if queued.returncode == 0 and queued.stdout.strip() else ""
            if line:
                state, reason, nodes = (line.split("|") + ["", ""])[:3]
                return self._explained(JobState(job_id, state, reason=reason if state == "PENDING" else "", nodes=nodes))
            shown = self._run(["scontrol", "-o", "show", "job", job_id], check=False)
            fields = parse_scontrol(shown.stdout) if shown.returncode == 0 else {}
            if fields.get("JobState"):
                state = fields["JobState"]
                return self._explained(JobState(job_id, state, reason=fields.get("Reason", "") if state == "PENDING" else "",
                                                nodes=fields.get("NodeList", ""), exit_code=fields.get("ExitCode", "")))
            return JobState(job_id, "UNKNOWN", reason="Slurm no longer lists the job (it ended before MinJobAge; "
                                                      "see log.txt)")
        except subprocess.TimeoutExpired:
            return JobState(job_id, "UNKNOWN", reason=f"Slurm did not answer within {COMMAND_TIMEOUT_S} s")
        except OSError as err:
            return JobState(job_id, "UNKNOWN", reason=f"cannot run Slurm's commands: {err}")

    def _explained(self, job: JobState) -> JobState:
        code = job.exit_code.split(":")[0]
        message = ""
        if job.state == "FAILED" and code == str(NOT_SHARED_EXIT):
            message = ("a node could not read the run directory's shared-probe file: the run directory is not shared "
                       "with the compute nodes — put the runs folder on a shared filesystem")
        elif job.state == "TIMEOUT":
            message = "the job reached launcher.time_limit — resume the run (from its last checkpoint) with a longer limit"
        elif job.state == "CANCELLED":
            message = "the job was cancelled (scancel)"
        elif job.state in ("NODE_FAIL", "PREEMPTED"):
            message = "requeued: the run resumes from its last checkpoint" if self.requeue else ""
        return JobState(job.job_id, job.state, job.reason, job.nodes, job.exit_code, message)

    def cancel(self, run: RunDir) -> bool:
        from engine.runs import load_status

        job_id = load_status(run).job_id
        if not job_id:
            return False
        done = self._run(["scancel", job_id], check=False)
        if done.returncode == 0:
            run.log(f"scancel {job_id}: asked Slurm to end the job")
        return done.returncode == 0

    # -- running Slurm's commands -------------------------------------------------------------
    def _run(self, argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command here, or on the login node over ssh (BatchMode: never a password prompt)."""
        if self.login_host:
            argv = ["ssh", *SSH_OPTIONS, self.login_host, "--", shlex.join(argv)]
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=check,
                              stdin=subprocess.DEVNULL)


#: what each node's srun task runs: check the shared run directory, then start the node's ranks;
#: node 0 in RUN_DIR, node N in RUN_DIR/nodes/node-N sharing RUN_DIR/checkpoints
NODE_COMMAND = """\
if [ "$(cat "$RUN_DIR/{probe}" 2>/dev/null)" != {token} ]; then
  echo "netwright: node $(hostname) cannot read $RUN_DIR/{probe}: the run directory is not shared with this node" >&2
  exit {code}
fi
NODE=${{SLURM_NODEID:-0}}
TARGET=$RUN_DIR
if [ "$NODE" -gt 0 ]; then
  TARGET=$RUN_DIR/nodes/node-$NODE
  mkdir -p "$TARGET" && cp "$RUN_DIR/spec.toml" "$TARGET/" && ln -sfn "$RUN_DIR/checkpoints" "$TARGET/checkpoints"
fi
exec "$PYTHON" -m engine worker "$TARGET" --node-rank "$NODE" $LAYOUT $RESUME"""


def extra_options(text: str) -> list[str]:
    """The extra #SBATCH options of `sbatch_options` (spaces or new lines between them)."""
    text = text.replace("#SBATCH", " ")
    try:
        return shlex.split(text)
    except ValueError:  # an unclosed quote: each word as written (check() names what is not an option)
        return text.split()


def setup_lines(text: str) -> list[str]:
    """The set-up shell lines of `setup`, as written (one line may hold several commands joined by `;`)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_scontrol(text: str) -> dict[str, str]:
    """``scontrol -o show job`` output (Key=Value pairs on one line) as a dict."""
    out: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep and key not in out:
            out[key] = value
    return out


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def unreachable(host: str, stderr: str) -> str:
    return (f"cannot reach the login node {host!r} over ssh: {last_line(stderr) or 'no answer'} — check that "
            f"`ssh {host}` works without a password (a key in ssh-agent or ~/.ssh/config)")
