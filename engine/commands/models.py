"""`models [--source S] [--show MODEL --input SHAPE]`: pretrained-model sources and what they build.

Without options: each source (torchvision, timm, huggingface) with its description, how many
architectures it offers here and a few names. `--source S` lists every name of one source (the
Hugging Face source lists the models in the local cache). `--show MODEL` prints a model's parts
(what the Build page's card expands to, and what `freeze_until` names) with their output shapes and
parameters for an input shape, built on torch's meta device (nothing is downloaded)."""
from __future__ import annotations

import argparse

from engine.problems import Problem, SpecError

HELP = "List pretrained-model sources and architectures (torchvision, timm, Hugging Face); --show a model's parts"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="list every model name of this source (torchvision, timm, huggingface)")
    parser.add_argument("--show", metavar="MODEL", help="print MODEL's parts with output shapes and parameters")
    parser.add_argument("--input", default="", metavar="SHAPE",
                        help="per-sample input shape for --show, e.g. 3,224,224 (images, the default) or 128 (tokens)")
    parser.add_argument("--output", default="features", choices=("features", "classify"),
                        help="for --show: the model without its classifier, or with it (2 classes)")


def _shape(text: str, kind: str) -> tuple[int, ...]:
    if not text:
        return (3, 224, 224) if kind == "image" else (128,)
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise SpecError([Problem("--input", f"{text!r} is not a shape — give positive sizes such as 3,224,224 or 128")])
    return shape


def run(args: argparse.Namespace) -> int:
    from engine.commands._common import invalid

    try:
        return _run(args)
    except SpecError as err:
        return invalid(err, "models")


def _run(args: argparse.Namespace) -> int:
    from engine.pretrained.errors import PretrainedError  # no model library until a source is asked
    from engine.pretrained.sources import SOURCES  # (the registry itself imports none either)

    if args.source is not None and args.source not in SOURCES:
        raise SpecError([Problem("--source", SOURCES.unknown_message(args.source))])
    try:
        if args.show:
            return _show(SOURCES, args)
        if args.source:
            names = SOURCES.get(args.source).obj.architectures()
            print("\n".join(names) if names else "(none in the local cache: give a folder saved with save_pretrained(), "
                                                 "or a hub id to download once online)")
            return 0
        for entry in SOURCES:
            source = entry.obj
            names = source.architectures()
            count = f"{len(names)} here" if names or source.kind == "image" else "none cached"
            print(f"{entry.name:<12} {entry.description}")
            print(f"{'':<12} {count}; e.g. {', '.join(source.examples)}")
    except (PretrainedError, ImportError) as err:
        raise SpecError([Problem(args.show or args.source or "models", getattr(err, "message", str(err)))]) from None
    print("\nuse one: {type = \"Pretrained\", source = \"torchvision\", model = \"resnet18\", freeze = \"all\"}, "
          "then {type = \"Linear\", out_features = 0}")
    return 0


def _show(sources, args) -> int:
    from engine.pretrained.anatomy import describe  # torch only when a model is shown

    name = args.source or "torchvision"
    kind = sources.get(name).obj.kind
    shape = _shape(args.input, kind)
    anatomy = describe(name, args.show, args.output, 2, shape, "int64" if kind == "tokens" else "float32")
    print(f"{name} {args.show}, input {shape}: output {anatomy.out_shape}, {anatomy.params:,} parameters")
    print(f"{'part':<28} {'type':<22} {'output shape':<18} {'params':>12}")
    for part in anatomy.parts:
        shown = "—" if part.out_shape is None else str(part.out_shape)
        print(f"{part.name:<28} {part.type:<22} {shown:<18} {part.params:>12,}")
    return 0
