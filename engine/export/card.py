"""The model card of an export: what the model is, what it was trained on, how well it did, and
the command that trains it again."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from engine.trained import RunModel


def model_card(run: "RunModel", checkpoint: str, fmt: str) -> str:
    """Markdown: model, data, training, metrics, parameters, command to reproduce."""
    from engine.runs import read_status

    spec, data, info = run.spec, run.data, run.data.info
    status = read_status(run.run_dir)
    metrics = status.get("metrics") or {}
    params = sum(p.numel() for p in run.model.parameters())
    options = ", ".join(f"{k} = {v!r}" for k, v in spec.data.options.items()) or "defaults"
    lines = [
        f"# {spec.name}", "",
        f"Exported by Netwright ({fmt}) from run `{run.run_dir.name}`, checkpoint `{run.checkpoint.name}` ({checkpoint}).", "",
        "## Model", "",
        f"- {params:,} parameters, {len(spec.model.layers)} top-level layers: "
        + ", ".join(layer.type for layer in spec.model.layers if layer.enabled),
        f"- input: shape (batch, {', '.join(str(d) for d in info.input_shape)}), {info.input_dtype}"
        + (" (normalized with the training split's mean/std — see spec.toml [data])" if data.norm is not None else ""),
        f"- output: {info.task.replace('_', ' ')}, {info.num_classes} "
        + ("classes" if info.task == "classification" else "scores per position" if info.task == "language_modeling" else "targets"),
        "", "## Data", "",
        f"- source `{spec.data.source}` ({options}), seed {spec.seed}",
        f"- {data.train_size:,} training and {data.val_size:,} validation samples (val_fraction {spec.data.val_fraction})",
    ]
    if info.class_names and info.task == "classification":
        lines.append(f"- classes: {', '.join(info.class_names[:20])}{' …' if len(info.class_names) > 20 else ''}")
    lines += ["", "## Training", "",
              f"- optimizer {spec.optimizer.name} {dict(spec.optimizer.options)}, scheduler {spec.scheduler.name}, "
              f"batch size {spec.data.batch_size}, epochs {spec.training.epochs}"
              + (f", max_steps {spec.training.max_steps}" if spec.training.max_steps else ""),
              f"- status: {status.get('status', 'unknown')}, step {status.get('step', '?')}, epoch {status.get('epoch', '?')}",
              "", "## Metrics (final validation)", ""]
    lines += [f"- {k}: {v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))] or ["- none recorded"]
    lines += ["", "## Reproduce", "", "```", "pip install netwright", "netwright train spec.toml", "```", ""]
    return "\n".join(lines)
