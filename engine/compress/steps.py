"""The compression steps: prune (torch.nn.utils.prune / torch-pruning), quantize (torchao) and
finetune (an ordinary training run from the compressed weights)."""
from __future__ import annotations

from typing import Any, Mapping

from engine.compress.architecture import prunable, shrunk_spec
from engine.compress.base import CompressError, CompressState, CompressStep, register
from engine.compress.training import finetune
from engine.compress.weights import quiet_torchao
from engine.registry import Param


@register
class Prune(CompressStep):
    name = "prune"
    description = ("L1-magnitude pruning of Conv/Linear weights: unstructured (zeros, made permanent) or "
                   "structured (whole channels/neurons removed through torch-pruning's dependency graph)")
    params = (
        Param("sparsity", "float", 0.5, "Fraction of weights (unstructured) or channels (structured) to remove",
              min=0.0, max=1.0, exclusive_min=True),
        Param("structured", "bool", False, "Remove whole channels/neurons, so layers really shrink"),
        Param("scope", "choice", "global", "global: one threshold over all layers; layer: the same fraction per layer",
              choices=("global", "layer")),
    )

    def apply(self, state: CompressState, options: Mapping[str, Any], where: str) -> None:
        if state.quantized:
            raise CompressError(where, f"the model is already quantized ({state.quantized}) — prune before quantize")
        if options["sparsity"] >= 1.0:
            raise CompressError(f"{where}.sparsity", "must be below 1 (1 would remove every weight)")
        layers = prunable(state.spec, state.model)
        if options["structured"]:
            self._structured(state, options, where, layers)
        else:
            self._unstructured(state, options, where, layers)

    @staticmethod
    def _unstructured(state: CompressState, options: Mapping[str, Any], where: str, layers: list) -> None:
        from torch.nn.utils import prune

        if not layers:
            raise CompressError(where, "the model has no Conv or Linear layer to prune")
        targets = [(module, "weight") for _path, module in layers]
        if options["scope"] == "global":
            prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=options["sparsity"])
        else:
            for module, name in targets:
                prune.l1_unstructured(module, name, amount=options["sparsity"])
        for module, name in targets:
            prune.remove(module, name)  # permanent: the zeros are in the weight itself

    @staticmethod
    def _structured(state: CompressState, options: Mapping[str, Any], where: str, layers: list) -> None:
        import torch
        import torch_pruning as tp

        if len(layers) < 2:
            raise CompressError(where, "structured pruning needs a hidden Conv or Linear layer; this model has only "
                                       "its output layer, which keeps one output per class — use structured=false")
        output_path, output = layers[-1]
        before = {name: tuple(p.shape) for name, p in state.model.named_parameters()}
        x = torch.as_tensor(state.data.x_train[:2])
        pruner = tp.pruner.MetaPruner(state.model, x, importance=tp.importance.MagnitudeImportance(p=1),
                                      pruning_ratio=options["sparsity"], ignored_layers=[output],
                                      global_pruning=options["scope"] == "global")
        pruner.step()
        after = {name: tuple(p.shape) for name, p in state.model.named_parameters()}
        if after == before:
            raise CompressError(where, f"no layer could shrink at sparsity {options['sparsity']:g} (each hidden layer "
                                       "has too few channels to remove one) — raise sparsity or use structured=false")
        known = {id(m) for _p, m in layers}
        for name, module in state.model.named_modules():
            own = [p for p in module.parameters(recurse=False)]
            if own and id(module) not in known and not _follows(module) and any(
                    before[f"{name}.{n}"] != after[f"{name}.{n}"] for n, _p in module.named_parameters(recurse=False)):
                raise CompressError(where, f"layer {name} ({type(module).__name__}) cannot shrink: the spec has no "
                                           "width option for it — use structured=false")
        for path, module in layers:
            if min(module.weight.shape[:2]) < 1:
                raise CompressError(path, "would lose every channel — lower sparsity")
        state.spec = shrunk_spec(state.spec, state.model, state.data.info.num_classes)
        state.notes.append(f"structured prune: {sum(before[n][0] for n in before if n.endswith('weight'))} -> "
                           f"{sum(after[n][0] for n in after if n.endswith('weight'))} output channels/neurons")


def _follows(module: Any) -> bool:
    """Layers whose size follows the layer before them (norms, a residual's projection shortcut)."""
    import torch.nn as nn

    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.Conv1d, nn.Conv2d,
                               nn.Linear))


#: scheme -> (torchao config factory, description); names are the CLI's scheme=...
def _schemes() -> dict[str, Any]:
    from torchao.quantization import (Int4WeightOnlyConfig, Int8DynamicActivationInt8WeightConfig,
                                      Int8WeightOnlyConfig)

    return {"int8_dynamic": lambda o: Int8DynamicActivationInt8WeightConfig(),
            "int8_weight_only": lambda o: Int8WeightOnlyConfig(),
            "int4_weight_only": lambda o: Int4WeightOnlyConfig(group_size=o["group_size"])}


