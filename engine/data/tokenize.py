"""Tokenizers for text data: characters, words (a vocabulary built from the texts), or a model's
own tokenizer read from local files with Hugging Face `tokenizers` (no network, no transformers
import): a `tokenizer.json`, a WordPiece `vocab.txt`, or a folder holding either (what
`save_pretrained` writes next to a model).

A :class:`TextTokenizer` turns texts into padded id arrays plus the vocabulary (id -> token as the
tokenizer writes it, e.g. ``##ing``) and the padding id the model's attention mask is made from.
"""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from engine.data.base import fail, file_key

CHARACTERS = "characters"
WORDS = "words"
PAD, UNK = "<pad>", "<unk>"
#: padding tokens looked for when a tokenizer file does not say which one it pads with
PAD_NAMES = ("[PAD]", "<pad>", "<|pad|>", "[pad]")
#: end-of-text tokens used for padding by tokenizers without one (GPT-2 style)
EOS_NAMES = ("</s>", "<|endoftext|>", "[SEP]", "<eos>")
_WORD = re.compile(r"\w+|[^\w\s]")
#: tokens a tokenizer adds around a text or uses for padding ([CLS], [PAD], </s>, <|endoftext|>, <pad>)
_SPECIAL = re.compile(r"^\[[A-Z]+\]$|^<\|?/?[a-z_]+\|?>$")
_WHAT = "a tokenizer: a folder with tokenizer.json or vocab.txt (e.g. the model's folder), or one of those files"


