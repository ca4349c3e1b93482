"""Weights of a compressed model as safetensors: plain tensors as they are, torchao's quantized
tensors flattened into plain ones plus JSON metadata (torchao's own safetensors support), so a
quantized run loads without pickle (engine.trained reads both)."""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Any, Iterator, Mapping


@contextlib.contextmanager
def quiet_torchao() -> Iterator[None]:
    """Import/use torchao without its log lines about CUDA kernels a CPU build cannot load."""
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import torchao  # noqa: F401  (imported here, quietly, once per process)
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def is_quantized(tensor: Any) -> bool:
    """Whether a state-dict value is a tensor subclass (torchao's quantized tensors)."""
    import torch

    return type(tensor) not in (torch.Tensor, torch.nn.Parameter)


def weights_bytes(state: Mapping[str, Any]) -> bytes:
    """The safetensors file of `state` (quantized tensors flattened with torchao metadata)."""
    from safetensors.torch import save

    state = {k: v.detach() for k, v in state.items()}
    if any(is_quantized(v) for v in state.values()):
        with quiet_torchao():
            from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

            data, metadata = flatten_tensor_state_dict(state)
        return save({k: v.contiguous() for k, v in data.items()}, metadata=metadata)
    return save({k: v.contiguous().clone() for k, v in state.items()})


def count_parameters(model: Any) -> tuple[int, int]:
    """(total, non-zero) parameter counts; a quantized weight counts its integer values."""
    total = nonzero = 0
    for p in model.parameters():
        data = getattr(p, "qdata", p.detach())
        total += int(p.numel())
        nonzero += int((data != 0).sum())
    return total, nonzero
