"""Quantization-aware training (torchao QATConfig): Linear layers are fake-quantized (int8 dynamic
activations, int8 or int4 weights), trained as an ordinary run so the weights learn to live with
the rounding, then converted to real quantized weights."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping

from engine.compress.base import CompressError, CompressState, CompressStep, register
from engine.compress.training import finetune
from engine.compress.weights import quiet_torchao
from engine.registry import Param


def _base_config(options: Mapping[str, Any]) -> Any:
    """torchao's Int8DynamicActivationIntxWeightConfig: per-channel int8 or per-group int4 weights."""
    import torch
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig
    from torchao.quantization.granularity import PerAxis, PerGroup

    if options["weights"] == "int4":
        return Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4,
                                                     weight_granularity=PerGroup(options["group_size"]))
    return Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0))


@register
class QuantizationAwareTraining(CompressStep):
    name = "qat"
    description = ("Quantization-aware training through torchao: fake-quantized Linear layers (int8 activations, "
                   "int8 or int4 weights) trained for some epochs, then converted to quantized weights")
    params = (
        Param("epochs", "int", 2, "Passes over the training data with fake quantization", min=1, max=10_000),
        Param("lr", "float", 0.0, "Learning rate (0 = the source run's optimizer.lr)", min=0.0),
        Param("weights", "choice", "int8", "Weight precision: int8 (one scale per output channel) or int4 "
                                           "(one scale per group_size weights)", choices=("int8", "int4")),
        Param("group_size", "int", 32, "Weights per scale (int4)", min=8, max=1024),
    )
    only_with = {"group_size": ("weights", ("int4",))}

    def apply(self, state: CompressState, options: Mapping[str, Any], where: str) -> None:
        import torch.nn as nn

        if state.quantized:
            raise CompressError(where, f"the model is already quantized ({state.quantized})")
        linears = [m for m in state.model.modules() if type(m) is nn.Linear]
        if not linears:
            raise CompressError(where, "the model has no Linear layer; torchao quantizes Linear layers only")
        if options["weights"] == "int4":
            odd = [m.in_features for m in linears if m.in_features % options["group_size"]]
            if odd:
                raise CompressError(f"{where}.group_size", f"{options['group_size']} does not divide the input size "
                                                           f"{odd[0]} of a Linear layer — choose a divisor, or int8")
        with quiet_torchao(), _named(where, options["weights"]):
            from torchao.quantization import quantize_
            from torchao.quantization.qat import QATConfig

            base = _base_config(options)
            quantize_(state.model, QATConfig(base, step="prepare"))
        finetune(state, options["epochs"], options["lr"], where, what="qat")
        with quiet_torchao(), _named(where, options["weights"]):
            quantize_(state.model, QATConfig(base, step="convert"))
        state.model.eval()
        for p in state.model.parameters():  # quantized weights are not trained further
            p.requires_grad_(False)
        state.quantized = f"qat_{options['weights']}"


@contextlib.contextmanager
def _named(where: str, weights: str) -> Iterator[None]:
    """torchao's refusals (an unsupported build or layer) as a problem of `<step>.weights`."""
    try:
        yield
    except (ImportError, ValueError, AssertionError, RuntimeError, NotImplementedError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CompressError(f"{where}.weights", f"quantization-aware training to {weights} is not supported by this "
                                                f"CPU build of torch/torchao ({reason}) — use int8, or the quantize step") from None
