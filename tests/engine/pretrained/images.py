"""Generated image folders of shapes (one sub-folder per class), for transfer-learning tests."""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Sequence

SHAPES = ("circle", "square", "triangle", "cross", "ring", "bar")


def _draw(draw, shape: str, cx: float, cy: float, r: float, color) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(2, int(r / 3)))
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
    elif shape == "cross":
        w = max(2, r / 3)
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=color)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=color)
    elif shape == "bar":
        angle = random.random() * math.pi
        dx, dy = r * math.cos(angle), r * math.sin(angle)
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=color, width=max(2, int(r / 3)))


def shapes_folder(root: Path, classes: Sequence[str], per_class: int, *, seed: int, size: int = 32,
                  background: tuple[int, int] = (0, 90)) -> Path:
    """`per_class` PNGs per shape class in `root/<class>/`: random position, size and colour on a noisy
    background whose brightness lies in `background`."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    random.seed(seed)
    for name in classes:
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            level = rng.randint(*background)
            img = Image.effect_noise((size, size), 20).convert("RGB").point(lambda v, lv=level: min(255, lv + v // 4))
            draw = ImageDraw.Draw(img)
            r = rng.uniform(size * 0.18, size * 0.32)
            cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
            color = tuple(rng.randint(140, 255) for _ in range(3))
            _draw(draw, name, cx, cy, r, color)
            img.save(folder / f"{i:04d}.png")
    return Path(root)


def stripes_folder(root: Path, angles: dict[str, float], per_class: int, *, seed: int, size: int = 32,
                   period: tuple[float, float] = (4.0, 8.0), noise: float = 0.3) -> Path:
    """`per_class` PNGs of stripes per class in `root/<class>/`: the class is the stripes' angle (in
    degrees); period (pixels), phase, colours and noise are random."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for name, degrees in angles.items():
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        theta = math.radians(degrees)
        for i in range(per_class):
            wave = np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / rng.uniform(*period)
                          + rng.uniform(0, 2 * math.pi))
            a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
            img = (wave[..., None] > 0) * a + (wave[..., None] <= 0) * b + rng.normal(0, noise, (size, size, 3))
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return Path(root)
