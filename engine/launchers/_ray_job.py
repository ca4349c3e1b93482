"""The Ray job of a run: the driver that runs on the cluster (``python -m engine.launchers._ray_job``).

engine.launchers.ray submits this module as a Ray job. The driver

1. reserves one placement-group bundle per rank (``{"CPU": c, "GPU": g}``, PACK or SPREAD);
   while the cluster lacks them it prints a ``pending`` record naming what it waits for;
2. starts one :class:`RankActor` per bundle; rank 0's actor names its node's address and a free
   port (the torch.distributed store) and every actor trains through `engine.worker.train_rank`,
   the very code the local launcher's ranks run (gloo on CPU, NCCL on GPU; the GPUs of the ranks
   on one node are all visible to each of them, LOCAL_RANK picks its own);
3. waits for the ranks, names a rank that raised (its traceback) or died (its node), and ends
   the others at once (they would wait for the lost peer in a collective);
4. **shared** mode: the ranks train in the run directory itself (a path every node mounts; the
   local side wrote a probe file there, which the driver and every rank check first).
   **streamed** mode: each rank trains in a private node-local copy of the run directory
   (spec, and the checkpoints of a resume, come in the job's working_dir); a :class:`Streamer`
   actor beside rank 0 reads what rank 0 writes (events, log, status, complete checkpoints,
   TensorBoard files)
   and the driver prints it as records that the local side writes into the local run directory;
5. ends with a ``result`` record (rank 0's TrainResult) and exit code 0, or 1 when a rank failed.

Records are single stdout lines ``@@netwright {json}`` (see :data:`MARK`); everything else the
job prints is the ranks' own output. SIGTERM (``ray job stop``) and the ``--control`` job
(a stop/pause/resume request sent from the local side) both go to rank 0 as a control request,
so a stop still ends with a checkpoint.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: the prefix of a record line in the job's output (the local side reads only these)
MARK = "@@netwright "
#: the Ray namespace of a run's named streamer actor (the control job finds it there)
NAMESPACE = "netwright"
#: bytes of a checkpoint file per record (base64 in one log line)
CHUNK = 256 * 1024
#: the files of rank 0's run directory that grow by appending, streamed by offset
APPENDED = ("events.jsonl", "log.txt")


def emit(kind: str, **fields: Any) -> None:
    """Print one record for the local side: one line in one write (the ranks' output, which Ray
    prints from another thread, cannot land inside it), flushed."""
    sys.stdout.write(MARK + json.dumps({"kind": kind, **fields}, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- streaming

class FileStream:
    """What changed in a run directory since the last :meth:`pull`, as records: appended text
    of events.jsonl and log.txt (complete lines only), status.json when it changed, each
    complete checkpoint folder (the one `latest` or `best` points at) before its pointer, and
    the new bytes of the TensorBoard event files."""

    def __init__(self, path: str | Path, *, skip_existing: bool = False):
        self.path = Path(path)
        self.offsets = {name: 0 for name in APPENDED}
        self.status_seen: tuple[int, int] | None = None
        self.sent_folders: set[str] = set()
        self.pointers: dict[str, str] = {}
        if skip_existing:  # what the folder holds now came from the local side: only changes go back
            for name in APPENDED:
                self.offsets[name] = (self.path / name).stat().st_size if (self.path / name).exists() else 0
            for file in (self.path / "tensorboard").rglob("*"):
                if file.is_file():
                    self.offsets[str(file.relative_to(self.path))] = file.stat().st_size
            root = self.path / "checkpoints"
            self.sent_folders = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
            for pointer in ("latest", "best"):
                if (root / pointer).is_file():
                    self.pointers[pointer] = (root / pointer).read_text().strip()

    def pull(self, limit: int = 4 * CHUNK) -> list[dict[str, Any]]:
        records = []
        for name in APPENDED:
            records += self._appended(name, limit)
        records += self._checkpoints()
        records += self._tensorboard(limit)
        status = self.path / "status.json"
        try:
            st = status.stat()
            seen = (st.st_mtime_ns, st.st_size)
            if seen != self.status_seen:
                records.append({"kind": "status", "data": json.loads(status.read_text())})
                self.status_seen = seen
        except (OSError, ValueError):  # not written yet, or caught mid-replace: next pull
            pass
        return records

    def _appended(self, name: str, limit: int) -> list[dict[str, Any]]:
        try:
            with open(self.path / name, "rb") as f:
                f.seek(self.offsets[name])
                data = f.read(limit)
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # complete lines only
        if not end:
            return []
        offset = self.offsets[name]
        self.offsets[name] += end
        return [{"kind": "append", "file": name, "offset": offset, "data": data[:end].decode("utf-8", "replace")}]

    def _tensorboard(self, limit: int) -> list[dict[str, Any]]:
        """New bytes of the TensorBoard event files (binary, appended by their writer)."""
        root = self.path / "tensorboard"
        records = []
        for file in sorted(root.rglob("*")) if root.is_dir() else ():
            rel = str(file.relative_to(self.path))
            offset = self.offsets.get(rel, 0)
            try:
                with open(file, "rb") as f:
                    f.seek(offset)
                    data = f.read(limit)
            except OSError:  # a folder, or gone
                continue
            if data:
                records.append({"kind": "append_bytes", "path": rel, "offset": offset, "data": base64.b64encode(data).decode()})
                self.offsets[rel] = offset + len(data)
        return records

    def _checkpoints(self) -> list[dict[str, Any]]:
        root = self.path / "checkpoints"
        records: list[dict[str, Any]] = []
        for pointer in ("latest", "best"):
            try:
                target = (root / pointer).read_text().strip()
            except OSError:
                continue
            if not target or self.pointers.get(pointer) == target or not (root / target).is_dir():
                continue
            if target not in self.sent_folders:
                for file in sorted((root / target).iterdir()):
                    if file.is_file() and not file.name.startswith("."):
                        records += file_records(f"checkpoints/{target}/{file.name}", file.read_bytes())
                self.sent_folders.add(target)
            records += file_records(f"checkpoints/{pointer}", (root / pointer).read_bytes())
            self.pointers[pointer] = target
        for gone in sorted(f for f in self.sent_folders if not (root / f).is_dir()):  # pruned by `keep`
            records.append({"kind": "remove", "path": f"checkpoints/{gone}"})
            self.sent_folders.discard(gone)
        return records


def file_records(path: str, data: bytes) -> list[dict[str, Any]]:
    """A whole file as records of at most CHUNK bytes each (written locally at the last part)."""
    parts = max(1, -(-len(data) // CHUNK))
    return [{"kind": "file", "path": path, "part": i, "parts": parts,
             "data": base64.b64encode(data[i * CHUNK:(i + 1) * CHUNK]).decode()} for i in range(parts)]


# ----------------------------------------------------------------------------- actors

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _materialize(files: dict[str, bytes], scratch: str, rank: int) -> str:
    """A private copy of the staged run directory (spec, resume checkpoints) for one rank."""
    Path(scratch).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"rank{rank}-", dir=scratch))
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(path)


class RankActor:
    """One rank: a Ray actor holding one placement-group bundle (made a Ray actor in main())."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world
        self.dir: str | None = None

    def info(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(), "host": socket.gethostname(),
                "gpus": [str(g) for g in ray.get_gpu_ids()], "pid": os.getpid()}

    def free_port(self) -> int:
        return _free_port()

    def prepare(self, run_dir: str | None, files: dict[str, bytes] | None, scratch: str, probe: str | None) -> str:
        """The run directory this rank trains in: the shared one (its probe checked) or a copy."""
        if run_dir is not None:
            check_probe(run_dir, probe, f"rank {self.rank} on {socket.gethostname()}")
            self.dir = run_dir
        else:
            self.dir = _materialize(files or {}, scratch, self.rank)
        return self.dir

    def train(self, env: dict[str, str], resume: bool, context: str) -> dict[str, Any] | None:
        os.environ.update(env)
        from engine.worker import train_rank

        return train_rank(self.dir, resume, context)

    def cleanup(self) -> None:
        """Remove this rank's private copy (streamed mode; everything was streamed by then)."""
        if self.dir and Path(self.dir).name.startswith(f"rank{self.rank}-"):
            shutil.rmtree(self.dir, ignore_errors=True)


