"""Strategy `tensor`: Linear pairs and transformer blocks split over the ranks (engine.parallel.tensor)."""
from __future__ import annotations

from engine.parallel import plan
from engine.parallel.strategy import DTensorStrategy, LayoutDetails, MemorySplit, register
from engine.problems import Problem


@register
class TensorParallel(DTensorStrategy):
    name = "tensor"
    description = ("Tensor parallel: Linear pairs and transformer blocks (attention heads and MLP) are split "
                   "column/row-wise over the ranks; every rank sees the whole batch.")
    allows_l1 = False

    def check(self, spec, rows):
        return [] if rows is None else _tensor_problems(spec, rows, plan.world_size(spec))

    def memory_layout(self, spec, rows):
        split = []
        for item in plan.tensor_plan(rows):
            split.append(item.index)
            if item.style == "colwise":  # the element-wise layers after it work on split outputs
                j = item.index + 1
                while j < len(rows) and plan.is_elementwise(rows[j].type):
                    split.append(j)
                    j += 1
        return {"tensor_split": split}

    def memory_split(self, params, acts, *, ranks, slots, tensor_split=(), **layout):
        if ranks <= 1:
            return super().memory_split(params, acts, ranks=ranks, slots=slots)
        split = set(tensor_split)
        p = sum(v // ranks if i in split else v for i, v in enumerate(params))
        a = sum(v // ranks if i in split else v for i, v in enumerate(acts))
        return MemorySplit(p, p, p * slots, a)

    def layout_details(self, spec, rows, problems):
        return LayoutDetails(tensor_split=tuple(f"{item.label} ({item.style})" for item in plan.tensor_plan(rows)))

    def setup_model(self, ctx, model):
        from engine.parallel.tensor import apply_tensor  # torch: only a rank wraps a model

        return apply_tensor(model.to(ctx.torch_device), mesh=ctx.mesh)

    def model_state_dict(self, ctx, model):
        state = super().model_state_dict(ctx, model)
        if getattr(model, "split_attention", ()):
            from engine.parallel.tensor import pack_attention  # torch: only a rank saves weights

            state = pack_attention(state, model.split_attention)
        return state


def _tensor_problems(spec, rows, tp: int) -> list[Problem]:
    items = plan.tensor_plan(rows)
    if not items:
        kinds = sorted({r.type for r in rows})
        return [Problem("parallel.strategy", f"tensor parallel has nothing to split in this model (layers: {', '.join(kinds)}): "
                                             "it splits Linear pairs (Linear, optional activations, Linear) and TransformerBlocks — "
                                             "add such layers or use strategy ddp")]
    problems = []
    for item in items:
        row = rows[item.index]
        path = row.path
        if item.style == "colwise":
            width = row.out_shape[-1] if row.out_shape else 0
            if width % tp:
                problems.append(Problem(f"{path}.out_features", f"({row.label}) has {width} outputs, which do not divide by the "
                                                              f"{tp} tensor-parallel ranks — use a multiple of {tp}"))
        elif item.style == "block":
            layer = _layer_spec(spec, row.index)
            heads = int(layer.params.get("heads", 1)) if layer is not None else 1
            dim = row.out_shape[-1] if row.out_shape else 0
            ratio = float(layer.params.get("mlp_ratio", 4)) if layer is not None else 4.0
            hidden = int(dim * ratio)
            if heads % tp:
                problems.append(Problem(f"{path}.heads", f"({row.label}) has {heads} heads, which do not divide by the {tp} "
                                                         f"tensor-parallel ranks — use a multiple of {tp}"))
            if hidden % tp:
                problems.append(Problem(f"{path}.mlp_ratio", f"({row.label}) gives an MLP width of {hidden} ({dim} x {ratio:g}), "
                                                             f"which does not divide by the {tp} tensor-parallel ranks"))
    return problems


def _layer_spec(spec, index: tuple[int, ...]):
    layers, layer = spec.model.layers, None
    for i in index:
        if i >= len(layers):
            return None
        layer = layers[i]
        layers = layer.layers
    return layer
