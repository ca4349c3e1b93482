"""torch.export: an ExportedProgram saved as .pt2, reloaded with torch.export.load and compared."""
from __future__ import annotations

from typing import Any

from engine.export.base import ExportFormat, ExportJob, Verification, max_abs_diff, register, tolerance
from engine.export.probe import name_failure, quiet


def export_program(model: Any, x: Any) -> Any:
    """The ExportedProgram of `model` on inputs like `x`, with a dynamic batch dimension."""
    import torch

    return torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},), strict=False)


@register
class TorchExportFormat(ExportFormat):
    name = "torch_export"
    suffix = ".pt2"
    description = "torch.export ExportedProgram (.pt2, dynamic batch), reloaded with torch.export.load and checked"
    params = (tolerance(1e-5),)

    def write(self, job: ExportJob) -> Verification:
        import torch

        model, x = job.run.model, job.inputs
        job.out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with quiet() as notes:
                program = export_program(model, x)
                torch.export.save(program, str(job.out))
        except Exception as err:  # torch.export raises many kinds
            raise name_failure(model, x, job.run.spec, err, lambda m, xi: export_program(m, xi), "torch.export") from None
        with quiet():
            loaded = torch.export.load(str(job.out)).module()
        with torch.no_grad():
            expected = model(x)
            diff = max(max_abs_diff(expected, loaded(x)), max_abs_diff(expected[:1], loaded(x[:1])))
        return Verification(diff, float(job.options["tolerance"]), len(x),
                            f"torch.export (non-strict), reloaded with torch.export.load, torch {torch.__version__}",
                            tuple(notes))
