"""The registry of pretrained-model sources: torchvision, timm and Hugging Face transformers.

Each source is a class registered in `SOURCES` with its description; it lists its
architectures and creates a model (random weights, or the library's own pretrained weights)
in the form the Pretrained layer needs: with `output` = "features" the library's classifier
is removed (the user adds a head), with "classify" it is replaced by one with `classes` outputs
(named in `heads`, so freezing "all" leaves it trainable and weights of another size skip it).
A new source is one class here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from engine.pretrained.compat import ensure_torchvision
from engine.pretrained.errors import PretrainedError
from engine.pretrained.hf import load_hf, pad_token_id
from engine.pretrained.offline import bounded_network, local_file_hint, offline
from engine.pretrained.weights import load_matching
from engine.problems import did_you_mean
from engine.registry import Registry

OUTPUTS = ("features", "classify")
#: where a library's weights come from (`weights` option of the Pretrained layer)
WEIGHTS = ("library", "random", "file", "run")


@dataclass
class Created:
    """A created model: the module, the prefixes of its data-sized head and its padding token id."""

    net: Any
    heads: tuple[str, ...] = ()
    pad_id: int | None = None


class Source:
    """A source of pretrained models (see the module docstring)."""

    #: "image" (float (C, H, W) input) or "tokens" (int64 (T,) token ids)
    kind = "image"
    #: the modules building one of its models imports (besides torch); a first import takes seconds
    libraries: tuple[str, ...] = ()
    #: what `model` names for this source, for forms and messages
    model_help = ""
    examples: tuple[str, ...] = ()

    def architectures(self) -> list[str]:
        """Names this source can build (may be long; a hub source lists what is cached)."""
        raise NotImplementedError

    def create(self, model: str, *, output: str, classes: int, weights: str) -> Created:
        """The model with random (`weights` = "random") or the library's own weights ("library")."""
        raise NotImplementedError


SOURCES: Registry[Source] = Registry("pretrained source")


def _last_linear(net: Any) -> str:
    """The name of the last nn.Linear in `net` (a torchvision classifier), or ""."""
    from torch import nn  # torch only when a model is built

    names = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else ""


def _torchvision() -> Any:
    """torchvision through compat.ensure_torchvision, its absence a PretrainedError (a named
    problem in validate and the builder, never a traceback)."""
    try:
        return ensure_torchvision()
    except ImportError as err:
        raise PretrainedError(str(err)) from None


class TorchvisionSource(Source):
    kind = "image"
    libraries = ("torchvision",)
    model_help = "a torchvision classification architecture, e.g. resnet18, mobilenet_v3_small, efficientnet_b0, vit_b_16"
    examples = ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16")

    def architectures(self) -> list[str]:
        tv = _torchvision()
        return sorted(tv.models.list_models(module=tv.models))

    def create(self, model: str, *, output: str, classes: int, weights: str) -> Created:
        from torch import nn  # torch only when a model is built

        tv = _torchvision()
        names = self.architectures()
        if model not in names:
            raise PretrainedError(f"torchvision has no classification model {model!r}{did_you_mean(model, names)} "
                                  "(netwright models --source torchvision lists them)")
        sized = output == "classify"
        net = tv.models.get_model(model, weights=None, **({"num_classes": classes} if sized else {}))
        head = _last_linear(net)
        if weights == "library":
            load_matching(net, self._library_state(tv, model), f"torchvision's {model} weights",
                          replaceable=(head,) if head else ())
        if not sized and head:
            net.set_submodule(head, nn.Identity())
        return Created(net, (head,) if sized and head else ())

    @staticmethod
    def _library_state(tv: Any, model: str) -> Any:
        import torch  # torch only when a model is built

        entry = tv.models.get_model_weights(model).DEFAULT
        file = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(entry.url))
        if not os.path.isfile(file) and offline():
            raise PretrainedError(f"torchvision's {model} weights ({os.path.basename(entry.url)}) are not in the "
                                  f"cache ({os.path.dirname(file)}) and downloads are off (offline) — "
                                  f"{local_file_hint(model)}", "weights")
        try:
            with bounded_network():
                return entry.get_state_dict(progress=False, check_hash=False)
        except Exception as err:  # noqa: BLE001  (URLError, timeouts, a truncated file: one piece of advice)
            raise PretrainedError(f"torchvision's {model} weights could not be downloaded ({err}) — "
                                  f"{local_file_hint(model)}", "weights") from None


class TimmSource(Source):
    kind = "image"
    libraries = ("torchvision", "timm")
    model_help = "a timm model name, e.g. resnet18, convnext_atto, vit_tiny_patch16_224"
    examples = ("resnet18", "convnext_atto", "efficientnet_b0", "vit_tiny_patch16_224")

    @staticmethod
    def _timm() -> Any:
        _torchvision()  # timm imports torchvision (see compat)
        try:
            import timm  # a model library only when this source is used
        except ModuleNotFoundError:
            raise PretrainedError("timm is not installed — pip install 'netwright[pretrained]'") from None
        return timm

    def architectures(self) -> list[str]:
        return list(self._timm().list_models())

    def create(self, model: str, *, output: str, classes: int, weights: str) -> Created:
        timm = self._timm()
        if not timm.is_model(model):
            raise PretrainedError(f"timm has no model {model!r}{did_you_mean(model, timm.list_models())} "
                                  "(netwright models --source timm lists them)")
        num = classes if output == "classify" else 0
        pretrained = weights == "library"
        if pretrained and offline():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm's weights come from the Hugging Face hub
        try:
            with bounded_network():
                net = timm.create_model(model, pretrained=pretrained, num_classes=num)
        except (OSError, RuntimeError, ValueError) as err:
            if not pretrained:
                raise
            raise PretrainedError(f"timm's {model} weights are not cached and could not be downloaded "
                                  f"({str(err).splitlines()[0] if str(err) else type(err).__name__}) — "
                                  f"{local_file_hint(model)}", "weights") from None
        head = str(net.default_cfg.get("classifier", "")) if num else ""
        return Created(net, (head,) if head else ())


class HuggingFaceSource(Source):
    kind = "tokens"
    libraries = ("transformers",)  # (it imports torchvision too where that is installed)
    model_help = "a folder saved with save_pretrained(), or a Hugging Face hub id (e.g. bert-base-uncased)"
    examples = ("bert-base-uncased", "distilbert-base-uncased", "path/to/saved-model")

    def architectures(self) -> list[str]:
        """The hub models in the local cache (any other id needs a download)."""
        try:
            from huggingface_hub import scan_cache_dir  # only when the cache is listed

            return sorted(r.repo_id for r in scan_cache_dir().repos if r.repo_type == "model")
        except Exception:  # noqa: BLE001  (no cache yet, or an unreadable one: nothing cached)
            return []

    def create(self, model: str, *, output: str, classes: int, weights: str) -> Created:

        net = load_hf(model, head=output, num_labels=classes or 2, weights=weights)
        heads = tuple(name for name in ("classifier", "score") if output == "classify" and hasattr(net, name))
        return Created(net, heads, pad_token_id(net))


SOURCES.add("torchvision", TorchvisionSource(), group="Images",
            description="torchvision's classification architectures by name (ResNet, MobileNet, EfficientNet, ViT, ...)")
SOURCES.add("timm", TimmSource(), group="Images",
            description="PyTorch Image Models (timm): over a thousand image architectures by name")
SOURCES.add("huggingface", HuggingFaceSource(), group="Text",
            description="Hugging Face transformers (AutoModel / AutoModelForSequenceClassification) from a local "
                        "folder or a hub id, with its tokenizer")
