"""Image options shared by image sources: how images are resized when read, how they are
normalized, and the random augmentations applied to training batches (torchvision transforms v2).

Augmentations run on the training split only, each sample with its own random draw, every time a
batch is taken (so every epoch sees new crops and flips); validation images are never changed.
torch and torchvision are imported only when a transform is built (through
engine.pretrained.compat, which makes PyPI's torchvision import beside a CPU-only torch)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from engine.registry import Param

FLIPS = ("none", "horizontal", "vertical", "both")
RESIZES = ("stretch", "center_crop")


@dataclass(frozen=True)
class Normalization:
    """How image pixels in [0, 1] are normalized: `stats` = fixed (mean, std) per channel, or
    None for statistics of the training split."""

    name: str
    description: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


#: data.normalize -> how pixels are normalized (a pretrained model expects its own)
NORMALIZATIONS = {n.name: n for n in (
    Normalization("dataset", "mean and std of the training split, per channel"),
    Normalization("imagenet", "ImageNet's mean and std (torchvision and most timm models)",
                  (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    Normalization("half", "mean 0.5 and std 0.5 per channel: pixels in [-1, 1] (many ViT / CLIP-style models)",
                  (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    Normalization("none", "pixels stay in [0, 1]"),
)}


def normalization_for(mean: tuple[float, ...], std: tuple[float, ...]) -> str | None:
    """The NORMALIZATIONS name with this mean and std (3 channels), or None."""
    for n in NORMALIZATIONS.values():
        if n.mean is not None and np.allclose(n.mean, mean, atol=1e-3) and np.allclose(n.std, std, atol=1e-3):
            return n.name
    return None


def fixed_norm(name: str, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) shaped (C, 1, 1) for a fixed normalization (grey images use the channel average)."""
    n = NORMALIZATIONS[name]
    if n.mean is None or n.std is None:
        return None
    mean, std = np.asarray(n.mean, np.float32), np.asarray(n.std, np.float32)
    if channels == 1:
        mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
    return mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)


def raw_normalize(name: str) -> str:
    """The Raw.normalize mode for a data.normalize choice."""
    return {"dataset": "image", "none": "none"}.get(name, "fixed")


@dataclass(frozen=True)
class Augment:
    """Random training-time transforms of (C, H, W) images: a random resized crop keeping at least
    `crop_scale` of the area (1 = off) and random flips (each with probability 0.5)."""

    crop_scale: float = 1.0
    flip: str = "none"

    @property
    def active(self) -> bool:
        return self.crop_scale < 1.0 or self.flip != "none"

    def describe(self) -> str:
        parts = []
        if self.crop_scale < 1.0:
            parts.append(f"random crops of {self.crop_scale:.0%}-100% of the area, resized back")
        if self.flip != "none":
            parts.append({"both": "random horizontal and vertical flips"}.get(self.flip, f"random {self.flip} flips"))
        return "training images are augmented each epoch: " + " and ".join(parts) + " (validation images are not)"

    def batch_fn(self, size: tuple[int, int]) -> Callable[[Any], Any]:
        """A function augmenting a batch tensor (N, C, H, W): each sample gets its own draw."""
        import torch  # torch and torchvision only when a run augments images

        from engine.pretrained.compat import ensure_torchvision  # as torch: only when a run augments images

        ensure_torchvision()
        from torchvision.transforms import v2  # importable once ensure_torchvision has run

        steps: list[Any] = []
        if self.crop_scale < 1.0:
            steps.append(v2.RandomResizedCrop(size, scale=(self.crop_scale, 1.0), antialias=True))
        if self.flip in ("horizontal", "both"):
            steps.append(v2.RandomHorizontalFlip(0.5))
        if self.flip in ("vertical", "both"):
            steps.append(v2.RandomVerticalFlip(0.5))
        transform = v2.Compose(steps)

        def augment(batch: "torch.Tensor") -> "torch.Tensor":
            return torch.stack([transform(image) for image in batch])

        return augment


def augment_from(options: Mapping[str, Any]) -> Augment | None:
    """The Augment the image options ask for, or None when they ask for none."""
    augment = Augment(float(options.get("crop_scale", 1.0)), str(options.get("flip", "none")))
    return augment if augment.active else None


def augment_numpy(augment: Augment, images: np.ndarray, seed: int) -> np.ndarray:
    """`images` (N, C, H, W) augmented with a seeded draw (the Data page's preview)."""
    import torch  # the preview runs on a worker thread

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        out = augment.batch_fn(tuple(images.shape[2:]))(torch.as_tensor(images))
    finally:
        torch.random.set_rng_state(state)
    return out.numpy()


#: the image options of image sources (after `size` and `color`)
IMAGE_PARAMS = (
    Param("resize", "choice", "stretch", "stretch: squeeze the whole image to size x size; center_crop: scale the "
          "shorter side to size and cut out the centre (keeps proportions)", choices=RESIZES),
    Param("normalize", "choice", "dataset", "Pixel normalization: dataset (the training split's mean/std per "
          "channel), imagenet (ImageNet's, as torchvision and timm models expect), half (0.5/0.5: pixels in "
          "[-1, 1]) or none", choices=tuple(NORMALIZATIONS)),
    Param("crop_scale", "float", 1.0, "Training augmentation: random crops keeping at least this fraction of the "
          "area, resized back (1 = off)", min=0.05, max=1.0, label="Random crop, smallest area"),
    Param("flip", "choice", "none", "Training augmentation: random flips (each with probability 0.5)", choices=FLIPS,
          label="Random flip"),
)
