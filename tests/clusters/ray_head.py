"""A one-node Ray cluster on this machine for tests and benchmarks: ``ray start --head --block``
on 127.0.0.1 (2 CPUs, the dashboard = the job server) in its own process session and a short
temporary folder; :meth:`RayHead.stop` ends exactly that session's processes (never ``ray stop``,
which would end every Ray process on the machine)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    """``with RayHead() as head: head.address`` (the job submission address)."""

    def __init__(self, cpus: int = 2, *, timeout: float = 180, env: dict[str, str] | None = None):
        self.cpus, self.timeout = cpus, timeout
        self.env = dict(os.environ if env is None else env)
        # Ray turns 127.0.0.1 into the machine's outward address unless told it is not a cluster
        self.env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
        self.dir = Path(tempfile.mkdtemp(prefix="nwray-"))  # short: Ray's socket paths must fit 107 bytes
        self.port, self.dashboard_port, self.client_port = _free_port(), _free_port(), _free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RayHead":
        # `ray start` of this Python (no PATH lookup)
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
               "--node-ip-address", "127.0.0.1", "--port", str(self.port), "--num-cpus", str(self.cpus), "--num-gpus", "0",
               "--include-dashboard=true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(self.client_port),
               "--dashboard-agent-listen-port", str(_free_port()),  # (its default, 52365, would clash with another head)
               "--temp-dir", str(self.dir), "--disable-usage-stats"]
        self.log = self.dir / "head.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:  # the job server answers once the head is up
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.address}/api/version", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"the Ray head did not answer within {self.timeout} s:\n{self.log.read_text()[-3000:]}")

    def processes(self) -> list:
        """This head's live processes: everything in its process session (workers included;
        zombies are dead already, waiting for a parent that may be gone to reap them)."""
        import psutil

        if self.proc is None:
            return []
        out = []
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == self.proc.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
            except (OSError, psutil.Error):
                continue
        return out

    def stop(self) -> None:
        import psutil

        if self.proc is not None:
            procs = self.processes()
            for proc in procs:  # SIGTERM first: `ray start --block` stops its children on it
                try:
                    proc.send_signal(signal.SIGTERM)
                except psutil.Error:
                    pass
            _, alive = psutil.wait_procs(procs, timeout=10)
            for proc in alive + self.processes():
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RayHead":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
