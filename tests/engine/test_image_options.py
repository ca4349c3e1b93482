"""Image-folder options: resize by stretching or centre crop, normalization (training split,
ImageNet, none), and training-only augmentation (random crops and flips, torchvision v2) applied
by the trainer to each training batch with a draw per sample."""
from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from PIL import Image

from engine.data import load_data, preview
from engine.data.augment import Augment
from engine.spec import DataSpec

if importlib.util.find_spec("torchvision") is None:  # not importorskip: a raw import fails beside a CPU torch
    pytest.skip("torchvision is not installed (the pretrained extra)", allow_module_level=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of 20x60 RGB images: a red stripe in the middle third ('stripe') or none ('plain')."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("plain", "stripe"):
        (root / label).mkdir()
        for i in range(8):
            pixels = np.full((20, 60, 3), 40, np.uint8) + rng.integers(0, 10, (20, 60, 3), dtype=np.uint8)
            if label == "stripe":
                pixels[:, 20:40, 0] = 250
            Image.fromarray(pixels, "RGB").save(root / label / f"{i}.png")
    return root


def data(folder, **options) -> DataSpec:
    return DataSpec("image_folder", val_fraction=0.25, options={"path": str(folder), "size": 12, **options})


def test_center_crop_keeps_the_middle_and_stretch_keeps_everything(folder):
    def red_share(resize: str) -> float:
        ds = load_data(data(folder, resize=resize, normalize="none"), seed=0)
        stripes = ds.x_train[ds.y_train == 1]
        return float((stripes[:, 0] > 0.8).mean())
    assert red_share("center_crop") == pytest.approx(1.0)  # the centre 20x20 is all stripe
    assert red_share("stretch") == pytest.approx(1 / 3, abs=0.1)


def test_normalizations(folder):
    imagenet = load_data(data(folder, normalize="imagenet"), seed=0)
    assert np.allclose(imagenet.norm[0].ravel(), (0.485, 0.456, 0.406)) and imagenet.norm[0].shape == (3, 1, 1)
    assert np.allclose(imagenet.unnormalize(imagenet.x_val).min(), load_data(data(folder, normalize="none"), seed=0).x_val.min())
    none = load_data(data(folder, normalize="none"), seed=0)
    assert none.norm is None and 0 <= none.x_train.min() and none.x_train.max() <= 1
    own = load_data(data(folder), seed=0)
    assert abs(float(own.x_train[:, 0].mean())) < 1e-3  # the training split's own mean
    grey = load_data(data(folder, color="grayscale", normalize="imagenet"), seed=0)
    assert grey.norm[0].shape == (1, 1, 1) and grey.norm[0].item() == pytest.approx(np.mean((0.485, 0.456, 0.406)))


def test_augmentation_draws_per_sample_and_leaves_validation_alone(folder):
    import torch

    ds = load_data(data(folder, flip="horizontal", crop_scale=0.5), seed=0)
    plain = load_data(data(folder), seed=0)
    assert ds.augment == Augment(0.5, "horizontal") and plain.augment is None
    assert np.array_equal(ds.x_val, plain.x_val) and np.array_equal(ds.x_train, plain.x_train)  # stored unchanged
    assert any("augmented each epoch" in n for n in ds.notes)
    flip = Augment(1.0, "horizontal").batch_fn((12, 12))
    batch = torch.arange(64 * 12 * 12, dtype=torch.float32).reshape(64, 1, 12, 12)
    torch.manual_seed(0)
    out = flip(batch)
    flipped = [bool(torch.equal(o, b.flip(-1))) for o, b in zip(out, batch)]
    kept = [bool(torch.equal(o, b)) for o, b in zip(out, batch)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54  # each sample its own coin
    crop = Augment(0.3, "none").batch_fn((12, 12))(batch)
    assert crop.shape == batch.shape and not torch.equal(crop, batch)
    p = preview(data(folder, flip="both", crop_scale=0.6), seed=0, n=4)
    assert len(p.augmented) == 4 and p.augmented[0].shape == p.images[0].shape and "flips" in p.augment_note
    assert preview(data(folder), seed=0, n=4).augmented == ()


def test_the_trainer_augments_training_batches_only(folder):
    import torch
    from torch import nn

    from engine.reporting import NullReporter
    from engine.spec import ExperimentSpec
    from engine.trainer import train

    ds = load_data(data(folder, flip="horizontal"), seed=0)
    seen = []

    class Spy(Augment):
        def batch_fn(self, size):
            inner = super().batch_fn(size)

            def augment(batch):
                seen.append(len(batch))
                return inner(batch)
            return augment

    spied = dataclasses.replace(ds, augment=Spy(1.0, "horizontal"))
    spec = ExperimentSpec.from_dict({"data": {"source": "image_folder", "batch_size": 4},
                                     "training": {"epochs": 2, "log_every": 1, "device": "cpu"}})
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 2))
    result = train(spec, spied, model, NullReporter())
    assert result.status == "completed" and sum(seen) == 2 * ds.train_size  # every training sample, each epoch
