"""Text classification: texts with labels, tokenized into padded id arrays (N, max_len).

Two sources: `text_classification` reads a CSV (a text column and a label column) or a folder
with one sub-folder of .txt files per class; `sentiment` generates short positive and negative
reviews from the seed (for tests, templates and a first try). Both tokenize with the
`tokenizer` option: "words", "characters", or a model's tokenizer from local files (see
engine.data.tokenize). Padding uses the tokenizer's padding id; a model reading the ids builds its
attention mask as ``ids != pad_id`` (Dataset.pad_id)."""
from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source, existing_path, fail, file_key
from engine.data.tokenize import WORDS, TextTokenizer, token_array_notes, tokenizer_for
from engine.problems import did_you_mean
from engine.registry import Param

_WHAT = "a CSV file with a text column and a label column, or a folder with one sub-folder of .txt files per class"
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md"})
_DATA_SALT = 0x7E47


@dataclass(frozen=True, eq=False)
class Labelled:
    """Texts with class labels (indices into `classes`) and where they came from."""

    label: str
    texts: tuple[str, ...]
    y: np.ndarray
    classes: tuple[str, ...]
    notes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- tokenizing, shared

def describe_texts(data: Labelled, options: Mapping[str, Any]) -> DataInfo:
    tok = tokenizer_for(options["tokenizer"], data.texts)
    return DataInfo((options["max_len"],), "int64", "classification", len(data.classes), data.classes, (), "text",
                    vocab_size=len(tok.vocab))


def load_texts(data: Labelled, options: Mapping[str, Any]) -> Raw:
    tok: TextTokenizer = tokenizer_for(options["tokenizer"], data.texts)
    max_len = options["max_len"]
    ids, cut = tok.encode(data.texts, max_len)
    counts = np.bincount(data.y, minlength=len(data.classes))
    per_class = ", ".join(f"{name}: {n}" for name, n in zip(data.classes, counts))
    notes = (f"{data.label}: {len(data.texts)} texts in {len(data.classes)} classes ({per_class})", *data.notes,
             *token_array_notes(tok, len(data.texts), cut, max_len))
    info = DataInfo((max_len,), "int64", "classification", len(data.classes), data.classes, (), "text",
                    vocab_size=len(tok.vocab))
    return Raw(info, ids, data.y, normalize="none", notes=notes, vocab=tok.vocab, pad_id=tok.pad_id,
               decoder=tok.decode)


def _check_classes(data: Labelled, where: str) -> Labelled:
    if len(data.classes) < 2:
        raise fail("path", f"{where} has only one class ({data.classes[0]!r}) — a classifier needs at least 2")
    return data


# ----------------------------------------------------------------------------- CSV or folder

def _identity(options: Mapping[str, Any]) -> tuple:
    path = Path(str(options.get("path", "")).strip()).expanduser()
    if path.is_dir():
        return (str(path.resolve()),) + tuple(file_key(f) for f in _folder_files(path))
    return (file_key(path), options["text_column"], options["target"])


def _labelled(options: Mapping[str, Any]) -> Labelled:
    path = existing_path(options, folder=Path(str(options["path"]).strip()).expanduser().is_dir(), what=_WHAT)
    return _read(str(path), options["text_column"], options["target"], _identity(options))


@functools.lru_cache(maxsize=4)
def _read(path_str: str, text_column: str, target: str, _identity: tuple) -> Labelled:
    path = Path(path_str)
    return _check_classes(_read_folder(path) if path.is_dir() else _read_csv(path, text_column, target), str(path))


def _folder_files(root: Path) -> list[Path]:
    files = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for here, subdirs, names in os.walk(d):
            subdirs[:] = sorted(s for s in subdirs if not s.startswith("."))
            files += sorted(Path(here, n) for n in names
                            if not n.startswith(".") and os.path.splitext(n)[1].lower() in TEXT_SUFFIXES)
    return files


def _read_folder(root: Path) -> Labelled:
    files = _folder_files(root)
    if not files:
        raise fail("path", f"{root} holds no .txt files in class sub-folders — put each class's texts in its own "
                           f"sub-folder, e.g. {root / 'positive' / '001.txt'}")
    classes = tuple(sorted({f.relative_to(root).parts[0] for f in files}))
    texts, labels, empty = [], [], 0
    for f in files:
        try:
            text = f.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError as err:
            raise fail("path", f"{f} is not UTF-8 text (byte {err.start}) — save it as UTF-8") from None
        if not text:
            empty += 1
            continue
        texts.append(text)
        labels.append(classes.index(f.relative_to(root).parts[0]))
    notes = (f"left out {empty} empty text file(s)",) if empty else ()
    return Labelled(str(root), tuple(texts), np.asarray(labels, np.int64), classes, notes)


