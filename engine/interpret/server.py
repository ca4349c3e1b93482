"""The explain worker process: loads a trained run once and serves attribution requests.

    python -m engine.interpret.server RUN_DIR [--checkpoint latest]

Requests arrive on stdin, replies leave on stdout, one JSON line each (engine.interpret.protocol).
Request: {"id": n, "op": ..., ...}. Replies: {"id": n, "ok": true, "result": {...}},
{"id": n, "ok": false, "problems": [...]} (bad input) or {"id": n, "ok": false, "error": "..."}
(the method failed; the worker keeps serving), and {"id": n, "progress": f} while a request runs.
The first line is {"id": 0, "ok": true, "result": <info>} once the model is loaded (or an error).
Anything else the libraries print goes to stderr, never into the protocol stream.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import Any, BinaryIO, Callable

import numpy as np

from engine.interpret.protocol import dumps, loads, param_to_dict

Handler = Callable[["Session", dict], dict]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


class Session:
    """The loaded run plus the reply stream (progress messages go out while a request runs)."""

    def __init__(self, trained: Any, out: BinaryIO):
        self.trained = trained
        self.ctx = trained.explainable
        self.out = out
        self.request_id = 0
        self._predictions: dict[str, np.ndarray] = {}

    def send(self, message: dict) -> None:
        self.out.write(dumps(message))
        self.out.flush()

    def progress(self, fraction: float) -> None:
        self.send({"id": self.request_id, "progress": round(float(fraction), 4)})

    def probabilities(self, split: str) -> np.ndarray:
        if split not in self._predictions:
            self._predictions[split] = self.ctx.predict(self.trained.split(split)[0])
        return self._predictions[split]


def info(session: Session) -> dict:
    """What the GUI needs to build its controls: kind, names, splits, methods and their schemas."""
    from engine.interpret.methods import METHODS, method_params, methods_for

    ctx, trained = session.ctx, session.trained
    methods = []
    for name in methods_for(ctx):
        entry = METHODS.get(name)
        methods.append({"name": name, "group": entry.group, "description": entry.description,
                        "signed": bool(entry.extra.get("signed", True)), "delta": bool(entry.extra.get("delta")),
                        "params": [param_to_dict(p) for p in method_params(name, ctx)]})
    return {
        "run_dir": str(trained.run_dir), "checkpoint": str(trained.checkpoint), "name": trained.spec.name,
        "kind": ctx.kind, "task": ctx.task, "input_shape": list(ctx.input_shape), "num_classes": ctx.num_classes,
        "class_names": list(ctx.class_names), "feature_names": list(ctx.feature_names), "vocab": list(ctx.vocab), "pad_id": ctx.pad_id,
        "splits": {s: int(len(trained.split(s)[0])) for s in ("val", "train")},
        "conv_layers": ctx.conv_layers(), "methods": methods, "pid": os.getpid(),
    }


def _labels(y: np.ndarray) -> np.ndarray:
    from engine.interpret.core import true_label

    return np.array([-1 if (t := true_label(v)) is None else t for v in y], dtype=np.int64)


@handler("predictions")
def predictions(session: Session, req: dict) -> dict:
    """Per sample of a split: true label (-1 if none), predicted class, its probability
    (regression: target value, output and absolute error of the first output)."""
    split = req.get("split", "val")
    probs = session.probabilities(split)
    _, y = session.trained.split(split)
    if session.ctx.task == "regression":  # first output: target value, model output, absolute error
        true, out = np.asarray(y, np.float32).reshape(len(y), -1)[:, 0], probs[:, 0].astype(np.float32)
        return {"split": split, "true": true, "predicted": out, "confidence": np.abs(out - true), "regression": True}
    return {"split": split, "true": _labels(y), "predicted": probs.argmax(1).astype(np.int64),
            "confidence": probs.max(1).astype(np.float32)}


@handler("samples")
def samples(session: Session, req: dict) -> dict:
    """Display arrays (un-normalized inputs, or token ids) of the given sample indices; with
    `rgb` (images), uint8 (n, H, W, 3) thumbnails instead."""
    x, _ = session.trained.split(req.get("split", "val"))
    idx = np.asarray(req["indices"], dtype=np.int64)
    display = session.trained.display(x[idx])
    if req.get("rgb") and session.ctx.kind == "image":
        from engine.interpret.render import image_rgb

        rgb = np.stack([np.round(image_rgb(d) * 255).astype(np.uint8) for d in display]) if len(idx) else \
            np.zeros((0, 1, 1, 3), np.uint8)
        return {"indices": idx, "rgb": rgb}
    return {"indices": idx, "display": display.astype(x.dtype)}


@handler("explain")
def explain(session: Session, req: dict) -> dict:
    """One sample under one method: the Attribution's fields plus the display array."""
    from engine.interpret.core import explain_sample, true_label

    split, index = req.get("split", "val"), int(req["index"])
    x, y = session.trained.split(split)
    if not 0 <= index < len(x):
        from engine.problems import Problem, SpecError
        raise SpecError([Problem("index", f"sample {index} is outside the {split} split (0..{len(x) - 1})")])
    a = explain_sample(session.ctx, x[index], req["method"], req.get("params") or {}, req.get("target", "predicted"),
                       true_label=true_label(y[index]), index=index, progress=session.progress)
    return {"method": a.method, "params": a.params, "target": a.target, "predicted": a.predicted,
            "probabilities": a.probabilities, "values": a.values, "delta": a.delta, "true": a.true_label,
            "index": a.index, "seconds": a.seconds, "signed": a.signed, "notes": list(a.notes), "split": split,
            "display": session.trained.display(x[index])}


