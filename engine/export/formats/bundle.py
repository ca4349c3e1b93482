"""The bundle: weights (safetensors) + spec.toml + a model card (data, metrics, parameters, command
to reproduce). Checked by rebuilding the model from the bundle's own spec and weights."""
from __future__ import annotations

from engine.export.base import ExportFormat, ExportJob, Verification, max_abs_diff, register


@register
class BundleFormat(ExportFormat):
    name = "bundle"
    suffix = ""
    description = "Folder: model.safetensors + spec.toml + MODEL_CARD.md (rebuilt from the bundle and checked)"

    def write(self, job: ExportJob) -> Verification:
        import torch
        from safetensors.torch import load_file, save_file

        from engine.export.card import model_card
        from engine.model import build_model
        from engine.spec import load_spec, save_spec
        from engine.trained import strip_prefixes

        run, out = job.run, job.out
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "netwright_spec": "spec.toml"})
        save_spec(run.spec, out / "spec.toml")
        (out / "MODEL_CARD.md").write_text(model_card(run, job.checkpoint, "bundle"), encoding="utf-8")
        # the check: what a user of the bundle does (spec -> model, weights -> state) gives the same outputs
        info = run.data.info
        rebuilt = build_model(load_spec(out / "spec.toml"), info.input_shape, info.input_dtype, info.num_classes)
        rebuilt.load_state_dict({strip_prefixes(k): v for k, v in load_file(str(out / "model.safetensors")).items()})
        rebuilt.eval()
        with torch.no_grad():
            diff = max_abs_diff(run.model(job.inputs), rebuilt(job.inputs))
        return Verification(diff, 0.0, len(job.inputs), "rebuilt from the bundle's spec.toml and model.safetensors")
