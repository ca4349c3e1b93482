"""Start from a pretrained model: sources, weights, load reports and the block that holds one.

Importing this package imports neither torch nor any model library. The pieces:

- ``SOURCES`` (engine.pretrained.sources): the registry of sources — ``torchvision`` and
  ``timm`` architectures by name, ``huggingface`` transformers from a local folder or hub id.
  ``SOURCES.get(name).obj.architectures()`` lists what a source can build.
- engine.pretrained.hf — Hugging Face models and tokenizers::

      from engine.pretrained.hf import load_tokenizer, load_hf, load_config
      tokenizer = load_tokenizer("path/to/saved-model")   # folder saved with save_pretrained(), or a hub id
      model = load_hf("path/to/saved-model", head="classify", num_labels=2)  # or head="features"

  Offline (``NETWRIGHT_OFFLINE=1`` / ``HF_HUB_OFFLINE=1``) an uncached hub id raises
  :class:`PretrainedError` at once, naming the id and how to use a local folder instead.
- engine.pretrained.weights — ``read_state_dict(path)`` (.safetensors, or a .pth state dict read
  with ``weights_only=True``), ``run_weights_file(run_dir, "best"|"latest")`` (another Netwright
  run's checkpoint), ``load_matching(module, state, source)`` -> :class:`LoadReport` (loaded /
  skipped / newly initialised; a different architecture is refused naming the tensors).
- engine.pretrained.anatomy — ``describe(...)``: output shape, parameter count and the top-level
  parts (name, output shape, parameters) of a model, from a build on torch's meta device.
- engine.pretrained.block — ``PretrainedNet``: the library model as one block of a layer stack,
  with freezing (none / all / up to a part), the backbone's learning-rate multiplier and
  gradual unfreezing. The ``Pretrained`` layer kind (engine.layers.pretrained) builds it.
- engine.pretrained.compat — ``ensure_torchvision()``: call it before importing torchvision,
  timm or transformers (PyPI's torchvision beside a CPU-only torch needs it; see its docstring).
"""
from __future__ import annotations

from engine.pretrained.errors import PretrainedError

__all__ = ["PretrainedError"]
