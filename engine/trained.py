"""A trained run's model, rebuilt: the architecture from its spec.toml, the weights from one of its
safetensors checkpoints, the data from its data source with the run's seed (so the validation split
is the one the model was validated on). Explain and export both open runs through here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.problems import Problem, SpecError

#: prefixes wrappers add to state-dict keys (DDP's `module.`, torch.compile's `_orig_mod.`)
_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True, eq=False)
class RunModel:
    """The run folder, its spec, the loaded data set, the checkpoint folder and the model (eval mode)."""

    run_dir: Path
    spec: Any
    data: Any
    checkpoint: Path
    model: Any


def load_run_model(run_dir: str | Path, checkpoint: str = "latest", *, device: str = "cpu",
                   purpose: str = "explaining") -> RunModel:
    """Rebuild a run's model with the weights of `checkpoint` ("latest", "best" or a folder name).
    SpecError naming the folder or file when the run, its checkpoint or its data cannot be used."""
    import torch

    from engine.checkpoint import WEIGHTS, checkpoint_folder, load_weights
    from engine.data import load_data
    from engine.model import build_model
    from engine.pretrained.loading import architecture_only
    from engine.runs import RunDir

    run = RunDir.open(run_dir)
    spec = run.load_spec()
    folder = checkpoint_folder(run.path, checkpoint, purpose)
    data = load_data(spec.data, spec.seed)
    info = data.info
    with architecture_only():  # a Pretrained block's source weights are replaced by the checkpoint's
        model = build_model(spec, info.input_shape, info.input_dtype, info.num_classes)
    state, quantized = read_weights(folder / WEIGHTS, load_weights)
    try:
        model.load_state_dict(state, strict=True, assign=quantized)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise SpecError([Problem(str(folder / WEIGHTS), f"does not fit the model in spec.toml ({first}) — "
                                                        "was spec.toml edited after training?")]) from None
    model.to(torch.device(device)).eval()
    return RunModel(run.path, spec, data, folder, model)


def read_weights(path: Path, load_weights: Any) -> tuple[dict[str, Any], bool]:
    """(state dict, quantized) of a weights file: a compressed run's torchao-quantized weights
    (safetensors with torchao metadata) come back as torchao tensors, loaded with assign=True."""
    from safetensors import safe_open

    state = {strip_prefixes(k): v for k, v in load_weights(path).items()}
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata() or {}
    if "tensor_names" not in metadata:
        return state, False
    import contextlib
    import io
    import logging

    logging.getLogger("torchao").setLevel(logging.ERROR)  # CUDA kernels a CPU build cannot load
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from torchao.prototype.safetensors.safetensors_support import unflatten_tensor_state_dict
    unflat = unflatten_tensor_state_dict(state, metadata)
    return (unflat[0] if isinstance(unflat, tuple) else unflat), True


def strip_prefixes(key: str) -> str:
    """A state-dict key without the prefixes wrappers add."""
    for prefix in _PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key
