"""Hugging Face transformers models and tokenizers, from a local directory or a hub id.

    from engine.pretrained.hf import load_hf, load_tokenizer, load_config
    tok = load_tokenizer("path/to/tiny-bert")            # a transformers PreTrainedTokenizer(Fast)
    model = load_hf("path/to/tiny-bert", head="classify", num_labels=3)   # nn.Module, eval-ready
    model = load_hf("bert-base-uncased", head="features", weights="random")  # config only

`head`: ``features`` = AutoModel (the encoder), ``classify`` = AutoModelForSequenceClassification
with `num_labels` outputs (its classifier is newly initialised when the weights lack one).
`weights`: ``library`` = the directory's / hub's own weights, ``random`` = the architecture from
its config with fresh weights. A local directory is used when `name` is one; otherwise `name` is a
hub id, read from the cache, downloaded only when online (engine.pretrained.offline). An id that is
neither cached nor downloadable raises PretrainedError naming the id and how to use a local folder,
at once when offline (no network wait).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.pretrained.compat import ensure_torchvision
from engine.pretrained.errors import PretrainedError
from engine.pretrained.offline import bounded_network, download_timeout, offline

HEADS = ("features", "classify")


def is_local(name: str) -> bool:
    """True when `name` is a folder on this machine (else it is taken as a hub id)."""
    return bool(name) and Path(name).expanduser().is_dir()


def torchvision_installed() -> bool:
    """Whether torchvision is installed (found without importing it)."""
    return importlib.util.find_spec("torchvision") is not None


def _import_transformers() -> Any:
    try:
        ensure_torchvision()  # transformers imports torchvision when it is installed (see compat)
    except ImportError:
        if torchvision_installed():
            raise  # installed but broken (a dependency of its own is missing): say so
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(download_timeout())))
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(download_timeout())))
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import transformers  # its optional back-ends (torchao, ...) print while importing
    except ModuleNotFoundError:
        raise PretrainedError("Hugging Face transformers is not installed — pip install 'netwright[pretrained]'") from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    return transformers


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers reports newly initialised heads and load details through logging and warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _resolve(name: str, what: str, load: Callable[..., Any]) -> Any:
    """Call ``load(source, local_files_only=...)``: a local folder or the cache first, then (online)
    the hub with a bounded wait. PretrainedError names `name` when neither has it."""
    source = str(Path(name).expanduser()) if is_local(name) else name
    if not name.strip():
        raise PretrainedError("model is empty — give a local folder (saved with save_pretrained) or a hub id "
                              "such as bert-base-uncased")
    try:
        with _quiet():
            return load(source, local_files_only=True)
    except (OSError, ValueError) as err:
        first = err
    if is_local(name):
        raise PretrainedError(f"model folder {source} has no usable {what}: {_first_line(first)} — save the model there with "
                              "save_pretrained() (config.json plus weights; the tokenizer with its own "
                              "save_pretrained)")
    if offline():
        raise PretrainedError(f"model {name!r} is neither a local folder nor a hub id in the local cache, and "
                              f"downloads are off (offline) — download it once on a machine with a network "
                              f"connection, or save it with save_pretrained() to a folder and set model = that folder")
    try:
        with bounded_network(), _quiet():
            return load(source, local_files_only=False)
    except Exception as err:  # noqa: BLE001  (network, 404, gated repo: all end in the same advice)
        raise PretrainedError(f"model {name!r} (a hub id) could not be downloaded ({_first_line(err)}) — check the id and "
                              "the network, or save the model with save_pretrained() to a folder and set "
                              "model = that folder") from None


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def load_config(name: str) -> Any:
    """The transformers config of a local folder or hub id (see the module docstring)."""
    transformers = _import_transformers()
    return _resolve(name, "config.json", transformers.AutoConfig.from_pretrained)


def load_tokenizer(name: str) -> Any:
    """The tokenizer saved with a model (a local folder or hub id). A tokenizer without a padding
    token gets its end-of-sequence (or unknown) token as padding, so batches can be padded."""
    transformers = _import_transformers()
    tokenizer = _resolve(name, "tokenizer", transformers.AutoTokenizer.from_pretrained)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_hf(name: str, *, head: str = "features", num_labels: int = 2, weights: str = "library") -> Any:
    """A transformers model (see the module docstring), on the CPU, in training mode."""
    if head not in HEADS:
        raise PretrainedError(f"head {head!r} is not one of {', '.join(HEADS)}", "output")
    transformers = _import_transformers()
    auto = transformers.AutoModelForSequenceClassification if head == "classify" else transformers.AutoModel
    extra = {"num_labels": int(num_labels)} if head == "classify" else {}
    if weights == "library":  # a saved classifier of another size is replaced by a new one for the data
        sized = {**extra, "ignore_mismatched_sizes": True} if extra else {}
        model = _resolve(name, "model weights", lambda src, **kw: auto.from_pretrained(src, **sized, **kw))
    else:
        config = load_config(name)
        for key, value in extra.items():
            setattr(config, key, value)
        with _quiet():
            model = auto.from_config(config)
    model.train()
    return model


def pad_token_id(model: Any) -> int | None:
    """The padding token id of a transformers model's config (None when it has none)."""
    value = getattr(getattr(model, "config", None), "pad_token_id", None)
    return int(value) if isinstance(value, int) else None
