"""The Pretrained layer kind: a torchvision, timm or Hugging Face model as one block of the stack.

Its shape rule asks engine.pretrained.anatomy, which builds the model on torch's meta device (no
weights, cached), so a stack with a Pretrained block is checked like any other; the layers after
it are the new head (their sizes, e.g. Linear(out_features=0), still come from the data). The
builder creates the model, loads its weights (the library's own, a file or another run, matched
by name and shape, with a report) and applies the freeze setting (engine.pretrained.block).
"""
from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any, Sequence

from engine.layers.base import INT_DTYPES, Ctx, Out, ShapeError, fmt, layer
from engine.pretrained.anatomy import FREEZE, describe
from engine.pretrained.errors import PretrainedError
from engine.pretrained.loading import create_with_weights, weights_wanted
from engine.pretrained.sources import OUTPUTS, SOURCES, WEIGHTS
from engine.pretrained.weights import run_weights_file
from engine.registry import Param

PARAMS = (
    Param("source", "choice", "torchvision", "Where the model comes from", choices=SOURCES.choices()),
    Param("model", "str", "resnet18", "Architecture name (torchvision, timm), or a Hugging Face folder saved with "
                                      "save_pretrained() or hub id"),
    Param("weights", "choice", "library", "library = the source's own pretrained weights (downloaded once, then "
                                          "cached); random = fresh weights; file = weights_path; run = another "
                                          "Netwright run's checkpoint (weights_path = its folder)", choices=WEIGHTS),
    Param("weights_path", "path", "", "A .safetensors or .pth state dict (weights = file), or a run folder "
                                      "(weights = run)"),
    Param("checkpoint", "choice", "best", "Which checkpoint of the run (weights = run)", choices=("best", "latest")),
    Param("output", "choice", "features", "features = the model without its classifier (add your own head after "
                                          "it); classify = its classifier resized to the data's classes",
          choices=OUTPUTS),
    Param("classes", "int", 0, "Outputs of the classifier (output = classify; 0 = from the data)", min=0, max=1 << 20),
    Param("freeze", "choice", "none", "none = train everything; all = freeze the backbone; up_to = freeze the parts "
                                      "up to and including freeze_until", choices=FREEZE),
    Param("freeze_until", "str", "", "The last frozen part (freeze = up_to), e.g. layer3"),
    Param("lr_multiplier", "float", 1.0, "The backbone's learning rate = optimizer.lr x this (e.g. 0.1); "
                                         "layers after the block use optimizer.lr", min=0.0, max=100.0),
    Param("unfreeze_after", "int", 0, "Unfreeze the backbone after this many epochs (gradual unfreezing; 0 = never)",
          min=0, max=1_000_000),
)


def libraries_to_import(layers: Sequence[Any]) -> tuple[str, ...]:
    """The modules inferring the shapes of `layers` (LayerSpecs) would import first: torch and the
    model library of each enabled Pretrained layer, where installed but not imported yet (or still
    being imported: a module is in sys.modules from the start of its import). A first import takes
    seconds, so the GUI infers such a model off its thread."""
    wanted: set[str] = set()

    def visit(specs: Sequence[Any]) -> None:
        for spec in specs:
            if not spec.enabled:
                continue
            source = spec.params.get("source", "torchvision")
            if spec.type == "Pretrained" and source in SOURCES:
                wanted.update(("torch", *SOURCES.get(source).obj.libraries))
            visit(spec.layers)

    visit(layers)
    return tuple(sorted(name for name in wanted if not _imported(name) and _installed(name)))


def _imported(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


@functools.lru_cache(maxsize=None)
def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None  # (finds it without importing it)


def anatomy_of(options, shape, dtype: str = "float32"):
    """The anatomy (engine.pretrained.anatomy.Anatomy) of a Pretrained layer's resolved options
    for its input; raises ShapeError with a sentence saying what to do."""
    source = SOURCES.get(options["source"]).obj
    is_int = dtype in INT_DTYPES
    if source.kind == "image" and (is_int or len(shape) != 3):
        what = "token ids" if is_int else fmt(shape)
        raise ShapeError(f"{options['model']} expects images (channels, height, width), got {what} — use image "
                         "data, or source = \"huggingface\" for text")
    if source.kind == "tokens" and (not is_int or len(shape) != 1):
        raise ShapeError(f"{options['model']} expects token ids (one sequence per sample), got {fmt(shape)} "
                         f"{dtype} — use text data tokenized with this model's tokenizer")
    try:
        return describe(options["source"], options["model"], options["output"], options["classes"] or 2, shape, dtype)
    except PretrainedError as err:
        raise ShapeError(err.message) from None


def _check_options(p) -> None:
    weights, path = p["weights"], str(p["weights_path"]).strip()
    if weights in ("file", "run") and not path:
        what = "a .safetensors or .pth file" if weights == "file" else "a Netwright run folder"
        raise ShapeError(f"has weights = \"{weights}\" but no weights_path — set it to {what}")
    if weights_wanted():  # (not when a run's model is rebuilt for its own checkpoint: the source may be gone)
        if weights == "file" and not Path(path).expanduser().is_file():
            raise ShapeError(f"weights_path {path} is not a file — check the path")
        if weights == "run":
            try:
                run_weights_file(path, p["checkpoint"])
            except PretrainedError as err:
                raise ShapeError(err.message) from None
    if p["unfreeze_after"] and p["freeze"] == "none":
        raise ShapeError("has unfreeze_after but freeze = \"none\" (nothing to unfreeze) — set freeze, or "
                         "unfreeze_after = 0")


def _build(c: Ctx, children):
    from engine.pretrained.block import PretrainedNet  # torch and the model library only when a model is built

    p = c.p
    created, report = create_with_weights(p)
    net = PretrainedNet(created.net, kind=SOURCES.get(p["source"]).obj.kind, output=p["output"], heads=created.heads,
                        pad_id=created.pad_id, freeze=p["freeze"], freeze_until=p["freeze_until"],
                        lr_multiplier=p["lr_multiplier"], unfreeze_after=p["unfreeze_after"])
    net.load_report = report
    return net


@layer("Pretrained", "Pretrained", "A pretrained model (torchvision, timm or Hugging Face) as one block: its "
       "weights from the library, a file or another run; freeze it whole or up to a part, and add a new head "
       "after it", PARAMS, builder=_build, accepts="any", from_data=("classes",))
def pretrained(c: Ctx) -> Out:
    _check_options(c.p)
    anatomy = anatomy_of(c.p, c.shape, c.dtype)
    names = anatomy.part_names()
    if c.p["freeze"] == "up_to" and c.p["freeze_until"] not in names:
        raise ShapeError(f"freeze_until = {c.p['freeze_until']!r} is not a part of {c.p['model']} — use one of "
                         f"{', '.join(names)}")
    return Out(anatomy.out_shape, anatomy.params, "float32")


def frozen_parameters(rows) -> int:
    """Parameters left untrained by the freeze settings of the Pretrained rows among `rows`
    (engine.shapes.LayerRow objects: enabled, inferred, with resolved `options`)."""
    total = 0
    for row in rows:
        if row.type != "Pretrained" or not row.enabled or row.out_shape is None or row.in_shape is None:
            continue
        anatomy = anatomy_of(row.options, row.in_shape, row.in_dtype)
        total += anatomy.frozen_params(row.options["freeze"], row.options["freeze_until"])
    return total