class Streamer:
    """Beside rank 0 (same node): its run directory's changes, and control requests to it."""

    def __init__(self, path: str):
        self.stream = FileStream(path, skip_existing=True)  # (the staged copy the local side already has)

    def pull(self) -> list[dict[str, Any]]:
        return self.stream.pull()

    def control(self, action: str) -> None:
        from engine.runs import RunDir, request_control

        request_control(RunDir(self.stream.path), action)


def check_probe(run_dir: str, probe: str | None, who: str) -> None:
    """The shared mode's check that `run_dir` is the local side's folder: its probe file
    (written before submitting) must be there with the expected token."""
    if probe is None:
        return
    path = Path(run_dir) / ".ray-probe"
    try:
        found = path.read_text().strip()
    except OSError:
        found = None
    if found != probe:
        raise RuntimeError(f"the run directory {run_dir} is not shared with {who} ({path} "
                           f"{'is missing' if found is None else 'belongs to another submission'}): use "
                           "launcher mode 'streamed', or a run folder on a filesystem every node mounts")


# ----------------------------------------------------------------------------- the driver

def _layout(infos: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Per rank: LOCAL_RANK (its place among the ranks of its node) and, with GPUs, the node's
    GPUs of all its ranks as CUDA_VISIBLE_DEVICES (NCCL then sees its peers)."""
    by_node: dict[str, list[int]] = {}
    for rank, info in enumerate(infos):
        by_node.setdefault(info["node_id"], []).append(rank)
    out = []
    for rank, info in enumerate(infos):
        peers = by_node[info["node_id"]]
        env = {"LOCAL_RANK": str(peers.index(rank)), "LOCAL_WORLD_SIZE": str(len(peers))}
        if info["gpus"]:
            gpus = sorted({g for r in peers for g in infos[r]["gpus"]}, key=lambda g: (len(g), g))
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            env["LOCAL_RANK"] = str(gpus.index(info["gpus"][0]))
        out.append(env)
    return out


def _staged(cwd: Path) -> dict[str, bytes]:
    """The files the local side put in the job's working_dir (spec.toml; checkpoints to resume)."""
    return {str(p.relative_to(cwd)): p.read_bytes() for p in sorted(cwd.rglob("*")) if p.is_file()}


def brief(resources: dict[str, float]) -> str:
    """``2 CPU, 1 GPU``: the CPUs and GPUs of a Ray resource dict (node and memory keys left out)."""
    return ", ".join(f"{resources.get(k, 0):g} {k}" for k in ("CPU", "GPU") if k in resources or k == "CPU")


def _wait_for_bundles(pg, bundles: list[dict[str, float]], timeout: float, stopped: threading.Event) -> str | None:
    """Wait until the placement group is placed; None, or why it was given up."""
    import ray

    start, said = time.time(), 0.0
    while True:
        ready, _ = ray.wait([pg.ready()], timeout=2.0)
        if ready:
            return None
        if stopped.is_set():
            return "stopped while waiting for resources"
        waited = time.time() - start
        if timeout and waited > timeout:
            return (f"the cluster did not provide {len(bundles)} rank(s) x {brief(bundles[0])} within {timeout:.0f} s "
                    f"(it has {brief(ray.cluster_resources())} in all, {brief(ray.available_resources())} free): "
                    "fewer ranks (parallel.processes), fewer resources per rank, or more nodes")
        if time.time() - said > 10:
            emit("pending", message=f"waiting for {len(bundles)} rank(s) x {brief(bundles[0])} (the cluster has "
                                    f"{brief(ray.cluster_resources())} in all, {brief(ray.available_resources())} free)")
            said = time.time()


def _failure(rank: int, err: BaseException, infos: list[dict[str, Any]]) -> dict[str, Any]:
    from ray.exceptions import RayActorError, RayTaskError

    where = f"{infos[rank]['host']} ({infos[rank]['ip']})" if rank < len(infos) else "?"
    if isinstance(err, RayTaskError):
        cause = err.cause if getattr(err, "cause", None) is not None else err
        return {"rank": rank, "killed": False, "message": f"rank {rank} on {where}: {type(cause).__name__}: {cause}",
                "traceback": str(err)}
    if isinstance(err, RayActorError):
        return {"rank": rank, "killed": True, "message": f"rank {rank} on {where} died (its process or node was lost)",
                "traceback": str(err)}
    return {"rank": rank, "killed": False, "message": f"rank {rank} on {where}: {type(err).__name__}: {err}",
            "traceback": ""}


def run_job(args: argparse.Namespace) -> int:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

    ray.init(namespace=NAMESPACE, log_to_driver=True)
    world, streamed = args.ranks, args.mode == "streamed"
    stopped = threading.Event()
    requests: list[str] = []

    def on_term(signum, frame) -> None:  # `ray job stop`: a graceful stop of rank 0 (then of us)
        stopped.set()
        requests.append("stop")

    signal.signal(signal.SIGTERM, on_term)
    if not streamed:
        check_probe(args.run_dir, args.probe, f"the Ray job's driver on {socket.gethostname()}")
    files = _staged(Path.cwd()) if streamed else None
    bundle = {"CPU": float(args.cpus_per_rank), **({"GPU": float(args.gpus_per_rank)} if args.gpus_per_rank else {})}
    bundles = [dict(bundle) for _ in range(world)]
    pg = placement_group(bundles, strategy=args.placement)
    actors: list[Any] = []
    infos: list[dict[str, Any]] = []
    try:
        why = _wait_for_bundles(pg, bundles, args.wait_for_resources, stopped)
        if why:
            emit("failure", rank=-1, killed=False, message=why, traceback="")
            return 1
        Rank = ray.remote(RankActor)
        actors = [Rank.options(num_cpus=bundle["CPU"], num_gpus=bundle.get("GPU", 0), max_concurrency=1,
                               scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i))
                  .remote(i, world) for i in range(world)]
        infos = ray.get([a.info.remote() for a in actors])
        emit("ranks", ranks=[{"rank": i, "host": x["host"], "ip": x["ip"], "gpus": x["gpus"]} for i, x in enumerate(infos)])
        files_ref = ray.put(files) if streamed else None
        dirs = ray.get([a.prepare.remote(None if streamed else args.run_dir, files_ref, args.scratch, args.probe)
                        for a in actors])
        streamer = None
        if streamed:
            streamer = ray.remote(Streamer).options(
                name=args.streamer, num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=infos[0]["node_id"], soft=False)).remote(dirs[0])
        master, port = infos[0]["ip"], ray.get(actors[0].free_port.remote())
        base = {"WORLD_SIZE": str(world), "MASTER_ADDR": master, "MASTER_PORT": str(port)}
        layout = _layout(infos)
        refs = {a.train.remote({**base, **layout[i], "RANK": str(i)}, args.resume, args.context): i
                for i, a in enumerate(actors)}
        return _supervise(refs, actors, infos, streamer, args, requests)
    finally:
        for actor in actors:
            if streamed:
                try:
                    ray.get(actor.cleanup.remote(), timeout=10)
                except Exception:  # a dead rank has nothing to clean
                    pass
            ray.kill(actor)
        remove_placement_group(pg)


