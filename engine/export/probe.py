"""When a whole model will not export, find the layer that will not: export each top-level layer
alone (with the input it sees in the model) until one fails, and name it by its spec path."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any, Callable, Iterator

from engine.export.base import ExportError


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """Silence the exporters' progress printing, log lines and warnings (deprecations inside
    torch.onnx/torch.export are not the user's); yields the warning texts so a format can keep them."""
    caught: list[str] = []
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as records, contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("always")
            yield caught
        # torch's own deprecations inside the exporters are not the user's business
        caught.extend(sorted({str(r.message).splitlines()[0][:200] for r in records
                              if not issubclass(r.category, (DeprecationWarning, FutureWarning))}))
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def first_line(err: BaseException) -> str:
    """The first informative line of an exporter's error (they can run to pages)."""
    for line in str(err).splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "---", "===")):
            return f"{type(err).__name__}: {line[:300]}"
    return type(err).__name__


def layer_inputs(model: Any, inputs: Any) -> list[tuple[str, Any, Any]]:
    """(name, module, the input it received) for each top-level layer, from one forward pass."""
    import torch

    seen: list[tuple[str, Any, Any]] = []
    hooks = [module.register_forward_pre_hook(lambda mod, args, name=name: seen.append((name, mod, args[0])))
             for name, module in model.named_children()]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def holds_quantized(model: Any) -> bool:
    """Whether the model's weights are torchao-quantized tensors (a compressed run), which the
    plain-tensor formats (script, bundle) cannot write."""
    import torch

    return any(type(p) not in (torch.Tensor, torch.nn.Parameter) and type(p.data) is not torch.Tensor
               for p in model.parameters())


def spec_paths(spec: Any) -> list[tuple[str, str]]:
    """(spec path, layer type) of each enabled top-level layer, in model order."""
    return [(f"model.layers[{i}]", layer.type) for i, layer in enumerate(spec.model.layers) if layer.enabled]


def name_failure(model: Any, inputs: Any, spec: Any, err: BaseException, try_export: Callable[[Any, Any], None],
                 what: str) -> ExportError:
    """The ExportError for a failed export of `model`: the first top-level layer that fails on its
    own (its spec path, label, type and the exporter's reason), or the whole model's reason."""
    reason = first_line(err)
    try:
        layers = layer_inputs(model, inputs)
    except Exception:  # the model does not even run: report the original error
        layers = []
    paths = spec_paths(spec)
    for index, (name, module, x) in enumerate(layers):
        try:
            with quiet():
                try_export(module, x)
        except Exception as layer_err:  # the exporters raise many kinds
            path, kind = paths[index] if index < len(paths) else (name, type(module).__name__)
            other = ("export the run from before its quantization, whose script and bundle always work"
                     if holds_quantized(model) else "script and bundle always work")
            return ExportError(path, f"layer {name} ({kind}) cannot be exported to {what}: {first_line(layer_err)} — "
                                     f"replace or remove this layer, or choose another format ({other})")
    return ExportError("model", f"cannot be exported to {what}: {reason}")
