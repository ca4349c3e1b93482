"""ONNX Runtime against PyTorch eager: CPU inference latency of each example's exported model.

For each example (digits_mlp, digits_cnn, resnet_mini, tiny_gpt) a run is trained a few steps,
exported to ONNX through `netwright export` (engine.export.export_run, which also checks the file
in ONNX Runtime), and both are timed in this one process on the same validation samples, in
alternating rounds (so the load of other processes on a shared machine hits both alike), at batch
size 1 (one example per call, the serving case) and at a batch of 64. Prints, per example and
batch size, the median latency per example and the ratio ONNX Runtime / PyTorch eager (below 1 =
ONNX Runtime is faster), plus the export's checked max difference.

    python benchmarks/export.py [--rounds 7] [--calls 50] [--threads 1] [--examples digits_mlp,tiny_gpt]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from engine.export import export_run  # noqa: E402
from engine.paths import EXAMPLES  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.session import run_training  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402
from engine.trained import load_run_model  # noqa: E402

EXAMPLE_NAMES = ("digits_mlp", "digits_cnn", "resnet_mini", "tiny_gpt")
SHORT = ["training.epochs=1", "training.max_steps=3", "tracking.tensorboard=false"]


def per_example(fn, x, calls: int) -> float:
    """Seconds per example of `calls` calls of fn(x)."""
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / (calls * len(x))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both (default 1)")
    parser.add_argument("--examples", default=",".join(EXAMPLE_NAMES))
    args = parser.parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s), "
          f"{args.rounds} alternating rounds of {args.calls} calls")
    print(f"{'example':<13} {'batch':>5} {'eager us/ex':>12} {'ORT us/ex':>10} {'ORT/eager':>10} {'checked diff':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.examples.split(","):
            spec = apply_overrides(load_spec(EXAMPLES / f"{name}.toml"), SHORT)
            run = RunDir.create(Path(tmp) / "runs", spec)
            run_training(run)
            record = export_run(run.path, "onnx", Path(tmp) / f"{name}.onnx")
            model = load_run_model(run.path).model
            session = ort.InferenceSession(record.file, options, providers=["CPUExecutionProvider"])
            x_all = load_run_model(run.path).data.x_val
            for batch in (1, 64):
                x = torch.as_tensor(x_all[:batch])
                x_np = x.numpy()

                def eager(inputs, model=model):
                    with torch.inference_mode():
                        return model(inputs)

                def onnx(inputs, session=session):
                    return session.run(None, {"input": inputs})

                eager(x), onnx(x_np)  # warm up
                ratios, eager_t, ort_t = [], [], []
                for r in range(args.rounds):
                    pair = [("eager", eager, x), ("ort", onnx, x_np)]
                    times = {}
                    for label, fn, inputs in (pair if r % 2 == 0 else pair[::-1]):
                        times[label] = per_example(fn, inputs, args.calls)
                    ratios.append(times["ort"] / times["eager"])
                    eager_t.append(times["eager"])
                    ort_t.append(times["ort"])
                print(f"{name:<13} {batch:>5} {statistics.median(eager_t) * 1e6:>12.1f} "
                      f"{statistics.median(ort_t) * 1e6:>10.1f} {statistics.median(ratios):>10.2f} "
                      f"{record.max_abs_diff:>13.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
