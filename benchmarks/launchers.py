"""Launchers side by side: the same 2-rank DDP run started by local, slurm and ray.

For each launcher and round: the time from `submit` to the run's first training step (the
first metric event's time stamp; all three run on this machine, so the clocks agree) and the
median time per step (between consecutive metric events, `log_every = 1`). Printed as ratios to
the local launcher measured in the same round (rounds interleave the launchers, so load drifts
hit all of them). The clusters are started before the clock runs and are not part of the time:
a one-node Slurm cluster (tests/clusters/slurm_cluster.py; skipped with a message when Slurm is
not installed or this is not root) and a one-node Ray head on 127.0.0.1 (tests/clusters/ray_head.py),
or the Ray cluster at --ray-address. Also: how long an address nobody answers at takes to be
refused (the bad-input path must fail within seconds).

    python benchmarks/launchers.py [--rounds 2] [--steps 40] [--only local,ray] [--ray-address http://HEAD:8265]
                                   [--ray-mode streamed|shared]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.spec import ExperimentSpec  # noqa: E402

SPEC = """
name = "bench_launchers"
seed = 0
[data]
source = "random"
batch_size = 64
val_fraction = 0.1
shape = [256]
classes = 10
samples = 8000
[model]
layers = [
  {{type = "Linear", out_features = 512}},
  {{type = "ReLU"}},
  {{type = "Linear", out_features = 512}},
  {{type = "ReLU"}},
  {{type = "Linear", out_features = 10}},
]
[optimizer]
name = "adam"
lr = 0.001
[training]
epochs = 100
max_steps = {steps}
log_every = 1
device = "cpu"
[parallel]
strategy = "ddp"
processes = 2
{launcher}
"""


def spec_for(kind: str, steps: int, **options: str) -> ExperimentSpec:
    launcher = "" if kind == "local" else "[launcher]\n" + f'kind = "{kind}"\n' + "".join(
        f"{k} = {v}\n" for k, v in options.items())
    return ExperimentSpec.from_toml(SPEC.format(steps=steps, launcher=launcher))


def metric_times(run) -> list[float]:
    from engine.runs import read_events

    events, _ = read_events(run.events_path)
    return [e["time"] for e in events if e["type"] == "metric"]


def measure(spec: ExperimentSpec, runs_dir: Path, timeout: float = 600) -> tuple[float, float, str]:
    """(seconds from submit to the first step, median seconds per step, final status)."""
    from engine.launchers import launcher_of
    from engine.runs import FINAL, RunDir, effective_status

    run = RunDir.create(runs_dir, spec)
    start = time.time()
    submission = launcher_of(spec).submit(run, spec)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if submission.process is not None and submission.process.poll() is None:
            time.sleep(0.5)
            continue
        status = effective_status(run)
        if status in FINAL or status == "crashed":
            break
        time.sleep(0.5)
    else:
        launcher_of(spec).cancel(run)
        raise RuntimeError(f"{spec.launcher.kind}: the run did not end within {timeout} s ({run.path})")
    times = metric_times(run)
    if len(times) < 3:
        raise RuntimeError(f"{spec.launcher.kind}: only {len(times)} steps recorded ({effective_status(run)}); "
                           f"see {run.log_path}")
    per_step = statistics.median(b - a for a, b in zip(times, times[1:]))
    return times[0] - start, per_step, effective_status(run)


def refused_after(address: str) -> float:
    from engine.launchers import LaunchError, launcher_of

    spec = spec_for("ray", 5, address=f'"{address}"')
    with tempfile.TemporaryDirectory() as tmp:
        from engine.runs import RunDir

        run = RunDir.create(Path(tmp), spec)
        start = time.perf_counter()
        try:
            launcher_of(spec).submit(run, spec)
        except LaunchError:
            return time.perf_counter() - start
    raise RuntimeError(f"{address} was not refused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--only", default="local,slurm,ray", help="comma-separated launchers (local is always run)")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: a head started here on 127.0.0.1)")
    parser.add_argument("--ray-mode", choices=("streamed", "shared"), default="streamed",
                        help="the ray launcher's run folder mode (streamed: rank 0's files come back through the job's log)")
    args = parser.parse_args()
    wanted = {"local", *args.only.split(",")}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="nw-bench-launchers-"))
    specs = {"local": spec_for("local", args.steps)}
    stops = []
    try:
        if "slurm" in wanted:
            from tests.clusters.slurm_cluster import PACKAGES, missing_binaries, start_cluster

            from engine.launchers import LAUNCHERS

            missing = missing_binaries()
            if "slurm" not in LAUNCHERS:
                print("slurm: skipped — this checkout has no slurm launcher")
            elif missing:
                print(f"slurm: skipped — not installed (missing {', '.join(missing)}; {PACKAGES})")
            elif os.geteuid() != 0:
                print("slurm: skipped — the test cluster runs its daemons as root")
            else:
                cluster = start_cluster(tmp / "slurm")
                os.environ["SLURM_CONF"] = str(cluster.conf)
                stops.append(cluster.stop)
                specs["slurm"] = spec_for("slurm", args.steps, time_limit='"20"')
        if "ray" in wanted:
            try:
                import ray  # noqa: F401
            except ImportError:
                print("ray: skipped — not installed (pip install 'netwright[ray]')")
            else:
                address = args.ray_address
                if not address:
                    from tests.clusters.ray_head import RayHead

                    head = RayHead(cpus=2).start()
                    stops.append(head.stop)
                    address = head.address
                specs["ray"] = spec_for("ray", args.steps, address=f'"{address}"', scratch_dir=f'"{tmp / "scratch"}"',
                                        python=f'"{sys.executable}"', mode=f'"{args.ray_mode}"')
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    closed = s.getsockname()[1]
                print(f"ray: an address nobody answers at (http://127.0.0.1:{closed}) refused after "
                      f"{refused_after(f'http://127.0.0.1:{closed}'):.2f} s")
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in specs}
        for rnd in range(args.rounds):
            for kind, spec in specs.items():
                first, step, status = measure(spec, tmp / kind)
                results[kind].append((first, step))
                print(f"round {rnd + 1} {kind:5s}: first step after {first:6.2f} s, {step * 1000:7.2f} ms/step ({status})",
                      flush=True)
        print(f"\n{args.steps}-step 2-rank DDP run, {args.rounds} round(s), ray mode {args.ray_mode}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'launcher':9s} {'submit->first step':>19s} {'ratio':>6s} {'per step':>10s} {'ratio':>6s}")
        local = results["local"]
        for kind, rows in results.items():
            first_ratio = statistics.median(r[0] / l[0] for r, l in zip(rows, local))
            step_ratio = statistics.median(r[1] / l[1] for r, l in zip(rows, local))
            print(f"{kind:9s} {statistics.median(r[0] for r in rows):17.2f} s {first_ratio:6.2f} "
                  f"{statistics.median(r[1] for r in rows) * 1000:7.2f} ms {step_ratio:6.2f}")
    finally:
        for stop in reversed(stops):
            stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