@dataclass(frozen=True, eq=False)
class TextTokenizer:
    """A tokenizer ready to encode: `vocab[id]` is each token as the tokenizer writes it,
    `pad_id` the id padding uses (the attention mask is ``ids != pad_id``)."""

    label: str
    vocab: tuple[str, ...]
    pad_id: int
    _encode: Callable[[Sequence[str], int | None, bool], tuple[np.ndarray, np.ndarray]]
    _decode: Callable[[Sequence[int]], str]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def encode(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, int]:
        """(ids (N, max_len) int64 padded with pad_id, number of texts cut to max_len)."""
        ids, lengths = self._encode(texts, max_len, True)
        return ids, int((lengths > max_len).sum())

    def stream(self, text: str) -> np.ndarray:
        """The ids of one long text, without special tokens or padding (language modelling)."""
        ids, _ = self._encode([text], None, False)
        return ids[0]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids back to text (padding left out)."""
        return self._decode([int(i) for i in ids if int(i) != self.pad_id])


def is_special(token: str) -> bool:
    """Whether `token` is a marker a tokenizer adds ([CLS], [SEP], [PAD], </s>, <pad>, ...), not text."""
    return bool(_SPECIAL.match(token))


def tokenizer_for(spec: str, texts: Sequence[str], option: str = "tokenizer") -> TextTokenizer:
    """The tokenizer an option names: "characters", "words" (both built from `texts`) or a path."""
    spec = str(spec).strip()
    if spec == CHARACTERS:
        return _characters(tuple(sorted(set("".join(texts)))))
    if spec == WORDS:
        counts = Counter(w for t in texts for w in _words(t))
        return _words_tokenizer(tuple(sorted(counts)))
    path = Path(spec).expanduser()
    if not path.exists():
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise fail(option, f"not found: {path}{where} — choose {_WHAT}, or write {WORDS} or {CHARACTERS}")
    return _hf_tokenizer(*_tokenizer_files(path, option), option)


def _characters(alphabet: tuple[str, ...]) -> TextTokenizer:
    vocab = (PAD, UNK, *alphabet)
    index = {c: i for i, c in enumerate(vocab)}
    return TextTokenizer(CHARACTERS, vocab, 0, _table_encoder(lambda t: list(t), index),
                         lambda ids: "".join(vocab[i] for i in ids if i > 1))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _words_tokenizer(words: tuple[str, ...]) -> TextTokenizer:
    vocab = (PAD, UNK, *words)
    index = {w: i for i, w in enumerate(vocab)}
    return TextTokenizer(WORDS, vocab, 0, _table_encoder(_words, index),
                         lambda ids: " ".join(vocab[i] for i in ids if i > 0))


def _table_encoder(split: Callable[[str], list[str]], index: dict[str, int]):
    def encode(texts: Sequence[str], max_len: int | None, pad: bool) -> tuple[np.ndarray, np.ndarray]:
        rows = [[index.get(tok, 1) for tok in split(t)] for t in texts]
        lengths = np.fromiter(map(len, rows), np.int64, count=len(rows))
        width = max_len if max_len is not None else int(lengths.max(initial=0))
        ids = np.zeros((len(rows), width), np.int64)
        for r, row in enumerate(rows):
            row = row[:width]
            ids[r, :len(row)] = row
        return ids, lengths
    return encode


def _tokenizer_files(path: Path, option: str) -> tuple[Path, Path | None]:
    """(tokenizer.json or vocab.txt, tokenizer_config.json or None) for a folder or a file."""
    if path.is_dir():
        for name in ("tokenizer.json", "vocab.txt"):
            if (path / name).is_file():
                config = path / "tokenizer_config.json"
                return path / name, config if config.is_file() else None
        raise fail(option, f"{path} holds no tokenizer.json or vocab.txt — choose the folder a tokenizer was saved "
                           "to (tokenizer.save_pretrained) or one of those files")
    if path.suffix.lower() not in (".json", ".txt"):
        raise fail(option, f"{path} is not a tokenizer file — choose {_WHAT}")
    config = path.with_name("tokenizer_config.json")
    return path, config if config.is_file() else None


def _hf_tokenizer(path: Path, config: Path | None, option: str) -> TextTokenizer:
    return _load_hf(str(path), str(config) if config else "", file_key(path), file_key(config) if config else (), option)


@functools.lru_cache(maxsize=8)
def _load_hf(path_str: str, config_str: str, _identity: tuple, _config_identity: tuple, option: str) -> TextTokenizer:
    try:
        from tokenizers import Tokenizer  # Hugging Face tokenizers only when a tokenizer file is used
    except ModuleNotFoundError:
        raise fail(option, f"reading {path_str} needs Hugging Face tokenizers — pip install 'netwright[pretrained]', "
                           f"or use {WORDS} or {CHARACTERS}") from None

    path = Path(path_str)
    settings = _read_config(Path(config_str), option) if config_str else {}
    try:
        if path.suffix.lower() == ".json":
            tok = Tokenizer.from_file(path_str)
        else:
            from tokenizers.implementations import BertWordPieceTokenizer  # as above

            tok = BertWordPieceTokenizer(path_str, lowercase=bool(settings.get("do_lower_case", True)))
    except Exception as err:  # the library's parse errors have no common type
        raise fail(option, f"{path} cannot be read as a tokenizer ({str(err).splitlines()[0] if str(err) else type(err).__name__}) "
                           f"— choose {_WHAT}") from None
    size = tok.get_vocab_size(with_added_tokens=True)
    table = tok.get_vocab(with_added_tokens=True)
    vocab = [""] * size
    for token, i in table.items():
        if 0 <= i < size:
            vocab[i] = token
    pad_id, note = _pad_id(tok, table, settings, path, option)
    backend = tok

    def encode(texts: Sequence[str], max_len: int | None, special: bool) -> tuple[np.ndarray, np.ndarray]:
        backend.no_truncation()
        backend.no_padding()
        encodings = backend.encode_batch(list(texts), add_special_tokens=special)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, count=len(encodings))
        if max_len is None:
            return np.asarray(encodings[0].ids if encodings else [], np.int64)[None], lengths
        ids = np.full((len(encodings), max_len), pad_id, np.int64)
        for r, e in enumerate(encodings):
            row = e.ids if len(e.ids) <= max_len else _cut(e.ids, max_len, special, e.special_tokens_mask)
            ids[r, :len(row)] = row
        return ids, lengths

    notes = (note,) if note else ()
    return TextTokenizer(str(path), tuple(vocab), pad_id, encode,
                         lambda ids: backend.decode(list(ids), skip_special_tokens=True), notes)


def _cut(ids: list[int], max_len: int, special: bool, mask: list[int]) -> list[int]:
    """Truncate to max_len, keeping a closing special token ([SEP], </s>) when there was one."""
    if special and mask and mask[-1] and max_len > 1:
        return list(ids[:max_len - 1]) + [ids[-1]]
    return list(ids[:max_len])


def _read_config(path: Path, option: str) -> dict[str, Any]:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise fail(option, f"{path} cannot be read ({err}) — fix or remove it") from None
    return settings if isinstance(settings, dict) else {}


def _pad_id(tok: Any, table: dict[str, int], settings: dict[str, Any], path: Path, option: str) -> tuple[int, str]:
    padding = tok.padding
    if padding and padding.get("pad_id") is not None:
        return int(padding["pad_id"]), ""
    named = settings.get("pad_token")
    if isinstance(named, dict):
        named = named.get("content")
    for name in ((named,) if named else ()) + PAD_NAMES:
        if name in table:
            return table[name], ""
    for name in EOS_NAMES:
        if name in table:
            return table[name], f"the tokenizer has no padding token: padded with its end token {name!r}"
    raise fail(option, f"the tokenizer {path} has no padding token ([PAD], <pad>) or end token to pad with — "
                       "use a tokenizer with a padding token")


def token_array_notes(tokenizer: TextTokenizer, count: int, cut: int, max_len: int) -> tuple[str, ...]:
    """Notes on a tokenized data set: tokenizer, vocabulary and how many texts were cut."""
    notes = [f"tokenizer: {tokenizer.label} (vocabulary of {len(tokenizer.vocab):,}, padding id {tokenizer.pad_id})"]
    if cut:
        notes.append(f"{cut} of {count} texts were longer than max_len = {max_len} tokens and were cut — "
                     "raise data.max_len to keep more")
    return (*notes, *tokenizer.notes)
