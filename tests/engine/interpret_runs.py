"""Run directories with a trained checkpoint for the explain tests, made in-process in about a
second (plain torch training on the example spec; the real trainer is tested elsewhere)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from engine.paths import EXAMPLES


def make_run(runs_dir: Path, example: str = "digits_cnn", steps: int = 60, lr: float = 0.01, *, spec=None,
             **overrides) -> Path:
    """Create a run from engine/resources/examples/<example>.toml (or `spec`), train `steps` Adam steps
    with one thread, checkpoint it."""
    from engine.checkpoint import save_checkpoint
    from engine.data import load_data
    from engine.model import build_model
    from engine.runs import RunDir, write_status
    from engine.spec import apply_overrides, load_spec

    spec = spec if spec is not None else load_spec(EXAMPLES / f"{example}.toml")
    if overrides:
        spec = apply_overrides(spec, [f"{k}={v}" for k, v in overrides.items()])
    run = RunDir.create(runs_dir, spec)
    data = load_data(spec.data, spec.seed)
    info = data.info
    torch.manual_seed(spec.seed)
    model = build_model(spec, info.input_shape, info.input_dtype, info.num_classes)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    g = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        out = model(x[idx])
        if info.task == "regression":
            loss = nn.functional.mse_loss(out, y[idx].reshape(out.shape))
        else:
            loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    save_checkpoint(run.checkpoints, model.state_dict(), {"step": steps}, step=steps)
    write_status(run, "completed", name=spec.name, started=0.0, ended=1.0)
    return run.path


TEXT_SPEC = """
name = "tiny_lm"
seed = 0
[data]
source = "text"
path = "{path}"
seq_len = 12
batch_size = 32
[model]
layers = [
  {{type = "Embedding", num_embeddings = 0, embedding_dim = 16}},
  {{type = "GRU", hidden_size = 32}},
  {{type = "LMHead", vocab_size = 0}},
]
"""


def text_spec(folder: Path):
    """A small character-level GRU language model over a short text written into `folder`."""
    from engine.spec import load_spec

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 40, encoding="utf-8")
    path = folder / "tiny_lm.toml"
    path.write_text(TEXT_SPEC.format(path=corpus.as_posix()), encoding="utf-8")
    return load_spec(path)


def regression_spec(folder: Path):
    """A CSV regression (y = a - 2b + c/2 + noise) with a small MLP."""
    import numpy as np

    from engine.spec import load_spec

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=120) * 0.1
    rows = "\n".join(",".join(f"{v:.4f}" for v in (*r, t)) for r, t in zip(x, y))
    (folder / "reg.csv").write_text("a,b,c,y\n" + rows + "\n", encoding="utf-8")
    (folder / "reg.toml").write_text(f"""
name = "reg"
[data]
source = "csv"
path = "{(folder / 'reg.csv').as_posix()}"
target = "y"
[model]
layers = [{{type = "Linear", out_features = 16}}, {{type = "ReLU"}}, {{type = "Linear", out_features = 0}}]
""", encoding="utf-8")
    return load_spec(folder / "reg.toml")
