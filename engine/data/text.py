"""Text for language modelling: a user's UTF-8 file or the built-in corpus, as characters or as
the tokens of a tokenizer (words, or a model's tokenizer from local files: engine.data.tokenize).

With characters the vocabulary is every distinct character of the whole text, sorted. The token
stream is cut into non-overlapping windows of `seq_len` tokens; each window's target is the same
window shifted by one token (the next tokens), so x and y both have shape (N, seq_len)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source, existing_path, fail, file_key
from engine.data.tokenize import CHARACTERS, tokenizer_for
from engine.paths import CORPUS
from engine.registry import Param

CORPUS_DIR = CORPUS
_WHAT = "a UTF-8 text file (or leave data.path empty for the built-in corpus)"


@dataclass(frozen=True, eq=False)
class _Text:
    label: str  # the file, or "the built-in corpus"
    tokens: np.ndarray  # int64 ids into vocab
    vocab: tuple[str, ...]
    decoder: Any = None  # ids -> text, for a tokenizer's tokens (None: characters)
    unit: str = "characters"


def corpus_files() -> tuple[Path, ...]:
    """The built-in corpus: every .txt file in engine/resources/corpus, in name order."""
    return tuple(sorted(CORPUS_DIR.glob("*.txt")))


def _sources(options: Mapping[str, Any]) -> tuple[str, tuple[Path, ...]]:
    if not str(options["path"]).strip():
        files = corpus_files()
        if not files:
            raise fail("path", f"the built-in corpus is missing ({CORPUS_DIR} has no .txt files) — "
                               "reinstall Netwright or choose a text file")
        return "the built-in corpus", files
    path = existing_path(options, folder=False, what=_WHAT)
    return str(path), (path,)


def _key(options: Mapping[str, Any]) -> tuple:
    return tuple(file_key(p) for p in _sources(options)[1])


def _text(options: Mapping[str, Any]) -> _Text:
    label, files = _sources(options)
    text = _read(label, files, _key(options))
    tokenizer = str(options["tokenizer"]).strip() or CHARACTERS
    if tokenizer == CHARACTERS:
        return text
    return _tokenized(text, tokenizer, file_key(Path(tokenizer).expanduser()))


@functools.lru_cache(maxsize=4)
def _tokenized(text: _Text, tokenizer: str, _identity: tuple) -> _Text:
    """The text as a tokenizer's ids (the character text decoded back first)."""
    plain = "".join(text.vocab[int(t)] for t in text.tokens)
    tok = tokenizer_for(tokenizer, [plain])
    return _Text(text.label, tok.stream(plain), tok.vocab, tok.decode, "tokens")


@functools.lru_cache(maxsize=4)
def _read(label: str, files: tuple[Path, ...], _identity: tuple) -> _Text:
    parts = []
    for path in files:
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise fail("path", f"{path} is not UTF-8 text (invalid byte at offset {err.start}) — "
                               "save it as UTF-8") from None
        except OSError as err:
            raise fail("path", f"cannot read {path}: {err.strerror or err}") from None
    text = "\n\n".join(parts).replace("\r\n", "\n")
    if not text.strip():
        raise fail("path", f"{label} is empty — choose a text file with some text in it")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    alphabet = np.unique(codes)
    tokens = np.searchsorted(alphabet, codes).astype(np.int64)
    return _Text(label, tokens, tuple(chr(int(c)) for c in alphabet))


def _windows(text: _Text, seq_len: int) -> int:
    count = (len(text.tokens) - 1) // seq_len
    if count < 2:
        raise fail("seq_len", f"{text.label} has {len(text.tokens)} {text.unit}, too few for two windows of "
                              f"seq_len = {seq_len} plus one (needs at least {2 * seq_len + 1}) — use a shorter "
                              "seq_len or a longer text")
    return count


def _describe(options: Mapping[str, Any]) -> DataInfo:
    text = _text(options)
    _windows(text, options["seq_len"])
    return DataInfo((options["seq_len"],), "int64", "language_modeling", len(text.vocab), text.vocab, (), "text",
                    vocab_size=len(text.vocab))


def _load(options: Mapping[str, Any], seed: int) -> Raw:
    text = _text(options)
    seq_len = options["seq_len"]
    count = _windows(text, seq_len)
    used = count * seq_len
    x = text.tokens[:used].reshape(count, seq_len)
    y = text.tokens[1:used + 1].reshape(count, seq_len)
    note = (f"{text.label}: {len(text.tokens):,} {text.unit}, vocabulary of {len(text.vocab):,}, "
            f"{count:,} windows of {seq_len}")
    return Raw(_describe(options), x, y, normalize="none", notes=(note,), vocab=text.vocab, stratify=False,
               decoder=text.decoder)


DATA_SOURCES.add(
    "text", Source(_describe, _load, key=_key),
    params=(
        Param("path", "path", "", "A UTF-8 text file; empty = the built-in corpus (no download needed)"),
        Param("seq_len", "int", 64, "Tokens per training window (the model's context length)", min=1, max=1 << 16),
        Param("tokenizer", "path", CHARACTERS, "characters, words, or a model's tokenizer: its folder, "
                                               "tokenizer.json or vocab.txt"),
    ),
    group="Files",
    description="Language modelling on a UTF-8 text file or the built-in English corpus, by characters or tokens.",
)
