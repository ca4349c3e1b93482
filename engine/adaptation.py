"""Input adaptation: does the data fit what the model at the start of the stack expects?

A pretrained model (a `Pretrained` block as the first layer) was trained on inputs of a certain
form: images of a size and channel count, normalized with a certain mean and std; token ids from
its own tokenizer. Each mismatch is a Problem carrying a `fix` (``--set`` assignments on the data
options: resize to the model's size, repeat grey to 3 channels, use the model's mean/std, use the
model's tokenizer) that the GUI applies in one click and the CLI prints. Problems block training,
so each is raised only where it matters: channels always; the size when the model cannot run at
the data's size (a ViT; a CNN runs at any size, and may be fine-tuned on small images on
purpose); the normalization when the library's own weights are loaded (random weights learn
whatever normalization the data has). Native stacks get one check too: an Embedding too small
for the tokenizer's vocabulary.

What a model expects comes from its library (torchvision's weight transforms, timm's pretrained
config, a Hugging Face folder's files), registered per source in `EXPECTATIONS`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from engine.problems import Problem, SpecError
from engine.registry import Registry


@dataclass(frozen=True)
class Expectation:
    """What a pretrained model reads: images of `channels` x `size` x `size` (`fixed_size`: it
    cannot run at another size) normalized by `normalize` (a data.normalize choice, or None when
    its mean/std match none); or token ids from the tokenizer in `tokenizer` (a folder)."""

    model: str
    channels: int = 3
    size: int = 224
    normalize: str | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    tokenizer: str = ""
    vocab_size: int = 0


#: pretrained source name -> function(model name) -> Expectation or None (unknown)
EXPECTATIONS: Registry[Callable[[str], Expectation | None]] = Registry("pretrained source")


def _torchvision(model: str) -> Expectation | None:
    from engine.pretrained.compat import ensure_torchvision  # torchvision only for a torchvision block

    tv = ensure_torchvision()
    try:
        transforms = tv.models.get_model_weights(model).DEFAULT.transforms()
    except (ValueError, KeyError, AttributeError):  # unknown name: the layer's own check names it
        return None
    return _image(model, 3, int(transforms.crop_size[0]), tuple(transforms.mean), tuple(transforms.std))


def _timm(model: str) -> Expectation | None:
    from engine.pretrained.compat import ensure_torchvision  # timm imports torchvision (see compat)

    ensure_torchvision()
    import timm  # timm only for a timm block

    cfg = timm.models.get_pretrained_cfg(model)
    if cfg is None:
        return None
    channels, size = int(cfg.input_size[0]), int(cfg.input_size[-1])
    return _image(model, channels, size, tuple(cfg.mean), tuple(cfg.std))


def _image(model: str, channels: int, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Expectation:
    from engine.data.augment import normalization_for  # numpy: the GUI checks specs before numpy loads

    return Expectation(model, channels, size, normalization_for(mean, std), mean, std)


def _huggingface(model: str) -> Expectation | None:
    """A local folder's tokenizer and vocabulary size (a hub id: unknown without a download)."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return None
    tokenizer = str(folder) if any((folder / n).is_file() for n in ("tokenizer.json", "vocab.txt")) else ""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    return Expectation(model, tokenizer=tokenizer, vocab_size=int(config.get("vocab_size") or 0))


EXPECTATIONS.add("torchvision", _torchvision, description="weights' transforms: crop size, mean and std")
EXPECTATIONS.add("timm", _timm, description="timm's pretrained config: input size, mean and std")
EXPECTATIONS.add("huggingface", _huggingface, description="a saved folder's tokenizer and config.json vocabulary")


def check_adaptation(spec: Any) -> list[Problem]:
    """Problems (each with a fix) where the data does not fit the first layer's expectations."""
    from engine.data import DATA_SOURCES, describe_data  # as in engine.shapes: the GUI checks before data loads

    layers = [(i, layer) for i, layer in enumerate(spec.model.layers) if layer.enabled]
    if not layers:
        return []
    try:
        info = describe_data(spec.data)
    except SpecError:
        return []  # reported by check_data
    index, first = layers[0]
    path = f"model.layers[{index}]"
    if first.type == "Embedding":
        return _embedding_problems(path, first.params, info)
    if first.type != "Pretrained":
        return []
    source, model = str(first.params.get("source", "torchvision")), str(first.params.get("model", "resnet18"))
    if source not in EXPECTATIONS:
        return []
    try:
        expected = EXPECTATIONS.get(source).obj(model)
    except Exception:  # noqa: BLE001  (a library missing or failing here: the layer's own check reports it)
        return []
    if expected is None:
        return []
    options = set(p.name for p in DATA_SOURCES.get(spec.data.source).params) if spec.data.source in DATA_SOURCES else set()
    if info.kind == "image":
        return _image_problems(expected, info, spec.data, options, first.params)
    if info.kind == "text":
        return _text_problems(expected, info, spec.data, options, path)
    return []


