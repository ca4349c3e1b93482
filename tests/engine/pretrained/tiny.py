"""Tiny pretrained models saved locally for tests (random weights, no network)."""
from __future__ import annotations

from pathlib import Path

#: a word-level vocabulary: the special tokens BERT's tokenizer expects, then sentiment-ish words
WORDS = ("[PAD] [UNK] [CLS] [SEP] [MASK] the a an this that movie film plot acting story was is were it "
         "i we they really very quite not good great excellent wonderful fine bad awful terrible boring "
         "dull and but so too").split()


def save_tiny_bert(folder: Path, *, hidden: int = 32, layers: int = 2, words=WORDS, seed: int = 0) -> Path:
    """A BERT-style encoder with a sequence-classification head and its WordPiece tokenizer,
    saved with save_pretrained() into `folder` (what a user downloads or trains elsewhere)."""
    import torch

    from engine.pretrained.hf import _import_transformers

    transformers = _import_transformers()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})  # transformers 5 ignores vocab_file
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64,
                                     pad_token_id=0)
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def need_pretrained_extra() -> None:
    """Skip the calling test module unless torchvision, timm and transformers import (through
    engine.pretrained.compat, which PyPI's torchvision needs beside a CPU-only torch)."""
    import importlib.util

    import pytest

    missing = [n for n in ("torchvision", "timm", "transformers") if importlib.util.find_spec(n) is None]
    if missing:
        pytest.skip(f"needs pip install 'netwright[pretrained]' ({', '.join(missing)} missing)", allow_module_level=True)
    from engine.pretrained.compat import ensure_torchvision

    ensure_torchvision()
