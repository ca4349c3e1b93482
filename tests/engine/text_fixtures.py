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


BERT_REVIEWS_SPEC = """name = "bert_reviews"
seed = 0
[data]
source = "text_classification"
path = "{csv}"
tokenizer = "{tokenizer}"
max_len = 24
batch_size = 16
[model]
layers = [{{type = "Pretrained", source = "huggingface", model = "{bert}", output = "classify"}}]
[optimizer]
name = "adamw"
lr = 0.003
[training]
epochs = 5
log_every = 4
device = "cpu"
"""


def bert_reviews(root: Path, samples: int = 160) -> dict[str, Path]:
    """A tiny BERT-style model (random weights, its tokenizer knowing every word of the generated
    reviews), a CSV of `samples` reviews and a spec fine-tuning the model on them, under `root`."""
    import re

    from engine.data.text_classes import sentiment_texts, write_sentiment_csv
    from tests.engine.pretrained.tiny import save_tiny_bert

    words = sorted({w for t in sentiment_texts(600, 0).texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    bert = save_tiny_bert(root / "tiny-bert", words=(*SPECIALS, *words))
    csv = write_sentiment_csv(root / "reviews.csv", samples)
    spec = root / "bert_reviews.toml"
    spec.write_text(bert_reviews_spec(csv, bert))
    return {"bert": bert, "csv": csv, "spec": spec}


def bert_reviews_spec(csv: Path, bert: Path, tokenizer: str | Path | None = None) -> str:
    return BERT_REVIEWS_SPEC.format(csv=csv, bert=bert, tokenizer=tokenizer or bert)