def _read_csv(path: Path, text_column: str, target: str) -> Labelled:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise fail("path", f"{path} is not UTF-8 text (byte {err.start}) — save it as UTF-8 CSV") from None
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise fail("path", f"{path} needs a header row and data rows")
    header = [h.strip() for h in rows[0]]
    target = target.strip() or ("label" if "label" in header else header[-1])
    text_column = text_column.strip() or ("text" if "text" in header else next((h for h in header if h != target), ""))
    for option, column in (("target", target), ("text_column", text_column)):
        if column not in header:
            raise fail(option, f"column {column!r} is not in {path} (columns: {', '.join(header)})"
                               f"{did_you_mean(column, header)}")
    if text_column == target:
        raise fail("text_column", f"{text_column!r} is also the label column — choose the column holding the texts")
    ti, li = header.index(text_column), header.index(target)
    texts, labels, dropped = [], [], 0
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise fail("path", f"line {line} of {path} has {len(row)} fields but the header has {len(header)} — "
                               "quote texts that contain commas")
        if not row[ti].strip() or not row[li].strip():
            dropped += 1
            continue
        texts.append(row[ti].strip())
        labels.append(row[li].strip())
    if not texts:
        raise fail("path", f"{path} has no row with both a text and a label")
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    notes = (f"dropped {dropped} row(s) without a text or label",) if dropped else ()
    return Labelled(str(path), tuple(texts), y.astype(np.int64).ravel(), tuple(str(c) for c in classes), notes)


# ----------------------------------------------------------------------------- generated reviews

_SUBJECTS = ("the movie", "this film", "the story", "the acting", "the music", "the ending", "the cast", "this book",
             "the plot", "the director's work")
_POSITIVE = ("wonderful", "brilliant", "moving", "delightful", "superb", "charming", "excellent", "beautiful",
             "fun", "great")
_NEGATIVE = ("boring", "awful", "dull", "terrible", "clumsy", "tedious", "weak", "bad", "painful", "messy")
_LINKS = ("was", "is", "felt", "seemed", "was really", "is simply")
_TAILS = ("", " from start to finish", " and I would say so again", ", to be honest", " in every scene", " overall")
_SECOND = {0: ("I want my money back.", "Not worth the time.", "I left early.", "Skip it."),
           1: ("I loved it.", "Highly recommended.", "I would watch it again.", "A real treat.")}


def sentiment_texts(samples: int, seed: int) -> Labelled:
    """`samples` short reviews, half negative (0) and half positive (1), drawn from `seed`."""
    rng = np.random.default_rng([_DATA_SALT, int(seed) & 0xFFFFFFFF])
    texts, labels = [], []
    for i in range(samples):
        label = i % 2
        words = _POSITIVE if label else _NEGATIVE
        text = (f"{rng.choice(_SUBJECTS)} {rng.choice(_LINKS)} {rng.choice(words)}{rng.choice(_TAILS)}.")
        if rng.random() < 0.5:
            text += " " + str(rng.choice(_SECOND[label]))
        texts.append(text[0].upper() + text[1:])
        labels.append(label)
    order = rng.permutation(samples)
    return Labelled("generated reviews", tuple(texts[i] for i in order), np.asarray(labels, np.int64)[order],
                    ("negative", "positive"))


def write_sentiment_csv(path: str | Path, samples: int = 200, seed: int = 0) -> Path:
    """Write generated reviews as a CSV (`text,label`) — a text-classification file to try things on."""
    data = sentiment_texts(samples, seed)
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((t, data.classes[int(y)]) for t, y in zip(data.texts, data.y))
    return path


@functools.lru_cache(maxsize=4)
def _sentiment(samples: int, seed: int) -> Labelled:
    return sentiment_texts(samples, seed)


# ----------------------------------------------------------------------------- registration

_TOKENIZER_HELP = (f"{WORDS} (a vocabulary of the words in the texts), characters, or a model's tokenizer: "
                   "its folder, tokenizer.json or vocab.txt")
_TOKEN_PARAMS: Sequence[Param] = (
    Param("tokenizer", "path", WORDS, _TOKENIZER_HELP),
    Param("max_len", "int", 64, "Tokens per text: longer texts are cut, shorter ones padded", min=2, max=1 << 14,
          label="Maximum length"),
)

DATA_SOURCES.add(
    "text_classification",
    Source(lambda o: describe_texts(_labelled(o), o), lambda o, seed: load_texts(_labelled(o), o), key=_identity),
    params=(
        Param("path", "path", help="A CSV file (a text column and a label column) or a folder with one "
                                   "sub-folder of .txt files per class"),
        Param("text_column", "str", "", "CSV: the column holding the texts (empty = 'text', else the first column)"),
        Param("target", "str", "", "CSV: the label column (empty = 'label', else the last column)"),
        *_TOKEN_PARAMS,
    ),
    group="Files",
    description="Your own texts with labels (CSV or a folder per class), tokenized and padded.",
)

DATA_SOURCES.add(
    "sentiment",
    Source(lambda o: describe_texts(_sentiment(o["samples"], 0), o),
           lambda o, seed: load_texts(_sentiment(o["samples"], 0), o)),
    params=(Param("samples", "int", 600, "Number of reviews generated (half positive, half negative)", min=4,
                  max=1_000_000), *_TOKEN_PARAMS),
    group="Generated",
    description="Short generated movie reviews, positive or negative: a small text-classification task "
                "(the same reviews every time; the split follows the seed).",
)
