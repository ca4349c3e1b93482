"""engine.pretrained: Hugging Face loading, weights files, runs as sources, load reports, offline."""
from __future__ import annotations

import pytest

from tests.engine.pretrained.tiny import need_pretrained_extra

need_pretrained_extra()

import torch  # noqa: E402

from engine.pretrained import PretrainedError  # noqa: E402
from engine.pretrained.hf import load_config, load_hf, load_tokenizer  # noqa: E402
from engine.pretrained.weights import load_matching, read_state_dict, run_weights_file  # noqa: E402
from tests.engine.pretrained.tiny import save_tiny_bert  # noqa: E402


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert")


def test_hf_model_and_tokenizer_load_from_a_local_folder(bert_dir):
    tok = load_tokenizer(str(bert_dir))
    ids = tok(["the movie was good", "awful"], padding="max_length", max_length=8, truncation=True)["input_ids"]
    assert ids[0][:2] == [tok.cls_token_id, tok.convert_tokens_to_ids("the")] and ids[1][-1] == tok.pad_token_id
    model = load_hf(str(bert_dir), head="classify", num_labels=3)
    saved = load_hf(str(bert_dir), head="features")
    x = torch.tensor(ids)
    assert model(input_ids=x).logits.shape == (2, 3)
    # the saved encoder weights are loaded (not fresh ones): both heads share them
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, saved.embeddings.word_embeddings.weight)
    assert load_config(str(bert_dir)).hidden_size == 32


def test_an_uncached_hub_id_offline_fails_at_once_naming_the_id(monkeypatch):
    import socket

    attempts = []

    def no_connect(sock, address):  # offline mode must never open a connection (nothing to wait for)
        attempts.append(address)
        raise OSError("network used in an offline test")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    with pytest.raises(PretrainedError) as err:
        load_hf("someorg/never-downloaded-model")
    assert "'someorg/never-downloaded-model'" in err.value.message and "save_pretrained" in err.value.message
    assert "offline" in err.value.message
    assert attempts == []


def test_a_folder_without_a_model_is_named(tmp_path):
    with pytest.raises(PretrainedError, match=f"model folder {tmp_path}"):
        load_hf(str(tmp_path))


def _net():
    from torch import nn

    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))


def test_weights_file_safetensors_and_pth_and_refusals(tmp_path):
    from safetensors.torch import save_file

    src = _net()
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(src.state_dict(), tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        state = read_state_dict(tmp_path / name)
        assert set(state) == set(src.state_dict())
    torch.save({"model": _net()}, tmp_path / "pickled.pth")  # a whole pickled module: refused, never run
    with pytest.raises(PretrainedError, match="weights_only=True"):
        read_state_dict(tmp_path / "pickled.pth")
    with pytest.raises(PretrainedError, match="does not exist"):
        read_state_dict(tmp_path / "missing.safetensors")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(PretrainedError, match="suffix .txt"):
        read_state_dict(tmp_path / "w.txt")


def test_load_matching_reports_loaded_skipped_new_and_strips_a_prefix():
    from torch import nn

    src = _net()
    wrapped = {f"pretrained_1.net.{k}": v for k, v in src.state_dict().items()}
    wrapped["linear_9.weight"] = torch.zeros(3, 3)  # the source run's own head: skipped
    target = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2), nn.Linear(2, 2))
    report = load_matching(target, wrapped, "run X")
    assert report.prefix == "pretrained_1.net."
    assert set(report.loaded) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert report.skipped == ("linear_9.weight",) and report.new == ("4.bias", "4.weight")
    assert torch.equal(target[0].weight, src[0].weight)
    assert "loaded 4 tensors from run X, skipped 1" in report.summary()


def test_load_matching_refuses_another_architecture_naming_the_layers():
    from torch import nn

    other = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(PretrainedError) as err:
        load_matching(_net(), other.state_dict(), "file W")
    assert "0.weight (8, 3, 3, 3) in the file, (4, 3, 3, 3) in the model" in err.value.message
    with pytest.raises(PretrainedError, match="none of the 2 tensors in file W fit"):
        load_matching(_net(), {"encoder.x": torch.zeros(1), "encoder.y": torch.zeros(1)}, "file W")
    # a classifier resized to the data's classes is newly initialised, not refused
    bigger = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 5)).state_dict()
    report = load_matching(_net(), bigger, "file W", replaceable=("3",))
    assert set(report.new) == {"3.weight", "3.bias"}


def test_run_weights_file_names_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(PretrainedError, match="not a Netwright run directory"):
        run_weights_file(tmp_path)
    (tmp_path / "spec.toml").write_text("")
    with pytest.raises(PretrainedError, match="has no best checkpoint yet"):
        run_weights_file(tmp_path, "best")