SCHEMES = ("int8_dynamic", "int8_static", "int8_weight_only", "int4_weight_only")


@register
class Quantize(CompressStep):
    name = "quantize"
    description = ("Post-training quantization of Linear layers through torchao: int8 dynamic activations + int8 "
                   "weights, or weight-only int8/int4")
    params = (
        Param("scheme", "choice", "int8_dynamic", "int8_dynamic (activations scaled per batch), int8_static "
              "(activation scales calibrated once on training samples), int8_weight_only or int4_weight_only",
              choices=SCHEMES),
        Param("group_size", "int", 128, "Weights per scale (int4_weight_only)", min=16, max=1024),
        Param("calibration", "int", 256, "Training samples whose activations set the static scales (int8_static)",
              min=1, max=1_000_000),
    )
    only_with = {"group_size": ("scheme", ("int4_weight_only",)), "calibration": ("scheme", ("int8_static",))}

    def apply(self, state: CompressState, options: Mapping[str, Any], where: str) -> None:
        import torch.nn as nn

        scheme = options["scheme"]
        if state.quantized:
            raise CompressError(where, f"the model is already quantized ({state.quantized})")
        linears = [m for m in state.model.modules() if type(m) is nn.Linear]
        if not linears:
            raise CompressError(where, "the model has no Linear layer; torchao quantizes Linear layers only")
        with quiet_torchao():
            from torchao.quantization import quantize_

            try:
                if scheme == "int8_static":
                    _quantize_static(state, options["calibration"])
                else:
                    quantize_(state.model, _schemes()[scheme](options))
                state.model.eval()
                state.model(_probe(state))
            except (ImportError, ValueError, AssertionError, RuntimeError, NotImplementedError) as err:
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise CompressError(f"{where}.scheme", f"{scheme} is not supported by this CPU build of torch/torchao "
                                                       f"({reason}) — use int8_dynamic or int8_weight_only") from None
        for module in state.model.modules():  # quantized weights are not trained further
            for p in module.parameters(recurse=False):
                p.requires_grad_(False)
        state.quantized = scheme
        others = sum(1 for m in state.model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)))
        if others:
            state.notes.append(f"quantize: {others} convolution layer(s) stay float32 (torchao quantizes Linear only)")


def _quantize_static(state: CompressState, samples: int) -> None:
    """int8 weights and int8 activations with one fixed scale per Linear input: each scale is the
    largest |activation| the layer sees on `samples` training samples (symmetric, per tensor)."""
    import torch
    import torch.nn as nn
    from torchao.quantization import Int8StaticActivationInt8WeightConfig, quantize_
    from torchao.quantization.granularity import PerRow, PerTensor

    linears = [m for m in state.model.modules() if type(m) is nn.Linear]
    seen: dict[int, tuple[float, int]] = {}

    def record(module: Any, inputs: Any) -> None:
        peak, _ = seen.get(id(module), (0.0, 0))
        seen[id(module)] = (max(peak, float(inputs[0].detach().abs().max())), inputs[0].dim())

    hooks = [m.register_forward_pre_hook(record) for m in linears]
    state.model.eval()
    try:
        with torch.no_grad():
            x = torch.as_tensor(state.data.x_train[:samples])
            for start in range(0, len(x), 256):
                state.model(x[start:start + 256])
    finally:
        for hook in hooks:
            hook.remove()
    for module in linears:
        peak, dims = seen.get(id(module), (0.0, 2))
        scale = torch.full((1,) * dims, max(peak, 1e-8) / 127.0)
        config = Int8StaticActivationInt8WeightConfig(act_quant_scale=scale, granularity=[PerTensor(), PerRow()])
        quantize_(state.model, config, filter_fn=lambda m, _fqn, target=module: m is target)


def _probe(state: CompressState) -> Any:
    import torch

    return torch.as_tensor(state.data.x_val[:2] if len(state.data.x_val) else state.data.x_train[:2])


@register
class Finetune(CompressStep):
    name = "finetune"
    description = "Train the compressed model further as an ordinary run (pruned weights stay zero)"
    params = (
        Param("epochs", "int", 2, "Passes over the training data", min=1, max=10_000),
        Param("lr", "float", 0.0, "Learning rate (0 = the source run's optimizer.lr)", min=0.0),
    )

    def apply(self, state: CompressState, options: Mapping[str, Any], where: str) -> None:
        if state.quantized:
            raise CompressError(where, f"a quantized model ({state.quantized}) cannot be fine-tuned — put finetune "
                                       "before quantize")
        finetune(state, options["epochs"], options["lr"], where)


from engine.compress import qat as _qat  # noqa: E402,F401  (registers the qat step after these three)
