"""Every layer kind: the pure shape rule and parameter count agree with the real torch module."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.layers import GROUPS, LAYERS
from engine.model import build_model
from engine.shapes import infer_model
from engine.spec import LayerSpec

L = LayerSpec
RES_BODY = (L("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}), L("ReLU"))

# (type, params, input shape, input dtype, nested layers)
CASES = [
    ("Linear", {"out_features": 7}, (5,), "float32", ()),
    ("Linear", {"out_features": 3, "bias": False}, (6, 4), "float32", ()),
    ("Linear", {"out_features": 0}, (9,), "float32", ()),
    ("Embedding", {"embedding_dim": 6}, (12,), "int64", ()),
    ("Embedding", {"num_embeddings": 30, "embedding_dim": 4}, (3,), "int64", ()),
    ("Conv1d", {"out_channels": 4}, (3, 20), "float32", ()),
    ("Conv1d", {"out_channels": 2, "kernel_size": 1, "bias": False}, (5, 4), "float32", ()),
    ("Conv1d", {"out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 1, "dilation": 2, "groups": 3, "bias": False}, (3, 31), "float32", ()),
    ("Conv2d", {"out_channels": 8}, (3, 10, 12), "float32", ()),
    ("Conv2d", {"out_channels": 4, "kernel_size": 4, "stride": 3, "padding": 2, "dilation": 1, "groups": 2}, (2, 11, 9), "float32", ()),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3, "dilation": 2, "bias": False}, (1, 9, 9), "float32", ()),
    ("ConvTranspose2d", {"out_channels": 4}, (3, 5, 6), "float32", ()),
    ("ConvTranspose2d", {"out_channels": 6, "kernel_size": 4, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "bias": False}, (4, 7, 7), "float32", ()),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 1, "dilation": 2, "output_padding": 1}, (1, 4, 4), "float32", ()),
    ("MaxPool1d", {}, (3, 9), "float32", ()),
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 10), "float32", ()),
    ("AvgPool1d", {"kernel_size": 4}, (2, 17), "float32", ()),
    ("AvgPool1d", {"kernel_size": 3, "stride": 1, "padding": 1}, (3, 5), "float32", ()),
    ("MaxPool2d", {}, (3, 8, 9), "float32", ()),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (2, 7, 8), "float32", ()),
    ("MaxPool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, (2, 7, 5), "float32", ()),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 6, 6), "float32", ()),
    ("AvgPool2d", {}, (3, 8, 8), "float32", ()),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 9, 6), "float32", ()),
    ("AdaptiveAvgPool1d", {"output_size": 3}, (4, 10), "float32", ()),
    ("AdaptiveAvgPool1d", {}, (2, 7), "float32", ()),
    ("AdaptiveAvgPool2d", {}, (5, 7, 7), "float32", ()),
    ("AdaptiveAvgPool2d", {"output_size": 4}, (2, 9, 11), "float32", ()),
    ("BatchNorm1d", {}, (6,), "float32", ()),
    ("BatchNorm1d", {"affine": False, "eps": 1e-3, "momentum": 0.2}, (4, 9), "float32", ()),
    ("BatchNorm2d", {}, (3, 5, 5), "float32", ()),
    ("BatchNorm2d", {"affine": False, "momentum": 0.5}, (2, 4, 3), "float32", ()),
    ("LayerNorm", {}, (7, 5), "float32", ()),
    ("LayerNorm", {"dims": 3, "affine": False}, (2, 3, 4), "float32", ()),
    ("LayerNorm", {"dims": 2}, (2, 3, 4), "float32", ()),
    ("GroupNorm", {}, (16, 4, 4), "float32", ()),
    ("GroupNorm", {"num_groups": 3, "affine": False}, (6, 5), "float32", ()),
    ("Dropout", {}, (10,), "float32", ()),
    ("Dropout", {"p": 0.1}, (3, 4, 5), "float32", ()),
    ("Dropout2d", {"p": 0.3}, (4, 6, 6), "float32", ()),
    ("Dropout2d", {}, (2, 3, 5), "float32", ()),
    ("ReLU", {}, (3, 4), "float32", ()),
    ("ReLU", {}, (2, 3, 3), "float32", ()),
    ("LeakyReLU", {"negative_slope": 0.2}, (5,), "float32", ()),
    ("LeakyReLU", {}, (2, 5), "float32", ()),
    ("GELU", {}, (6,), "float32", ()),
    ("GELU", {"approximate": "tanh"}, (2, 6), "float32", ()),
    ("SiLU", {}, (4,), "float32", ()),
    ("SiLU", {}, (3, 4), "float32", ()),
    ("Tanh", {}, (4,), "float32", ()),
    ("Tanh", {}, (2, 2, 2), "float32", ()),
    ("Sigmoid", {}, (2, 3, 3), "float32", ()),
    ("Sigmoid", {}, (7,), "float32", ()),
    ("Softmax", {}, (10,), "float32", ()),
    ("Softmax", {"dim": 0}, (4, 5), "float32", ()),
    ("Flatten", {}, (3, 4, 5), "float32", ()),
    ("Flatten", {}, (12,), "int64", ()),
    ("Reshape", {"shape": [1, 8, 8]}, (64,), "float32", ()),
    ("Reshape", {"shape": [-1, 4]}, (2, 3, 4), "float32", ()),
    ("Unflatten", {"sizes": [2, 3]}, (6,), "float32", ()),
    ("Unflatten", {"dim": -1, "sizes": [-1, 2]}, (3, 8), "float32", ()),
    ("LSTM", {"hidden_size": 5}, (7, 3), "float32", ()),
    ("LSTM", {"hidden_size": 4, "num_layers": 2, "bidirectional": True, "dropout": 0.1, "output": "last"}, (6, 3), "float32", ()),
    ("LSTM", {"hidden_size": 3, "bias": False, "output": "last"}, (5, 2), "float32", ()),
    ("GRU", {"hidden_size": 6}, (4, 5), "float32", ()),
    ("GRU", {"hidden_size": 2, "num_layers": 3, "bidirectional": True, "output": "last"}, (9, 4), "float32", ()),
    ("MultiheadAttention", {}, (5, 8), "float32", ()),
    ("MultiheadAttention", {"heads": 2, "causal": True, "bias": False, "dropout": 0.1}, (6, 6), "float32", ()),
    ("PositionalEmbedding", {}, (10, 8), "float32", ()),
    ("PositionalEmbedding", {"max_len": 10}, (10, 4), "float32", ()),
    ("TransformerBlock", {}, (5, 16), "float32", ()),
    ("TransformerBlock", {"heads": 3, "mlp_ratio": 2.5, "dropout": 0.1, "causal": True}, (4, 12), "float32", ()),
    ("LMHead", {}, (8, 16), "float32", ()),
    ("LMHead", {"vocab_size": 11, "bias": True}, (3, 6), "float32", ()),
    ("Residual", {}, (8, 6, 6), "float32", RES_BODY),
    ("Residual", {}, (3, 6, 6), "float32", RES_BODY),  # 1x1 conv projection (channels)
    ("Residual", {}, (4, 9, 9), "float32",
     (L("Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}),)),  # strided projection
    ("Residual", {}, (6,), "float32", (L("Linear", {"out_features": 4}), L("Tanh"))),  # Linear projection
    ("Residual", {}, (5, 6), "float32", (L("Linear", {"out_features": 3}),)),  # per-position Linear
    ("Residual", {}, (3, 12), "float32", (L("Conv1d", {"out_channels": 5, "kernel_size": 3, "stride": 3}),)),
    ("Residual", {"projection": "none"}, (4, 8), "float32", (L("TransformerBlock", {"heads": 2}), L("LayerNorm"))),
    ("Residual", {}, (4, 5, 5), "float32",
     (L("Residual", {}, (L("Conv2d", {"out_channels": 4, "padding": 1}),)), L("BatchNorm2d"), L("Dropout", {"p": 0.0}))),
    ("Pretrained", {"model": "resnet18", "weights": "random", "freeze": "up_to", "freeze_until": "layer2"},
     (3, 32, 32), "float32", ()),
    ("Pretrained", {"source": "timm", "model": "test_resnet", "weights": "random", "output": "classify"},
     (3, 24, 24), "float32", ()),
]
NUM_CLASSES = 13
_HAS_PRETRAINED = all(importlib.util.find_spec(name) for name in ("torchvision", "timm"))


def _input(shape, dtype):
    if dtype == "int64":
        return torch.randint(0, NUM_CLASSES, (3, *shape))
    return torch.randn(3, *shape)


@pytest.mark.parametrize("kind,params,shape,dtype,children", [
    pytest.param(*c, marks=pytest.mark.skipif(c[0] == "Pretrained" and not _HAS_PRETRAINED,
                                              reason="needs pip install 'netwright[pretrained]'")) for c in CASES],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_matches_module(kind, params, shape, dtype, children):
    spec = [L(kind, params, tuple(children))]
    report = infer_model(spec, shape, dtype, num_classes=NUM_CLASSES)
    assert report.ok, report.problems
    model = build_model(spec, shape, dtype, num_classes=NUM_CLASSES)
    model.eval()
    with torch.no_grad():
        out = model(_input(shape, dtype))
    assert tuple(out.shape[1:]) == report.output_shape
    real = sum(p.numel() for p in model.parameters())
    assert report.total_params == real == report.rows[0].params
    assert str(out.dtype).removeprefix("torch.") == report.output_dtype


def test_every_kind_is_covered_and_documented():
    covered = {c[0] for c in CASES}
    assert set(LAYERS.names()) == covered
    for name in covered:  # several settings (or input shapes) per kind
        assert sum(c[0] == name for c in CASES) >= 2, name
    required = """Linear Conv1d Conv2d ConvTranspose2d MaxPool2d AvgPool2d AdaptiveAvgPool2d BatchNorm1d BatchNorm2d
    LayerNorm GroupNorm Dropout Dropout2d ReLU LeakyReLU GELU SiLU Tanh Sigmoid Softmax Flatten Reshape Unflatten
    Embedding LSTM GRU MultiheadAttention PositionalEmbedding Residual TransformerBlock LMHead""".split()
    assert set(required) <= covered
    for entry in LAYERS:
        assert entry.group in GROUPS
        assert entry.description and all(p.help for p in entry.params), entry.name
        assert bool(entry.extra.get("composite")) == (entry.name == "Residual")


def test_docs_list_every_kind_and_option():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "layers.md").read_text(encoding="utf-8")
    for entry in LAYERS:
        section = docs.split(f"**{entry.name}** — ", 1)
        assert len(section) == 2, f"docs/layers.md does not describe {entry.name}"
        body = section[1].split("**", 1)[0]
        for param in entry.params:
            assert f"`{param.name}`" in body, f"docs/layers.md: {entry.name} lacks option {param.name}"


def test_training_mode_forward_and_backward():
    """Dropout, BatchNorm and attention in training mode still give the inferred shape and gradients."""
    spec = [L("Embedding", {"embedding_dim": 8}), L("PositionalEmbedding", {"max_len": 16}),
            L("TransformerBlock", {"heads": 2, "dropout": 0.1, "causal": True}), L("GRU", {"hidden_size": 6}),
            L("LMHead", {})]
    model = build_model(spec, (16,), "int64", num_classes=NUM_CLASSES)
    model.train()
    out = model(torch.randint(0, NUM_CLASSES, (4, 16)))
    assert out.shape == (4, 16, NUM_CLASSES)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_causal_attention_does_not_look_ahead():
    torch.manual_seed(0)
    model = build_model([L("MultiheadAttention", {"heads": 2, "causal": True})], (6, 4)).eval()
    x = torch.randn(1, 6, 4)
    y = x.clone()
    y[:, 4:] += 1.0  # change only the last two positions
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])
    open_model = build_model([L("MultiheadAttention", {"heads": 2})], (6, 4)).eval()
    with torch.no_grad():
        assert not torch.allclose(open_model(x)[:, :4], open_model(y)[:, :4])


def test_recurrent_last_is_final_state():
    torch.manual_seed(0)
    model = build_model([L("LSTM", {"hidden_size": 3, "output": "last"})], (5, 2)).eval()
    x = torch.randn(2, 5, 2)
    with torch.no_grad():
        seq, _ = model[0].rnn(x)
        assert torch.allclose(model(x), seq[:, -1])


def test_importing_layers_and_shapes_leaves_torch_out():
    code = ("import sys, engine.layers, engine.shapes; "
            "from engine.shapes import infer_model; from engine.spec import LayerSpec; "
            "infer_model([LayerSpec('Conv2d', {'out_channels': 4}), LayerSpec('Flatten')], (1, 8, 8)); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.gpu
def test_every_case_runs_on_cuda_under_autocast():
    """Every layer case runs forward and backward on a GPU in bf16 autocast with the inferred shape."""
    failures = []
    for kind, params, shape, dtype, children in CASES:
        spec = [L(kind, params, tuple(children))]
        report = infer_model(spec, shape, dtype, num_classes=NUM_CLASSES)
        model = build_model(spec, shape, dtype, num_classes=NUM_CLASSES).cuda().train()
        x = _input(shape, dtype).cuda()
        if x.is_floating_point():
            x.requires_grad_(True)
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(x)
            if out.requires_grad:  # not for Flatten of token ids
                out.float().sum().backward()
            assert tuple(out.shape[1:]) == report.output_shape
        except Exception as err:  # collect all, report together
            failures.append(f"{kind} {params}: {err!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_gradients_in_eval_mode_on_cuda(kind):
    """Attribution needs input gradients of a model in eval mode; cuDNN RNNs refuse that."""
    model = build_model([L(kind, {"hidden_size": 4, "output": "last"})], (5, 3)).cuda().eval()
    x = torch.randn(2, 5, 3, device="cuda", requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
