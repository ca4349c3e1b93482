"""Create a Pretrained layer's model with its weights: the library's own, a file or another run.

Inside :func:`architecture_only` (a run's model rebuilt to receive its own checkpoint: explain,
export) only the architecture is created: the weights that follow replace everything, so the
original source (a download, a file, a run) need not be there any more.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator, Mapping

from engine.pretrained.sources import SOURCES, Created
from engine.pretrained.weights import load_matching, read_state_dict, run_weights_file

_ARCHITECTURE_ONLY = contextvars.ContextVar("netwright_pretrained_architecture_only", default=False)


@contextlib.contextmanager
def architecture_only() -> Iterator[None]:
    """Models built inside get random weights whatever their `weights` option says."""
    token = _ARCHITECTURE_ONLY.set(True)
    try:
        yield
    finally:
        _ARCHITECTURE_ONLY.reset(token)


def weights_wanted() -> bool:
    """False inside :func:`architecture_only` (the weights source is neither read nor checked)."""
    return not _ARCHITECTURE_ONLY.get()


def create_with_weights(p: Mapping[str, Any]) -> tuple[Created, Any]:
    """(the created model, its LoadReport or None) for a Pretrained layer's resolved options `p`."""
    weights = p["weights"]
    bare = _ARCHITECTURE_ONLY.get()
    library = "library" if weights == "library" and not bare else "random"
    created = SOURCES.get(p["source"]).obj.create(p["model"], output=p["output"], classes=p["classes"] or 2,
                                                  weights=library)
    if bare or weights not in ("file", "run"):
        return created, None
    path = str(p["weights_path"]).strip()
    file = run_weights_file(path, p["checkpoint"]) if weights == "run" else path
    label = f"run {path} ({p['checkpoint']} checkpoint)" if weights == "run" else str(file)
    report = load_matching(created.net, read_state_dict(file), label, replaceable=created.heads)
    return created, report
