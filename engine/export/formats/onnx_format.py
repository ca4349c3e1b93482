"""ONNX through torch.onnx.export, checked in ONNX Runtime."""
from __future__ import annotations

import importlib.util
from typing import Any

from engine.export.base import (ExportError, ExportFormat, ExportJob, Verification, max_abs_diff, register,
                                tolerance)
from engine.export.probe import name_failure, quiet
from engine.registry import Param

INPUT, OUTPUT = "input", "output"
EXPORTERS = ("auto", "dynamo", "torchscript")


def _export(model: Any, x: Any, path: str, opset: int, dynamo: bool) -> None:
    import torch

    kwargs: dict[str, Any] = {"input_names": [INPUT], "output_names": [OUTPUT], "opset_version": opset}
    if dynamo:
        kwargs.update(dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False, external_data=False)
    else:
        kwargs.update(dynamo=False, dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    torch.onnx.export(model, (x,), path, **kwargs)


def run_onnx(path: str, x: Any) -> Any:
    """Outputs of an .onnx file in ONNX Runtime (CPU) for a numpy or torch input."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return session.run(None, {INPUT: x})[0]


@register
class OnnxFormat(ExportFormat):
    name = "onnx"
    suffix = ".onnx"
    description = ("ONNX file (dynamic batch; input 'input', output 'output'), checked in ONNX Runtime on "
                   "validation samples")
    params = (
        Param("opset", "int", 18, "ONNX opset version", min=9, max=23),
        Param("exporter", "choice", "auto", "auto = the dynamo exporter, else the TorchScript-based one",
              choices=EXPORTERS),
        tolerance(1e-4),
    )

    def write(self, job: ExportJob) -> Verification:
        import torch

        missing = [name for name in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(name) is None]
        if missing:
            raise ExportError("--format", f"onnx needs {', '.join(missing)} — pip install 'netwright[export]'")
        import onnxruntime

        model, x, opts = job.run.model, job.inputs, job.options
        job.out.parent.mkdir(parents=True, exist_ok=True)
        tries = {"auto": (True, False), "dynamo": (True,), "torchscript": (False,)}[opts["exporter"]]
        errors: list[tuple[bool, BaseException]] = []
        notes: list[str] = []
        for dynamo in tries:
            try:
                with quiet() as caught:
                    _export(model, x, str(job.out), int(opts["opset"]), dynamo)
                notes += caught
                used = "dynamo exporter" if dynamo else "TorchScript-based exporter"
                if errors:
                    notes.append(f"the dynamo exporter failed ({errors[0][1].__class__.__name__}), "
                                 "so the TorchScript-based one was used")
                break
            except Exception as err:  # the exporters raise many kinds
                errors.append((dynamo, err))
        else:
            dynamo, err = errors[0]
            raise name_failure(model, x, job.run.spec, err,
                               lambda m, xi: _export(m, xi, str(job.out) + ".probe", int(opts["opset"]), dynamo),
                               "ONNX")
        with torch.no_grad():
            expected = model(x)
        diff = max(max_abs_diff(expected, run_onnx(str(job.out), x)),
                   max_abs_diff(expected[:1], run_onnx(str(job.out), x[:1])))  # a second batch size: dynamic batch
        return Verification(diff, float(opts["tolerance"]), len(x),
                            f"{used}, opset {int(opts['opset'])}, onnxruntime {onnxruntime.__version__}", tuple(notes))
