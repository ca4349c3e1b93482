"""Attribution pictures with Pillow (no Qt, no torch): colormaps, overlays and the per-sample PNG.

The Explain page uses the same colormap functions, so what the app draws matches the PNGs the
`explain` command writes. Signed maps use a diverging blue-white-red colormap centred on zero;
unsigned maps (Saliency, Grad-CAM) a sequential black-red-yellow-white one. Values are scaled by
a high percentile of |values| so a single extreme pixel does not wash out the map.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.atomic import atomic_write_bytes

_DIVERGING = np.array([[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
                       [247, 247, 247], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43],
                       [103, 0, 31]], dtype=np.float64)
_SEQUENTIAL = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                        [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=np.float64)
POSITIVE = (178, 24, 43)
NEGATIVE = (33, 102, 172)


def _lut(anchors: np.ndarray, n: int = 256) -> np.ndarray:
    pos = np.linspace(0, len(anchors) - 1, n)
    lo = np.floor(pos).astype(int).clip(0, len(anchors) - 2)
    frac = (pos - lo)[:, None]
    return np.round(anchors[lo] * (1 - frac) + anchors[lo + 1] * frac).astype(np.uint8)


LUT_DIVERGING = _lut(_DIVERGING)
LUT_SEQUENTIAL = _lut(_SEQUENTIAL)


def scale_values(values: np.ndarray, signed: bool, percentile: float = 99.5) -> np.ndarray:
    """Values scaled to [-1, 1] (signed) or [0, 1] (unsigned) by the `percentile` of |values|."""
    v = np.asarray(values, dtype=np.float64)
    if not signed:
        v = np.abs(v)
    top = float(np.percentile(np.abs(v), percentile)) if v.size else 0.0
    if top <= 0:
        return np.zeros_like(v)
    return np.clip(v / top, -1.0 if signed else 0.0, 1.0)


def apply_colormap(scaled: np.ndarray, signed: bool) -> np.ndarray:
    """uint8 RGB (..., 3) for values already scaled by :func:`scale_values`."""
    lut = LUT_DIVERGING if signed else LUT_SEQUENTIAL
    unit = (scaled + 1) / 2 if signed else scaled
    return lut[np.clip(np.round(unit * 255), 0, 255).astype(int)]


def heatmap_2d(values: np.ndarray) -> np.ndarray:
    """An image attribution (C, H, W) summed over channels to (H, W); 2-D input passes through."""
    v = np.asarray(values, dtype=np.float64)
    return v.sum(axis=0) if v.ndim == 3 else v


def image_rgb(sample: np.ndarray) -> np.ndarray:
    """A display image (H, W, 3) float in [0, 1] from a sample (C, H, W) or (H, W)."""
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1)
    lo, hi = float(x.min()), float(x.max())
    if lo < -0.01 or hi > 1.01:  # not in display units: stretch
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    x = np.clip(x, 0.0, 1.0)
    return np.repeat(x[..., None], 3, axis=-1) if x.ndim == 2 else x


def overlay(rgb: np.ndarray, scaled: np.ndarray, signed: bool, opacity: float = 0.7) -> np.ndarray:
    """uint8 RGB: the input (grayed) blended with the heatmap, more where |attribution| is large."""
    gray = rgb.mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    heat = apply_colormap(scaled, signed).astype(np.float64) / 255
    alpha = opacity * np.abs(scaled)[..., None]
    return np.round((gray * (1 - alpha) + heat * alpha) * 255).clip(0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=32)
def font(size: int = 14, mono: bool = False) -> ImageFont.ImageFont:
    """DejaVu Sans (Mono) when installed (system fonts, or the copy matplotlib ships), else
    Pillow's built-in font (which lacks some symbols)."""
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    candidates = [name]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(str(Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf" / name))
    for candidate in candidates:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _upscale(rgb: np.ndarray, side: int) -> Image.Image:
    img = Image.fromarray(rgb if rgb.dtype == np.uint8 else np.round(rgb * 255).astype(np.uint8))
    h, w = rgb.shape[:2]
    factor = max(1, side // max(h, w))
    return img.resize((w * factor, h * factor), Image.NEAREST)


def _title(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int = 14, fill=(20, 20, 20)) -> None:
    draw.text(xy, text, font=font(size), fill=fill)


def render_image(sample: np.ndarray, values: np.ndarray, signed: bool, header: Sequence[str], side: int = 224,
                 opacity: float = 0.7) -> Image.Image:
    """Three panels — input, heatmap, overlay — with a colour bar and `header` lines on top."""
    rgb = image_rgb(sample)
    scaled = scale_values(heatmap_2d(values), signed)
    panels = [("input", _upscale(rgb, side)), ("attribution", _upscale(apply_colormap(scaled, signed), side)),
              ("overlay", _upscale(overlay(rgb, scaled, signed, opacity), side))]
    pw, ph = panels[0][1].size
    top = 12 + 20 * len(header) + 22
    canvas = Image.new("RGB", (24 + 3 * pw + 2 * 16 + 60, top + ph + 16), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(header):
        _title(draw, (12, 10 + 20 * i), line, 15 if i == 0 else 13)
    for i, (label, panel) in enumerate(panels):
        x = 12 + i * (pw + 16)
        _title(draw, (x, top - 20), label, 13, (90, 90, 90))
        canvas.paste(panel, (x, top))
    _colorbar(canvas, (12 + 3 * (pw + 16), top), ph, signed)
    return canvas


def _colorbar(canvas: Image.Image, xy: tuple[int, int], height: int, signed: bool) -> None:
    ramp = np.linspace(1, -1 if signed else 0, height)[:, None].repeat(14, axis=1)
    canvas.paste(Image.fromarray(apply_colormap(ramp, signed)), xy)
    draw = ImageDraw.Draw(canvas)
    x, y = xy
    _title(draw, (x + 18, y - 2), "+", 12, (90, 90, 90))
    _title(draw, (x + 18, y + height - 14), "−" if signed else "0", 12, (90, 90, 90))


def render_bars(values: np.ndarray, names: Sequence[str], header: Sequence[str], top_k: int = 20,
                width: int = 720) -> Image.Image:
    """Horizontal bars of feature attributions, sorted by |value|, positive red and negative blue."""
    v = np.asarray(values, dtype=np.float64).ravel()
    names = list(names) if len(names) == len(v) else [f"x{i}" for i in range(len(v))]
    order = np.argsort(-np.abs(v), kind="stable")[:top_k]
    row, top = 22, 12 + 20 * len(header) + 10
    canvas = Image.new("RGB", (width, top + row * len(order) + 16), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(header):
        _title(draw, (12, 10 + 20 * i), line, 15 if i == 0 else 13)
    label_w = min(220, 12 + 8 * max((len(names[i]) for i in order), default=4))
    half = (width - label_w - 100) / 2
    centre = label_w + 12 + half
    peak = float(np.abs(v[order]).max()) if len(order) else 1.0
    peak = peak if peak > 0 else 1.0
    for r, i in enumerate(order):
        y = top + r * row
        _title(draw, (12, y + 3), names[i][:28], 13)
        length = v[i] / peak * half
        x0, x1 = sorted((centre, centre + length))
        draw.rectangle([x0, y + 3, max(x1, x0 + 1), y + row - 4], fill=POSITIVE if v[i] >= 0 else NEGATIVE)
        _title(draw, (width - 84, y + 3), f"{v[i]:+.3g}", 12, (60, 60, 60))
    draw.line([centre, top, centre, top + row * len(order)], fill=(150, 150, 150))
    return canvas


def render_tokens(tokens: Sequence[str], values: np.ndarray, signed: bool, header: Sequence[str],
                  width: int = 720) -> Image.Image:
    """The tokens (characters, words or word pieces) on backgrounds coloured by their attribution,
    each as wide as its text, wrapped into lines; word tokens get a small gap between them."""
    scaled = scale_values(np.asarray(values).ravel(), signed)
    colors = apply_colormap(scaled, signed)
    f = font(15, mono=True)
    shown = [visible(t) for t in tokens]
    chars = all(len(t) <= 1 for t in shown)
    gap, pad, cell_h = (0, 2, 24) if chars else (4, 4, 24)
    widths = [max(14 if chars else 10, int(math.ceil(f.getlength(t))) + 2 * pad) for t in shown]
    places, x, y = [], 12, 0
    for w in widths:
        if x + w > width - 12 and x > 12:
            x, y = 12, y + 1
        places.append((x, y))
        x += w + gap
    top = 12 + 20 * len(header) + 10
    lines = places[-1][1] + 1 if places else 0
    canvas = Image.new("RGB", (width, top + lines * (cell_h + 4) + 16), "white")
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(header):
        _title(draw, (12, 10 + 20 * i), line, 15 if i == 0 else 13)
    for tok, color, w, (x, row) in zip(shown, colors, widths, places):
        y = top + row * (cell_h + 4)
        rgb = tuple(int(c) for c in color)
        draw.rectangle([x, y, x + w - 1, y + cell_h - 1], fill=rgb)
        ink = (0, 0, 0) if sum(rgb) > 380 else (255, 255, 255)
        draw.text((x + pad, y + 3), tok, font=f, fill=ink)
    return canvas


def visible(token: str) -> str:
    """A printable stand-in for whitespace tokens (newline, tab, space)."""
    return {"\n": "↵", "\t": "→", " ": "·"}.get(token, token)


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def save_png(image: Image.Image, path: str | Path) -> None:
    """Write a PNG atomically."""
    atomic_write_bytes(Path(path), png_bytes(image))
