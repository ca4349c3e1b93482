"""A plain PyTorch project: model.py (the model as readable code), train.py (the run's training as a
short script), weights.safetensors and a README. Needs only torch (+ scikit-learn for its data sets).
Checked twice: the generated class, seeded like the run, starts from the same weights as Netwright's
model (so train.py retraces the run), and with the run's weights gives the same outputs."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from engine.export.base import ExportError, ExportFormat, ExportJob, Verification, max_abs_diff, register, tolerance


def _import_model(folder: Path, class_name: str) -> Any:
    """The generated model class, imported from folder/model.py under a private module name."""
    name = f"_netwright_export_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return getattr(module, class_name)


def _readme(spec: Any, class_name: str, run_id: str, uses_npz: bool, sklearn: bool) -> str:
    needs = "torch, numpy, safetensors" + (", scikit-learn" if sklearn else "")
    return f"""# {spec.name}: a plain PyTorch project

Exported by Netwright from run `{run_id}`. Nothing here imports Netwright.

| file | what it is |
|---|---|
| `model.py` | the model as an `nn.Module` class, `{class_name}`, with one named attribute per layer |
| `weights.safetensors` | the trained weights (the run's checkpoint) |
| `train.py` | the run's data split, optimizer, schedule, regularization and loop as a plain script |
{"| `data.npz` | the samples the run's data source produced (x, y), before the split |" if uses_npz else ""}

Needs: {needs}.

Use the trained model:

```python
import torch
from safetensors.torch import load_file
from model import {class_name}

model = {class_name}()
model.load_state_dict(load_file("weights.safetensors"))
model.eval()
```

Train it again from scratch (same seed, same per-step losses as the Netwright run on the same machine):

```
python train.py
```
"""


@register
class ScriptFormat(ExportFormat):
    name = "script"
    suffix = ""
    description = "Folder: model.py (readable nn.Module), train.py (the run's loop), weights.safetensors, README"
    params = (tolerance(1e-5),)

    def write(self, job: ExportJob) -> Verification:
        import numpy as np
        import torch
        from safetensors.torch import save_file

        from engine.data.api import load_raw
        from engine.export.script.model_code import model_source
        from engine.export.script.train_code import train_source
        from engine.model import build_model

        run, out = job.run, job.out
        spec, info = run.spec, run.data.info
        source, class_name = model_source(run.model, spec, info.input_shape, info.input_dtype)
        raw = load_raw(spec.data, spec.seed)
        train, uses_npz = train_source(spec, raw, class_name, run.run_dir.name)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.py").write_text(source, encoding="utf-8")
        (out / "train.py").write_text(train, encoding="utf-8")
        if uses_npz:
            np.savez_compressed(out / "data.npz", x=raw.x, y=raw.y)
        state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
        save_file(state, str(out / "weights.safetensors"))
        sklearn = "sklearn" in train
        (out / "README.md").write_text(_readme(spec, class_name, run.run_dir.name, uses_npz, sklearn), encoding="utf-8")

        cls = _import_model(out, class_name)
        with torch.random.fork_rng():
            torch.manual_seed(spec.seed)
            fresh = build_model(spec, info.input_shape, info.input_dtype, info.num_classes).state_dict()
            torch.manual_seed(spec.seed)
            generated = cls()
        mismatch = [k for k, v in fresh.items() if k not in generated.state_dict() or not torch.equal(v, generated.state_dict()[k])]
        if mismatch or len(fresh) != len(generated.state_dict()):
            raise ExportError(str(out / "model.py"), f"the generated model does not start from Netwright's initial weights "
                                                f"(first difference: {(mismatch or ['a different set of weights'])[0]}) — "
                                                "please report this with the run's spec.toml")
        generated.load_state_dict(state)
        generated.eval()
        with torch.no_grad():
            diff = max_abs_diff(run.model(job.inputs), generated(job.inputs))
        return Verification(diff, float(job.options["tolerance"]), len(job.inputs),
                            "model.py rebuilt with weights.safetensors; its seeded initial weights equal Netwright's")
