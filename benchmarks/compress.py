"""Compression per technique and example: size ratio, CPU latency ratio and accuracy delta.

For each example a run is trained briefly, then compressed once per technique through
`netwright compress` (engine.compress.compress_run). The source and the compressed model are then
timed in this one process in alternating rounds (so the load of other processes on a shared
machine hits both alike): median latency per batch of the spec's batch size. Prints, per example
and technique, weights-file size ratio (compressed / source), latency ratio (below 1 = faster),
parameter ratio and the validation accuracy delta (points).

    python benchmarks/compress.py [--rounds 5] [--threads 1] [--examples digits_cnn,resnet_mini]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from engine.compress import compress_run  # noqa: E402
from engine.compress.measure import latency_ms  # noqa: E402
from engine.paths import EXAMPLES  # noqa: E402
from engine.problems import SpecError  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.session import run_training  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402
from engine.trained import load_run_model  # noqa: E402

#: example -> training overrides (short, but long enough for a meaningful accuracy)
EXAMPLES_TRAINING = {
    "digits_mlp": ["training.epochs=5"],
    "digits_cnn": ["training.epochs=4"],
    "resnet_mini": ["training.epochs=3"],
    "seed_bigmodel": ["training.max_steps=20", "data.samples=960"],
}
TECHNIQUES = {
    "prune 50% unstructured": ["prune:sparsity=0.5"],
    "prune 50% + finetune 2": ["prune:sparsity=0.5", "finetune:epochs=2"],
    "prune 50% structured": ["prune:sparsity=0.5,structured=true,scope=layer"],
    "structured + finetune 2": ["prune:sparsity=0.5,structured=true,scope=layer", "finetune:epochs=2"],
    "int8 dynamic": ["quantize:scheme=int8_dynamic"],
    "int8 weight-only": ["quantize:scheme=int8_weight_only"],
    "int8 static (calibrated)": ["quantize:scheme=int8_static"],
    "QAT int8, 2 epochs": ["qat:epochs=2"],
}


def alternating_ratio(source, result, batch, rounds: int) -> float:
    """Median over `rounds` of latency(result) / latency(source), timed back to back."""
    ratios = []
    for _ in range(rounds):
        ratios.append(latency_ms(result, batch, repeats=5) / latency_ms(source, batch, repeats=5))
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", default=",".join(EXAMPLES_TRAINING))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{'example':14s} {'technique':26s} {'size':>7s} {'latency':>8s} {'params':>7s} {'acc delta':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for example in args.examples.split(","):
            spec = apply_overrides(load_spec(EXAMPLES / f"{example}.toml"),
                                   [*EXAMPLES_TRAINING[example], "training.log_every=1000", "tracking.tensorboard=false"])
            run = RunDir.create(Path(tmp) / "runs", spec)
            run_training(run)
            source = load_run_model(run.path)
            batch = torch.as_tensor(source.data.x_val[: spec.data.batch_size])
            for technique, steps in TECHNIQUES.items():
                try:
                    result = compress_run(run.path, steps, runs_dir=Path(tmp) / "compressed", timed=False)
                except SpecError as err:
                    print(f"{example:14s} {technique:26s} refused: {err.problems[0].message[:70]}")
                    continue
                compressed = load_run_model(result.run_dir).model
                latency = alternating_ratio(source.model, compressed, batch, args.rounds)
                d = result.deltas
                acc = 100 * d["val_quality_delta"] if d["val_quality_delta"] is not None else float("nan")
                print(f"{example:14s} {technique:26s} {d['size_ratio']:7.3f} {latency:8.3f} {d['params_ratio']:7.3f} "
                      f"{acc:+9.2f}pt", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