def _supervise(refs: dict[Any, int], actors: list[Any], infos: list[dict[str, Any]], streamer: Any,
               args: argparse.Namespace, requests: list[str]) -> int:
    """Wait for the ranks, streaming rank 0's directory and passing on stop requests."""
    import ray
    from engine.runs import RunDir, request_control

    pending, result, failures = list(refs), None, []
    give_up_at = None

    def stream() -> None:
        if streamer is not None:
            for record in ray.get(streamer.pull.remote()):
                emit(**record)

    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        for ref in done:
            rank = refs[ref]
            try:
                value = ray.get(ref)
                if rank == 0:
                    result = value
            except Exception as err:  # the rank raised or died
                failures.append(_failure(rank, err, infos))
                give_up_at = give_up_at or time.time() + 5  # the others wait for it in a collective: not for long
        while requests:
            action = requests.pop(0)
            if streamer is not None:
                streamer.control.remote(action)
            else:
                request_control(RunDir(Path(args.run_dir)), action)
        stream()
        if pending and give_up_at and time.time() > give_up_at:
            for ref in pending:
                ray.kill(actors[refs[ref]])
            pending = []
    stream()
    for failure in failures:
        emit("failure", **failure)
    emit("result", result=result)
    return 1 if failures or result is None or result.get("status") == "failed" else 0


