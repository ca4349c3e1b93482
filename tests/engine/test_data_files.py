"""File-based data sources: csv, image_folder, text — good files and every bad input handled."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from engine.data import describe_data, load_data
from engine.data.text import corpus_files
from engine.problems import SpecError
from engine.spec import DataSpec


def spec(source: str, **options) -> DataSpec:
    return DataSpec(source=source, val_fraction=0.25, options=options)


def problems(data: DataSpec) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_data(data, seed=0)
    found = [str(p) for p in err.value.problems]
    with pytest.raises(SpecError) as err2:  # describe_data (used by validate) reports the same
        describe_data(data)
    assert [str(p) for p in err2.value.problems] == found
    return found


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- csv

FLOWERS = "petal,sepal,species\n" + "1.0,2.0,rose\n1.5,2.5,tulip\n3.0,1.0,rose\n2.0,2.0,daisy\n" * 5


def test_csv_classification_with_string_labels(tmp_path):
    path = write(tmp_path / "flowers.csv", FLOWERS)
    info = describe_data(spec("csv", path=str(path), target="species"))
    assert info.task == "classification" and info.kind == "tabular"
    assert info.class_names == ("daisy", "rose", "tulip")  # sorted, mapped to 0, 1, 2
    assert info.feature_names == ("petal", "sepal") and info.input_shape == (2,)
    ds = load_data(spec("csv", path=str(path), target="species"), seed=0)
    assert ds.train_size + ds.val_size == 20 and ds.y_train.dtype == np.int64
    raw_x = ds.unnormalize(np.concatenate([ds.x_train, ds.x_val]))
    labels = np.concatenate([ds.y_train, ds.y_val])
    assert set(labels[np.isclose(raw_x[:, 0], 2.0)]) == {0}  # every daisy row has petal 2.0
    assert any("classification (text labels)" in n for n in ds.notes)


def test_csv_target_defaults_to_last_column_and_features_are_standardized(tmp_path):
    path = write(tmp_path / "flowers.csv", FLOWERS)
    ds = load_data(spec("csv", path=str(path)), seed=0)
    assert ds.info.class_names == ("daisy", "rose", "tulip")
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)


def test_csv_continuous_target_is_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    rows = "\n".join(",".join(f"{v:.5f}" for v in (*r, r @ [1.0, -2.0, 0.5] + 0.1)) for r in x)
    path = write(tmp_path / "reg.csv", "a,b,c,price\n" + rows + "\n")
    ds = load_data(spec("csv", path=str(path), target="price"), seed=0)
    assert ds.info.task == "regression" and ds.info.num_classes == 1 and ds.info.class_names == ()
    assert ds.y_train.dtype == np.float32 and ds.y_train.shape == (ds.train_size, 1)
    assert any("regression (60 distinct numeric values)" in n for n in ds.notes)


def test_csv_integer_target_is_classification_and_task_can_be_forced(tmp_path):
    path = write(tmp_path / "ints.csv", "x,y\n" + "".join(f"{i * 0.1},{i % 3}\n" for i in range(30)))
    info = describe_data(spec("csv", path=str(path), target="y"))
    assert info.task == "classification" and info.class_names == ("0", "1", "2")
    forced = load_data(spec("csv", path=str(path), target="y", task="regression"), seed=0)
    assert forced.info.task == "regression" and forced.y_train.dtype == np.float32
    assert "set by data.task" in forced.notes[0]


def test_csv_missing_values_are_dropped_and_counted(tmp_path):
    text = "a,b,label\n1,2,x\n,3,y\n4,NA,x\n5,6,y\n7,8,x\n9,10,\n11,12,y\n"
    ds = load_data(spec("csv", path=str(write(tmp_path / "gaps.csv", text)), target="label"), seed=0)
    assert ds.train_size + ds.val_size == 4
    assert "dropped 3 of 7 rows with missing values (first at line 3)" in ds.notes


def test_csv_ignore_columns_leaves_text_columns_out(tmp_path):
    path = write(tmp_path / "named.csv", "id,name,v,label\n" + "".join(f"{i},n{i},{i},{i % 2}\n" for i in range(10)))
    ds = load_data(spec("csv", path=str(path), target="label", ignore_columns="id, name"), seed=0)
    assert ds.info.feature_names == ("v",) and "ignored columns: id, name" in ds.notes


def test_csv_categorical_columns_are_one_hot_encoded(tmp_path):
    text = "size,color,label\n" + "".join(f"{i},{['red', 'blue', 'green'][i % 3]},{i % 2}\n" for i in range(12))
    path = write(tmp_path / "colors.csv", text + "12,,1\n")
    ds = load_data(spec("csv", path=str(path), target="label", categorical="color"), seed=0)
    assert ds.info.feature_names == ("size", "color=blue", "color=green", "color=red")
    assert ds.info.input_shape == (4,) and ds.train_size + ds.val_size == 12  # the row without a color is dropped
    onehot = ds.unnormalize(np.concatenate([ds.x_train, ds.x_val]))[:, 1:]
    np.testing.assert_allclose(onehot.sum(axis=1), 1, atol=1e-5)
    sizes = ds.unnormalize(np.concatenate([ds.x_train, ds.x_val]))[:, 0].round().astype(int)
    np.testing.assert_allclose(onehot[sizes % 3 == 0], [[0, 0, 1]] * 4, atol=1e-5)  # size 0, 3, ... are red
    assert "one-hot encoded 'color' into 3 columns" in ds.notes


def test_csv_categorical_mistakes(tmp_path):
    path = write(tmp_path / "ids.csv", "id,v,label\n" + "".join(f"u{i},{i},{i % 2}\n" for i in range(300)))
    [message] = problems(spec("csv", path=str(path), categorical="id"))
    assert message == ("data.categorical: column 'id' has 300 distinct values; one-hot encoding allows at most 256 "
                       "— leave it out with data.ignore_columns")
    [message] = problems(spec("csv", path=str(path), categorical="label"))
    assert message.startswith("data.categorical: 'label' is the target")
    assert problems(spec("csv", path=str(path), categorical="ids"))[0].startswith(
        "data.categorical: column 'ids' is not in")


def test_csv_semicolon_delimiter_and_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffa;b;label\n1;2;x\n3;4;y\n5;6;x\n7;8;y\n".encode("utf-8"))
    info = describe_data(spec("csv", path=str(path)))
    assert info.feature_names == ("a", "b") and info.class_names == ("x", "y")


def test_csv_quoted_cells_and_blank_lines_keep_line_numbers_right(tmp_path):
    text = 'a,note,label\n1,"two\nlines",x\n\n2,"plain",y\n3,"x, y",oops\n4,5\n'
    path = write(tmp_path / "quoted.csv", text)
    [message] = problems(spec("csv", path=str(path), ignore_columns="note"))
    assert message.startswith(f"data.path: line 7 of {path} has 2 fields but the header has 3")
    path = write(tmp_path / "blank.csv", "a,label\n1,x\n\n\nz,y\n")
    assert problems(spec("csv", path=str(path)))[0].startswith("data.path: column 'a' has text 'z' at line 5")


def test_csv_edited_file_is_read_again(tmp_path):
    path = write(tmp_path / "live.csv", "a,label\n1,x\n2,y\n")
    assert describe_data(spec("csv", path=str(path))).num_classes == 2
    write(path, "a,label\n1,x\n2,y\n3,z\n")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
    assert describe_data(spec("csv", path=str(path))).num_classes == 3


def test_csv_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    assert problems(spec("csv", path=str(missing))) == [
        f"data.path: file not found: {missing} — choose an existing CSV file with a header row"]


def test_csv_without_the_target_column(tmp_path):
    path = write(tmp_path / "y.csv", "a,b,labels\n1,2,x\n3,4,y\n")
    assert problems(spec("csv", path=str(path), target="label")) == [
        f"data.target: column 'label' is not in {path} (columns: a, b, labels) — did you mean 'labels'?"]


def test_csv_with_text_in_a_feature_column(tmp_path):
    path = write(tmp_path / "colors.csv", "size,color,label\n1,2,x\n2,3,y\n3,red,x\n")
    [message] = problems(spec("csv", path=str(path), target="label"))
    assert message.startswith(f"data.path: column 'color' has text 'red' at line 4 of {path}")
    assert "list the column in data.categorical to one-hot encode it, or in data.ignore_columns" in message


def test_csv_where_every_row_has_a_gap(tmp_path):
    path = write(tmp_path / "holes.csv", "a,b,label\n1,,x\n2,,y\n,3,x\n")
    [message] = problems(spec("csv", path=str(path), target="label"))
    assert message.startswith(f"data.path: every row of {path} has a missing value (3 rows; column 'b' is empty in 2)")


@pytest.mark.parametrize("text,expected", [
    ("", "is empty — it needs a header row and data rows"),
    ("a,b,label\n", "has a header but no data rows"),
    ("a,b,label\n1,2,x\n1,2\n", "line 3 of {path} has 2 fields but the header has 3 — fix that row"),
    ("a,a,label\n1,2,x\n", "column name 'a' appears twice in the header"),
    ("a,,label\n1,2,x\n", "column 2 of {path} has no name in the header row"),
    ("a,label\n1,x\n2,x\n", "column 'label' of {path} has only one value ('x') — a classifier needs at least 2 classes"),
    ("label\nx\ny\n", "has no feature columns besides the target 'label'"),
    ("a,label\n1,x\n2,inf\n", None),
])
def test_csv_malformed_files(tmp_path, text, expected):
    path = write(tmp_path / "bad.csv", text)
    if expected is None:  # 'inf' in the target is a text label here, not a number: a valid file
        assert describe_data(spec("csv", path=str(path))).class_names == ("inf", "x")
        return
    [message] = problems(spec("csv", path=str(path)))
    assert expected.format(path=path) in message


def test_csv_infinite_feature_and_non_numeric_regression_target(tmp_path):
    path = write(tmp_path / "inf.csv", "a,label\ninf,x\n2,y\n")
    assert "use a finite number" in problems(spec("csv", path=str(path)))[0]
    path = write(tmp_path / "inf_target.csv", "a,y\n1,2.5\n2,-inf\n")
    assert problems(spec("csv", path=str(path)))[0].startswith("data.path: column 'y' has '-inf' at line 3")
    path = write(tmp_path / "reg.csv", "a,label\n1,x\n2,y\n")
    [message] = problems(spec("csv", path=str(path), task="regression"))
    assert message.startswith("data.task: regression needs a numeric target, but column 'label' has 'x' at line 2")


def test_csv_bad_option_values(tmp_path):
    path = write(tmp_path / "f.csv", FLOWERS)
    [message] = problems(spec("csv", path=str(path), ignore_columns="petl"))
    assert message.startswith("data.ignore_columns: column 'petl' is not in") and "did you mean 'petal'?" in message
    assert problems(spec("csv", path=str(tmp_path))) == [
        f"data.path: {tmp_path} is a folder, not a file — choose an existing CSV file with a header row"]
    (tmp_path / "latin1.csv").write_bytes("a,label\n1,caf\xe9\n".encode("latin-1"))
    assert "is not UTF-8 text" in problems(spec("csv", path=str(tmp_path / "latin1.csv")))[0]


# ----------------------------------------------------------------------------- image folder


def make_images(root, classes=("cat", "dog"), per_class=4, size=(12, 10)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            color = (40 + 150 * c, 30 * i, 200 - 100 * c)
            Image.new("RGB", size, color).save(root / name / f"{i}.png")
    return root


def test_image_folder_rgb_and_grayscale(tmp_path):
    root = make_images(tmp_path / "pets")
    (root / "notes.txt").write_text("not an image")  # other files are ignored
    info = describe_data(spec("image_folder", path=str(root), size=16))
    assert info == describe_data(spec("image_folder", path=str(root), size=16, color="rgb"))
    assert info.input_shape == (3, 16, 16) and info.class_names == ("cat", "dog") and info.kind == "image"
    ds = load_data(spec("image_folder", path=str(root), size=16), seed=0)
    assert ds.x_train.shape[1:] == (3, 16, 16) and ds.train_size + ds.val_size == 8
    assert ds.norm[0].shape == (3, 1, 1)
    cats = ds.unnormalize(ds.x_train[ds.y_train == 0])
    np.testing.assert_allclose(cats[:, 0], 40 / 255, atol=1e-3)  # red channel of every cat image
    gray = load_data(spec("image_folder", path=str(root), size=8, color="grayscale"), seed=0)
    assert gray.info.input_shape == (1, 8, 8) and gray.x_train.shape[1:] == (1, 8, 8)


def test_image_folder_listing_follows_changes_on_disk(tmp_path):
    root = make_images(tmp_path / "pets")
    assert describe_data(spec("image_folder", path=str(root))).class_names == ("cat", "dog")
    make_images(root / "birds", classes=("owl",), per_class=2)  # nested images count for class 'birds'
    assert describe_data(spec("image_folder", path=str(root))).class_names == ("birds", "cat", "dog")
    Image.new("RGB", (5, 5)).save(root / "birds" / "owl" / "deep.png")  # a third file, two folders down
    ds = load_data(spec("image_folder", path=str(root)), seed=0)
    assert ds.train_size + ds.val_size == 8 + 3


def test_image_folder_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    [message] = problems(spec("image_folder", path=str(tmp_path / "empty")))
    assert message.startswith(f"data.path: {tmp_path / 'empty'} is empty: it holds no images in sub-folders")
    assert "its own sub-folder" in message
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("L", (4, 4)).save(loose / "a.png")
    assert "it holds 1 images but no class sub-folders" in problems(spec("image_folder", path=str(loose)))[0]


def test_image_folder_with_one_class(tmp_path):
    root = make_images(tmp_path / "one", classes=("cat",))
    (root / "empty_class").mkdir()
    [message] = problems(spec("image_folder", path=str(root)))
    assert "only one class sub-folder with images ('cat')" in message


def test_image_folder_unreadable_image_is_named(tmp_path):
    root = make_images(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"this is not a jpeg")
    [message] = problems_on_load(spec("image_folder", path=str(root)))
    assert message.startswith(f"data.path: 1 unreadable image file(s) in {root}: dog/broken.jpg (not a readable image)")
    assert "data.skip_unreadable = true" in message
    ds = load_data(spec("image_folder", path=str(root), skip_unreadable=True), seed=0)
    assert ds.train_size + ds.val_size == 8
    assert any(n.startswith("skipped 1 unreadable image file(s): dog/broken.jpg") for n in ds.notes)


def test_image_folder_truncated_image_is_named_with_the_reason(tmp_path):
    root = make_images(tmp_path / "pets", size=(64, 64))
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    noisy.save(root / "cat" / "whole.png")
    data = (root / "cat" / "whole.png").read_bytes()
    (root / "cat" / "cut.png").write_bytes(data[: len(data) // 2])
    [message] = problems_on_load(spec("image_folder", path=str(root)))
    assert "1 unreadable image file(s)" in message and "cat/cut.png (image file is truncated)" in message


def test_image_folder_where_nothing_is_readable(tmp_path):
    root = tmp_path / "junk"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "x.png").write_bytes(b"junk")
    [message] = problems_on_load(spec("image_folder", path=str(root), skip_unreadable=True))
    assert "none of the 2 image files" in message


def test_image_folder_missing_path(tmp_path):
    assert problems(spec("image_folder", path=str(tmp_path / "gone")))[0].startswith(
        f"data.path: folder not found: {tmp_path / 'gone'}")


def problems_on_load(data: DataSpec) -> list[str]:
    """Unreadable files are found when loading (describe only lists the folder)."""
    describe_data(data)
    with pytest.raises(SpecError) as err:
        load_data(data, seed=0)
    return [str(p) for p in err.value.problems]


# ----------------------------------------------------------------------------- text


def test_text_file_windows_and_vocabulary(tmp_path):
    path = write(tmp_path / "t.txt", "hello world, hello text! " * 20)
    info = describe_data(spec("text", path=str(path), seq_len=10))
    assert info.task == "language_modeling" and info.input_dtype == "int64" and info.kind == "text"
    assert info.input_shape == (10,)
    assert info.class_names == tuple(sorted(set("hello world, hello text! "))) == info.class_names
    assert info.num_classes == len(info.class_names)
    ds = load_data(spec("text", path=str(path), seq_len=10), seed=0)
    assert ds.vocab == info.class_names and ds.norm is None
    assert ds.x_train.dtype == np.int64 and ds.y_train.shape == ds.x_train.shape
    assert ds.train_size + ds.val_size == (500 - 1) // 10
    for x, y in zip(ds.x_train, ds.y_train):  # targets are the next characters
        assert ds.decode(x)[1:] == ds.decode(y)[:-1]
    joined = "".join(ds.decode(w) for w in sorted(np.concatenate([ds.x_train, ds.x_val]).tolist()))
    assert len(joined) == 490


def test_builtin_corpus_needs_no_file():
    files = corpus_files()
    assert files and sum(f.stat().st_size for f in files) < 500_000
    ds = load_data(spec("text"), seed=0)
    assert ds.info.num_classes > 60 and ds.train_size > 1000
    from engine.data.api import load_raw

    assert "THE DEVIL'S DICTIONARY" in ds.decode(load_raw(spec("text"), 0).x[:10])


def test_text_splits_follow_the_seed(tmp_path):
    path = write(tmp_path / "t.txt", "abcdefghij" * 50)
    a, b = (load_data(spec("text", path=str(path), seq_len=7), seed=s) for s in (0, 1))
    assert not np.array_equal(a.x_val, b.x_val)
    assert np.array_equal(a.x_val, load_data(spec("text", path=str(path), seq_len=7), seed=0).x_val)


def test_text_empty_file(tmp_path):
    path = write(tmp_path / "empty.txt", "\n  \n")
    assert problems(spec("text", path=str(path))) == [
        f"data.path: {path} is empty — choose a text file with some text in it"]


def test_text_too_short_and_not_utf8(tmp_path):
    path = write(tmp_path / "short.txt", "tiny text")
    [message] = problems(spec("text", path=str(path), seq_len=8))
    assert message.startswith(f"data.seq_len: {path} has 9 characters, too few for two windows of seq_len = 8")
    (tmp_path / "bin.txt").write_bytes(b"ok\xff\xfe")
    [message] = problems(spec("text", path=str(tmp_path / "bin.txt")))
    assert "is not UTF-8 text (invalid byte at offset 2)" in message
    assert problems(spec("text", path=str(tmp_path / "none.txt")))[0].startswith("data.path: file not found")


def test_unreadable_folder_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    root = make_images(tmp_path / "pets")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(root), "iterdir", denied)
    assert problems(spec("image_folder", path=str(root))) == [
        f"data.path: cannot read {root}: Permission denied — check the path and its permissions"]
