"""Which output an attribution explains: the predicted class, the true class, or class K."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.problems import Problem, SpecError, did_you_mean

TARGET_WORDS = ("predicted", "true")


@dataclass(frozen=True)
class TargetChoice:
    """A parsed `--target`: `mode` is "predicted", "true" or "class" (then `index` is K)."""

    mode: str
    index: int = -1

    def __str__(self) -> str:
        return str(self.index) if self.mode == "class" else self.mode


def parse_target(text: str | int, class_names: tuple[str, ...] = (), path: str = "target") -> TargetChoice:
    """Parse "predicted", "true", a class index, or a class name (case-insensitive).

    Raises SpecError naming `path` when the value is none of these or is outside the classes."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        return _class(int(text), class_names, path)
    word = str(text).strip()
    if word.lower() in TARGET_WORDS:
        return TargetChoice(word.lower())
    lowered_word = word.lstrip("+-")
    if lowered_word.isdigit():
        return _class(int(word), class_names, path)
    lowered = {name.lower(): i for i, name in enumerate(class_names)}
    if word.lower() in lowered:
        return TargetChoice("class", lowered[word.lower()])
    choices = list(TARGET_WORDS) + list(class_names)
    raise SpecError([Problem(path, f"{word!r} is not a target: use predicted, true, a class index "
                                   f"0..{max(len(class_names) - 1, 0)} or a class name{did_you_mean(word, choices)}")])


def _class(index: int, class_names: tuple[str, ...], path: str) -> TargetChoice:
    if class_names and not 0 <= index < len(class_names):
        raise SpecError([Problem(path, f"class {index} is outside the model's classes 0..{len(class_names) - 1} "
                                       f"({_names(class_names)})")])
    if index < 0:
        raise SpecError([Problem(path, f"class {index} is negative; classes are numbered from 0")])
    return TargetChoice("class", index)


def _names(class_names: tuple[str, ...]) -> str:
    shown = ", ".join(class_names[:8])
    return shown + (", ..." if len(class_names) > 8 else "")


def resolve_target(choice: TargetChoice, probabilities: np.ndarray, true_label: int | None,
                   num_classes: int, path: str = "target") -> int:
    """The output index to explain for one sample. "true" needs a label; K must be a class."""
    if choice.mode == "predicted":
        return int(np.argmax(probabilities))
    if choice.mode == "true":
        if true_label is None:
            raise SpecError([Problem(path, "the true class is unknown for this sample; use predicted or a class index")])
        return int(true_label)
    if not 0 <= choice.index < num_classes:
        raise SpecError([Problem(path, f"class {choice.index} is outside the model's {num_classes} outputs "
                                       f"(0..{num_classes - 1})")])
    return choice.index
