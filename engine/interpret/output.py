"""What an explanation leaves on disk: per sample an `.npy` (same shape as the input) and a PNG,
plus `summary.json`. The Explain page's "Export" writes the same files."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.interpret.context import Explainable
from engine.interpret.core import Attribution
from engine.interpret.render import render_bars, render_image, render_tokens, save_png

SUMMARY_VERSION = 1


def class_name(ctx: Explainable, index: int | None) -> str:
    if index is None:
        return "?"
    names = ctx.class_names
    return names[index] if 0 <= index < len(names) else str(index)


def header_lines(attr: Attribution, ctx: Explainable) -> list[str]:
    """Two lines: the prediction (with probability), true class and target; the method."""
    if ctx.task == "regression":
        value = float(attr.probabilities[attr.target])
        first = f"#{attr.index}   " if attr.index >= 0 else ""
        return [first + f"output {class_name(ctx, attr.target)} = {value:.4g}", attr.method + _delta(attr)]
    p = float(attr.probabilities[attr.predicted])
    first = f"predicted {_quote(class_name(ctx, attr.predicted))} ({p:.1%})"
    if attr.true_label is not None:
        mark = "✓" if attr.true_label == attr.predicted else "✗ misclassified"
        first += f"   true {_quote(class_name(ctx, attr.true_label))} {mark}"
    first += f"   target {_quote(class_name(ctx, attr.target))}"
    if attr.index >= 0:
        first = f"#{attr.index}   " + first
    return [first, attr.method + _delta(attr)]


def _delta(attr: Attribution) -> str:
    return "" if attr.delta is None else f"   convergence δ = {attr.delta:.2e}"


def _quote(name: str) -> str:
    return repr(name) if name.strip() != name or len(name) == 1 and not name.isalnum() else name


def render_attribution(attr: Attribution, ctx: Explainable, display: np.ndarray) -> Image.Image:
    """The PNG for one sample: image panels, feature bars or coloured tokens, by the data kind.
    `display` is the sample in display units (un-normalized) or token ids for text."""
    header = header_lines(attr, ctx)
    if ctx.kind == "image":
        return render_image(display, attr.values, attr.signed, header)
    if ctx.is_text:
        tokens, keep = ctx.shown_tokens(display)
        return render_tokens(tokens, np.ravel(attr.values)[keep], attr.signed, header)
    names = ctx.feature_names or tuple(f"x{i}" for i in range(attr.values.size))
    return render_bars(attr.values, names, header)


def sample_stem(attr: Attribution) -> str:
    return f"sample_{attr.index:05d}" if attr.index >= 0 else "sample"


def write_sample(out: Path, attr: Attribution, ctx: Explainable, display: np.ndarray, stem: str | None = None) -> tuple[Path, Path]:
    """Write `<stem>.npy` (the attribution array) and `<stem>.png` under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or sample_stem(attr)
    npy, png = out / f"{stem}.npy", out / f"{stem}.png"
    atomic_write_bytes(npy, npy_bytes(attr.values))
    save_png(render_attribution(attr, ctx, display), png)
    return npy, png


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def summary(run_dir: Path | None, checkpoint: Path | None, split: str, target: str, attrs: Sequence[Attribution],
            ctx: Explainable, seconds: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary.json document (method, parameters, targets, predictions, deltas, seconds)."""
    first = attrs[0] if attrs else None
    doc: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "run_dir": str(run_dir) if run_dir else None,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "split": split,
        "method": first.method if first else None,
        "params": first.params if first else {},
        "target": target,
        "samples": [dict(a.summary(ctx.class_names, ctx.task == "regression"), file=f"{sample_stem(a)}.npy")
                    for a in attrs],
        "seconds": round(seconds, 4),
        "seconds_per_sample": round(sum(a.seconds for a in attrs) / max(1, len(attrs)), 6),
    }
    doc.update(extra or {})
    return doc


def write_summary(out: Path, doc: dict[str, Any]) -> Path:
    path = out / "summary.json"
    atomic_write_text(path, json.dumps(doc, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
