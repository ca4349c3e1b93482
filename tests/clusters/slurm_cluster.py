"""A one-node Slurm cluster on this machine for tests: munged, slurmctld and slurmd in the
foreground, their configuration, state and logs in one temporary folder (Debian's slurm-wlm and
munge). The node is `localhost` with 2 CPUs; accounting is off (job states come from squeue and
scontrol). :func:`start_cluster` returns a :class:`SlurmCluster`; ``stop()`` cancels its jobs and
ends the daemons."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
PACKAGES = "apt-get install -y slurm-wlm munge"


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(root: Path) -> str:
    return f"""ClusterName=netwright-test
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=30
MinJobAge=600
SchedulerParameters=sched_interval=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, env=self.env, timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted((self.root / "log").glob("*")))

    def stop(self) -> None:
        """Cancel every job, wait for them to leave the node, end slurmd, slurmctld and munged."""
        if self.procs and self.procs[-1].poll() is None:
            self.run("scancel", "--full", "--user", str(os.getuid()))
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and self.run("squeue", "-h", "-t", "R,CG").stdout.strip():
                time.sleep(0.5)
        for proc in reversed(self.procs):  # slurmd, slurmctld, munged
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.procs.clear()


def start_cluster(root: Path) -> SlurmCluster:
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(_conf(root))
    cluster = SlurmCluster(root, conf)
    log = root / "log"

    def start(argv: list[str], name: str) -> None:
        out = open(log / f"{name}.out", "wb")
        cluster.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              env=cluster.env, start_new_session=True))
        out.close()

    try:
        start(["munged", "-F", "-f", f"--socket={root}/munge/munge.socket", f"--key-file={key}",
               f"--log-file={log}/munged.log", f"--pid-file={root}/munge/munged.pid", f"--seed-file={root}/munge/seed"],
              "munged")
        _wait(lambda: (root / "munge" / "munge.socket").exists(), 20, "munged's socket", cluster)
        start(["slurmctld", "-D", "-i", "-f", str(conf)], "slurmctld")
        _wait(lambda: cluster.run("scontrol", "ping").returncode == 0, 30, "slurmctld to answer", cluster)
        start(["slurmd", "-D", "-N", "localhost", "-f", str(conf)], "slurmd")
        _wait(lambda: cluster.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle", 60, "the node to be idle", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait(ready, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if any(p.poll() is not None for p in cluster.procs):
            break
        time.sleep(0.2)
    raise RuntimeError(f"the test Slurm cluster did not start ({what}):\n{cluster.logs()}")