def _image_problems(expected: Expectation, info: Any, data: Any, options: set[str],
                    layer: Mapping[str, Any]) -> list[Problem]:
    channels, height, width = info.input_shape
    problems = []
    if channels != expected.channels:
        grey = channels == 1 and expected.channels == 3
        fix = ("data.color=rgb",) if grey and "color" in options else ()
        how = "repeat the grey channel to 3 (data.color = rgb)" if fix else "use images with that many channels"
        problems.append(Problem("data.color" if fix else "data", f"{expected.model} expects {expected.channels}-channel "
                                f"images but the data has {channels} — {how}", fix))
    if (height, width) != (expected.size, expected.size) and not _runs_at(layer, (expected.channels, height, width)):
        fix = (f"data.size={expected.size}",) if "size" in options else ()
        problems.append(Problem("data.size" if fix else "data", f"{expected.model} was trained on "
                                f"{expected.size}x{expected.size} images and cannot read the data's {height}x{width} — "
                                f"resize to {expected.size} (data.size = {expected.size})", fix))
    current = data.options.get("normalize", "dataset")
    library = layer.get("weights", "library") == "library"
    if library and expected.normalize is not None and current != expected.normalize:
        fix = (f"data.normalize={expected.normalize}",) if "normalize" in options else ()
        stats = ", ".join(f"{m:g}/{s:g}" for m, s in zip(expected.mean, expected.std))
        problems.append(Problem("data.normalize" if fix else "data", f"{expected.model} expects pixels normalized "
                                f"with its mean/std ({stats}, {expected.normalize}); the data uses {current} — use the "
                                f"model's (data.normalize = {expected.normalize})", fix))
    return problems


def _runs_at(layer: Mapping[str, Any], shape: tuple[int, ...]) -> bool:
    """Whether the Pretrained block's model accepts images of `shape` (a meta-device forward)."""
    from engine.pretrained.anatomy import describe  # torch: only for a Pretrained block
    from engine.pretrained.errors import PretrainedError

    try:
        describe(str(layer.get("source", "torchvision")), str(layer.get("model", "resnet18")),
                 str(layer.get("output", "features")), 2, shape, "float32")
    except PretrainedError:
        return False
    return True


def _text_problems(expected: Expectation, info: Any, data: Any, options: set[str], path: str) -> list[Problem]:
    problems = []
    tokenizer = str(data.options.get("tokenizer", "")).strip()
    if expected.tokenizer and "tokenizer" in options and not _same_tokenizer(tokenizer, expected.tokenizer):
        problems.append(Problem("data.tokenizer", f"{expected.model} reads the ids of its own tokenizer, but the data "
                                f"is tokenized with {tokenizer or 'the default'} — use the model's tokenizer "
                                f"(data.tokenizer = {expected.tokenizer})", (f"data.tokenizer={expected.tokenizer}",)))
    elif expected.vocab_size and info.vocab_size > expected.vocab_size:
        problems.append(Problem("data.tokenizer", f"the tokenizer has {info.vocab_size:,} tokens but {expected.model} "
                                f"knows {expected.vocab_size:,} — tokenize with the model's own tokenizer"))
    return problems


def _same_tokenizer(given: str, folder: str) -> bool:
    """Whether `given` names the tokenizer of `folder` (the folder itself or a file in it)."""
    if not given:
        return False
    path, home = Path(given).expanduser().resolve(), Path(folder).expanduser().resolve()
    return path == home or path.parent == home


def _embedding_problems(path: str, params: Mapping[str, Any], info: Any) -> list[Problem]:
    """A text classifier's Embedding must have a row for every token id of the tokenizer."""
    if info.kind != "text" or info.task != "classification" or not info.vocab_size:
        return []
    rows = int(params.get("num_embeddings", 0) or 0)
    if rows >= info.vocab_size:
        return []
    said = "0 (= the number of classes for a classifier)" if rows == 0 else str(rows)
    return [Problem(f"{path}.num_embeddings", f"is {said} but the tokenizer has {info.vocab_size:,} token ids — "
                    f"set it to {info.vocab_size}", (f"{path}.num_embeddings={info.vocab_size}",))]