@handler("sanity")
def sanity(session: Session, req: dict) -> dict:
    """The model-randomization check over the given samples (cascading)."""
    from engine.interpret.sanity import randomization_check

    x, y = session.trained.split(req.get("split", "val"))
    idx = np.asarray(req["indices"], dtype=np.int64)
    r = randomization_check(session.ctx, x[idx], req["method"], req.get("params") or {}, req.get("target", "predicted"),
                            labels=y[idx], cascade=True)
    return {"method": r.method, "correlations": list(r.correlations), "mean": r.mean,
            "cascade": [[n, c] for n, c in r.cascade], "verdict": r.verdict()}


@handler("ping")
def ping(session: Session, req: dict) -> dict:
    return {"pid": os.getpid(), "time": time.time()}


def serve(session: Session, stream: BinaryIO) -> None:
    """Answer requests until stdin closes or a {"op": "quit"} arrives."""
    for line in stream:
        if not line.strip():
            continue
        try:
            req = loads(line)
        except ValueError as err:
            session.send({"id": -1, "ok": False, "error": f"unreadable request: {err}"})
            continue
        session.request_id = rid = int(req.get("id", -1))
        op = req.get("op")
        if op == "quit":
            break
        session.send(answer(session, rid, op, req))


def answer(session: Session, rid: int, op: str, req: dict) -> dict:
    """Run one request; problems and failures become error replies (the worker keeps going)."""
    from engine.problems import SpecError

    fn = HANDLERS.get(op)
    if fn is None:
        return {"id": rid, "ok": False, "error": f"unknown request {op!r} (known: {', '.join(HANDLERS)})"}
    try:
        return {"id": rid, "ok": True, "result": fn(session, req)}
    except SpecError as err:
        return {"id": rid, "ok": False, "problems": [{"path": p.path, "message": p.message} for p in err.problems]}
    except MemoryError:
        return {"id": rid, "ok": False, "error": "out of memory — use fewer steps, a smaller internal batch size "
                                                 "or fewer perturbations per evaluation"}
    except Exception as err:  # a Captum/torch failure on this model
        traceback.print_exc(file=sys.stderr)
        return {"id": rid, "ok": False, "error": f"{type(err).__name__}: {err}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.interpret.server")
    parser.add_argument("run_dir")
    parser.add_argument("--checkpoint", default="latest")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol stream
    os.dup2(sys.stderr.fileno(), 1)
    from engine.interpret.loading import load_trained
    from engine.problems import SpecError

    try:
        trained = load_trained(args.run_dir, args.checkpoint)
        session = Session(trained, out)
        session.send({"id": 0, "ok": True, "result": info(session)})
    except SpecError as err:
        out.write(dumps({"id": 0, "ok": False, "problems": [{"path": p.path, "message": p.message} for p in err.problems]}))
        out.flush()
        return 2
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        out.write(dumps({"id": 0, "ok": False, "error": f"{type(err).__name__}: {err}"}))
        out.flush()
        return 1
    serve(session, sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
