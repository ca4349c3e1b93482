"""Image folders: one sub-folder per class (``root/cat/001.png``), read with Pillow.

Images are converted to grayscale or RGB, resized to `size` x `size` (stretched, or the shorter
side scaled and the centre cut out), scaled to [0, 1] and then normalized per channel, with
training-split statistics or a pretrained model's fixed mean and std (by load_data). Training
batches can be augmented with random crops and flips (engine.data.augment). Unreadable files are
an error naming them, or skipped and listed in the notes when `skip_unreadable` is set."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engine.data.augment import IMAGE_PARAMS, augment_from, fixed_norm, raw_normalize
from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source, existing_path, fail, file_key
from engine.registry import Param

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"})
_WHAT = "a folder with one sub-folder of images per class"
_SHOWN = 5  # unreadable files named in a message


@dataclass(frozen=True)
class _Listing:
    root: Path
    classes: tuple[str, ...]
    files: tuple[tuple[Path, ...], ...]  # per class
    empty_classes: tuple[str, ...]

    def identity(self) -> tuple:
        return tuple(file_key(f) for group in self.files for f in group)


#: root folder -> (directories visited, their mtimes, listing); a folder's mtime changes whenever
#: an entry is added, removed or renamed in it, so an unchanged stamp means an unchanged listing
_LISTINGS: dict[str, tuple[tuple[Path, ...], tuple | None, _Listing]] = {}
_MAX_LISTINGS = 8


def _stamp(dirs: tuple[Path, ...]) -> tuple | None:
    try:
        return tuple(d.stat().st_mtime_ns for d in dirs)
    except OSError:
        return None


def _raise(err: OSError) -> None:
    raise err


def _walk(folder: Path) -> tuple[tuple[Path, ...], list[Path]]:
    """Image files below `folder` (sorted; hidden entries skipped) and every folder visited."""
    files, dirs = [], []
    for here, subdirs, names in os.walk(folder, onerror=_raise):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        dirs.append(Path(here))
        files += [Path(here, n) for n in names
                  if not n.startswith(".") and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
    return tuple(sorted(files)), dirs


def _list(options: Mapping[str, Any]) -> _Listing:
    """The class folders and their image files (cached until a folder below the root changes)."""
    root = existing_path(options, folder=True, what=_WHAT)
    cached = _LISTINGS.get(str(root))
    if cached is not None and cached[1] is not None and _stamp(cached[0]) == cached[1]:
        return cached[2]
    root_stamp = _stamp((root,))
    subfolders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups, dirs = [], [root]
    for d in subfolders:
        files, visited = _walk(d)
        groups.append((d.name, files))
        dirs += visited
    full = [(name, files) for name, files in groups if files]
    if not full:
        loose = sum(1 for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        hint = f"it holds {loose} images but no class sub-folders" if loose else "it holds no images in sub-folders"
        raise fail("path", f"{root} is empty: {hint} — put each class's images in its own sub-folder, "
                           f"e.g. {root / 'cats' / '001.png'}")
    if len(full) < 2:
        raise fail("path", f"{root} has only one class sub-folder with images ({full[0][0]!r}) — "
                           "a classifier needs at least 2 classes, one sub-folder each")
    empty = tuple(name for name, files in groups if not files)
    listing = _Listing(root, tuple(n for n, _ in full), tuple(f for _, f in full), empty)
    stamp = _stamp(tuple(dirs))
    if stamp is not None and root_stamp is not None and stamp[0] == root_stamp[0]:
        _LISTINGS[str(root)] = (tuple(dirs), stamp, listing)
        while len(_LISTINGS) > _MAX_LISTINGS:
            _LISTINGS.pop(next(iter(_LISTINGS)))
    return listing


def _describe(options: Mapping[str, Any]) -> DataInfo:
    listing = _list(options)
    channels = 1 if options["color"] == "grayscale" else 3
    size = options["size"]
    return DataInfo((channels, size, size), "float32", "classification", len(listing.classes),
                    listing.classes, (), "image")


def _read_image(path: Path, mode: str, size: int, resize: str = "stretch") -> np.ndarray:
    from PIL import Image  # Pillow only when images are read

    with Image.open(path) as image:
        image = image.convert(mode)
        if resize == "center_crop":
            image = _center_crop(image, size)
        else:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
    return pixels[None, :, :] if mode == "L" else pixels.transpose(2, 0, 1)


def _center_crop(image, size: int):
    """The shorter side scaled to `size`, then the centre size x size cut out (torchvision v2)."""
    from engine.pretrained.compat import ensure_torchvision  # torchvision only for this resize mode

    ensure_torchvision()
    from torchvision.transforms.v2 import functional as F  # importable once ensure_torchvision has run
    return F.center_crop(F.resize(image, size, antialias=True), [size, size])


def _decode(job: tuple[Path, str, int, str]) -> np.ndarray | str:
    """One image as (C, H, W) in [0, 1], or the reason it cannot be read."""
    from PIL import UnidentifiedImageError  # as in _read_image

    path, mode, size, resize = job
    try:
        return _read_image(path, mode, size, resize)
    except UnidentifiedImageError:
        return "not a readable image"
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt files
        return str(err) or type(err).__name__


def _load(options: Mapping[str, Any], seed: int) -> Raw:
    listing = _list(options)
    mode = "L" if options["color"] == "grayscale" else "RGB"
    size = options["size"]
    files = [(path, label) for label, group in enumerate(listing.files) for path in group]
    jobs = [(path, mode, size, options["resize"]) for path, _ in files]
    if options["resize"] == "center_crop":  # import torchvision once here: importing it on several threads fails
        from engine.pretrained.compat import ensure_torchvision  # torchvision only for this resize mode

        ensure_torchvision()
        import torchvision.transforms.v2  # noqa: F401  (the submodule too, before the threads use it)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # Pillow decodes without the GIL
        decoded = list(pool.map(_decode, jobs, chunksize=32))
    images = [d for d in decoded if not isinstance(d, str)]
    labels = [label for (_, label), d in zip(files, decoded) if not isinstance(d, str)]
    bad = [f"{path.relative_to(listing.root)} ({d})" for (path, _), d in zip(files, decoded) if isinstance(d, str)]
    notes = []
    if bad:
        shown = "; ".join(bad[:_SHOWN]) + (f"; and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else "")
        if not images:
            raise fail("path", f"none of the {len(bad)} image files in {listing.root} can be read: {shown} — "
                               "check that they are image files (PNG, JPEG, ...)")
        if not options["skip_unreadable"]:
            raise fail("path", f"{len(bad)} unreadable image file(s) in {listing.root}: {shown} — remove or "
                               "replace them, or set data.skip_unreadable = true to leave them out")
        notes.append(f"skipped {len(bad)} unreadable image file(s): {shown}")
    if listing.empty_classes:
        notes.append(f"ignored sub-folders without images: {', '.join(listing.empty_classes)}")
    counts = np.bincount(np.asarray(labels), minlength=len(listing.classes))
    per_class = ", ".join(f"{name}: {count}" for name, count in zip(listing.classes, counts))
    how = "cropped to the centre" if options["resize"] == "center_crop" else "resized"
    notes.append(f"{len(images)} images in {len(listing.classes)} classes ({per_class}), {how} to {size}x{size} {mode}")
    info = _describe(options)
    augment = augment_from(options)
    if augment is not None:
        notes.append(augment.describe())
    return Raw(info, np.stack(images), np.asarray(labels, dtype=np.int64), normalize=raw_normalize(options["normalize"]),
               notes=tuple(notes), fixed_norm=fixed_norm(options["normalize"], info.input_shape[0]), augment=augment)


def _key(options: Mapping[str, Any]) -> tuple:
    return _list(options).identity()


DATA_SOURCES.add(
    "image_folder", Source(_describe, _load, key=_key),
    params=(
        Param("path", "path", help="Folder with one sub-folder of images per class (e.g. photos/cat/1.jpg)"),
        Param("size", "int", 32, "Images are resized to size x size pixels", min=4, max=1024),
        Param("color", "choice", "rgb", "Read images as grayscale (1 channel) or RGB (3 channels; grey images are repeated "
              "to 3 channels)",
              choices=("grayscale", "rgb")),
        *IMAGE_PARAMS,
        Param("skip_unreadable", "bool", False, "Leave out unreadable image files (listed in the notes) "
                                                 "instead of stopping with an error"),
    ),
    group="Files",
    description="Your own images: one sub-folder per class; resized, grayscale or RGB, normalized per channel, "
                "optionally augmented with random crops and flips while training.",
)