def send_control(name: str, action: str) -> int:
    """The control job: hand `action` to the run's streamer actor (found by name)."""
    import ray

    ray.init(namespace=NAMESPACE)
    try:
        actor = ray.get_actor(name)
    except ValueError:
        print(f"no running Netwright job has the streamer {name!r} (it ended?)", file=sys.stderr)
        return 1
    ray.get(actor.control.remote(action), timeout=30)
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.launchers._ray_job", description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("shared", "streamed"), default="streamed")
    p.add_argument("--run-dir", help="shared mode: the run directory, the same path on every node")
    p.add_argument("--probe", help="shared mode: the token of RUN_DIR/.ray-probe")
    p.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "netwright-ray"),
                   help="streamed mode: where the ranks' private run directories go on each node")
    p.add_argument("--streamer", default="", help="streamed mode: the name of the streamer actor")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--cpus-per-rank", type=float, default=1.0)
    p.add_argument("--gpus-per-rank", type=float, default=0.0)
    p.add_argument("--placement", default="PACK", choices=("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"))
    p.add_argument("--wait-for-resources", type=float, default=0.0, help="seconds (0: wait as long as it takes)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--context", default="engine.parallel.context:DistributedContext")
    p.add_argument("--control", metavar="ACTION", help="send ACTION to the streamer named by --streamer and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.control:
        return send_control(args.streamer, args.control)
    return run_job(args)


if __name__ == "__main__":  # run through the module's real name, so Ray pickles its classes by reference
    from engine.launchers import _ray_job

    sys.exit(_ray_job.main())
