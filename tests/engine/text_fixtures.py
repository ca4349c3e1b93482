"""Tiny tokenizers and text files for tests, built locally (never downloaded)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece(folder: Path, texts: Sequence[str], vocab_size: int = 120) -> Path:
    """A BERT-style WordPiece tokenizer trained in memory on `texts`, saved as folder/tokenizer.json
    (with [CLS] ... [SEP] around each text and [PAD] = 0)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS)))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def write_vocab(path: Path, words: Sequence[str]) -> Path:
    """A WordPiece vocab.txt: the special tokens, then `words` (one per line)."""
    path.write_text("\n".join((*SPECIALS, *words)) + "\n", encoding="utf-8")
    return path
