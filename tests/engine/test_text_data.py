"""Tokenized text: text classification (CSV or a folder per class), generated reviews, and
token-level language modelling — with words, characters or a locally built tokenizer."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data import check_data, describe_data, load_data, preview
from engine.data.text_classes import sentiment_texts, write_sentiment_csv
from engine.spec import DataSpec, ExperimentSpec
from tests.engine.text_fixtures import train_wordpiece, write_vocab


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("tokenizers")
    tmp = tmp_path_factory.mktemp("text")
    return {"csv": write_sentiment_csv(tmp / "reviews.csv", 60),
            "tok": train_wordpiece(tmp / "tok", sentiment_texts(200, 0).texts, vocab_size=150),
            "tmp": tmp}


def problems(**options) -> list[str]:
    return [str(p) for p in check_data(ExperimentSpec(data=DataSpec("text_classification", options=options)))]


def test_csv_with_a_model_tokenizer_is_padded_with_its_padding_id(files):
    data = DataSpec("text_classification", options={"path": str(files["csv"]), "tokenizer": str(files["tok"]),
                                                    "max_len": 24})
    info = describe_data(data)
    assert (info.kind, info.task, info.input_shape, info.input_dtype) == ("text", "classification", (24,), "int64")
    assert info.class_names == ("negative", "positive") and info.vocab_size == 150
    ds = load_data(data, seed=0)
    assert ds.pad_id == 0 and ds.vocab[0] == "[PAD]" and len(ds.vocab) == 150
    first = ds.x_train[0]
    assert ds.vocab[first[0]] == "[CLS]"
    end = int(np.flatnonzero(first == ds.pad_id)[0]) if (first == ds.pad_id).any() else len(first)
    assert ds.vocab[first[end - 1]] == "[SEP]" and (first[end:] == ds.pad_id).all()  # padded after [SEP]
    assert ds.decode(first).lower().replace(" ", "")[:5].isalpha()
    p = preview(data, seed=0, n=3)
    assert len(p.samples) == len(p.tokens) == len(p.labels) == 3
    assert p.tokens[0][0] == "[CLS]" and "[PAD]" not in p.tokens[0]
    assert any(t.startswith("##") for row in p.tokens for t in row) or all(len(row) > 3 for row in p.tokens)


def test_long_texts_are_cut_keeping_the_end_token_and_counted(files):
    ds = load_data(DataSpec("text_classification", options={"path": str(files["csv"]), "tokenizer": str(files["tok"]),
                                                            "max_len": 5}), seed=0)
    assert all(ds.vocab[row[-1]] == "[SEP]" for row in ds.x_train)
    assert any("were cut" in n and "max_len = 5" in n for n in ds.notes)


def test_a_vocab_file_and_a_folder_per_class(files):
    root = files["tmp"] / "folders"
    for label, texts in (("bad", ["a dull film", "boring plot"]), ("good", ["a great film", "great plot", "fun"])):
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text)
    vocab = write_vocab(files["tmp"] / "vocab.txt", ["a", "film", "great", "plot", "dull", "boring", "fun"])
    ds = load_data(DataSpec("text_classification", val_fraction=0.4,
                            options={"path": str(root), "tokenizer": str(vocab), "max_len": 6}), seed=0)
    assert ds.info.class_names == ("bad", "good") and ds.train_size + ds.val_size == 5
    texts = sorted(ds.decode(x) for x in np.concatenate([ds.x_train, ds.x_val]))
    assert texts == sorted(["a dull film", "boring plot", "a great film", "great plot", "fun"])


def test_words_and_characters_need_no_tokenizer_files():
    words = load_data(DataSpec("sentiment", options={"samples": 40, "max_len": 16}), seed=0)
    assert words.vocab[:2] == ("<pad>", "<unk>") and words.info.vocab_size == len(words.vocab)
    assert words.decode(words.x_train[0]).split()[0] in {"the", "this"}
    chars = load_data(DataSpec("sentiment", options={"samples": 40, "tokenizer": "characters", "max_len": 80}), seed=0)
    assert "".join(chars.vocab[i] for i in chars.x_train[0] if i > 1).lower().startswith(("the", "this"))
    assert set(np.unique(np.concatenate([words.y_train, words.y_val]))) == {0, 1}


def test_language_modelling_with_a_tokenizer(files):
    data = DataSpec("text", options={"tokenizer": str(files["tok"]), "seq_len": 16})
    info = describe_data(data)
    assert info.task == "language_modeling" and info.num_classes == info.vocab_size == 150
    ds = load_data(data, seed=0)
    assert ds.x_train.shape[1] == 16 and (ds.x_train < 150).all()
    i = 0  # targets are the next tokens
    assert (ds.y_train[i][:-1] == ds.x_train[i][1:]).all()
    p = preview(data, seed=0)
    assert p.text and len(p.tokens) == 1 and "[CLS]" not in p.tokens[0]  # a stream: no special tokens


def test_bad_inputs_are_named(files):
    assert any("data.tokenizer" in m and "not found" in m for m in problems(path=str(files["csv"]), tokenizer="nope/x"))
    empty = files["tmp"] / "empty_tok"
    empty.mkdir()
    assert any("no tokenizer.json or vocab.txt" in m for m in problems(path=str(files["csv"]), tokenizer=str(empty)))
    broken = files["tmp"] / "broken.json"
    broken.write_text("{not json")
    assert any("cannot be read as a tokenizer" in m for m in problems(path=str(files["csv"]), tokenizer=str(broken)))
    assert any("data.text_column" in m and "did you mean 'text'" in m
               for m in problems(path=str(files["csv"]), text_column="txt"))
    one = files["tmp"] / "one.csv"
    one.write_text("text,label\nhello,a\nworld,a\n")
    assert any("only one class" in m for m in problems(path=str(one)))
    ragged = files["tmp"] / "ragged.csv"
    ragged.write_text("text,label\nhello, there,a\n")
    assert any("line 2" in m and "quote texts" in m for m in problems(path=str(ragged)))
