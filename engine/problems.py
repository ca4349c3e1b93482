"""Problems: user-facing validation findings that name the field they concern."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Problem:
    """One finding: `path` is a dotted field path such as ``model.layers[3].kernel_size``.
    `fix` (optional) holds ``key=value`` overrides that resolve it, applied like ``--set``
    (engine.spec.apply_overrides): the GUI offers them as one click, the CLI prints them."""

    path: str
    message: str
    fix: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """Raised when a spec (or a file holding one) cannot be used; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, options: Iterable[str], *, shown: Mapping[str, str] | None = None) -> str:
    """Return ' — did you mean X?' for the closest option (case-insensitive), or ''.
    `shown` maps an option to how it is printed (e.g. its dotted path)."""
    lowered = {o.lower(): o for o in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if not match:
        return ""
    option = lowered[match[0]]
    return f" — did you mean {(shown or {}).get(option, option)!r}?"
