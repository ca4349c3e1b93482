"""Every compressed variant of a source run (read from the compress.json records of a runs folder)
and the Pareto front of accuracy against size — what the Compress page's chart shows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from engine.compress.core import read_record


@dataclass(frozen=True)
class Variant:
    """One model on the chart: the source run itself (`steps` empty) or a compressed run."""

    run_dir: Path
    steps: tuple[str, ...]
    weights_bytes: int
    quality: float | None
    quality_name: str
    latency_ms: float
    params: int
    nonzero: int

    @property
    def label(self) -> str:
        return " → ".join(self.steps) if self.steps else "source"


def _variant(run_dir: Path, steps: Sequence[str], measures: dict[str, Any]) -> Variant:
    return Variant(run_dir, tuple(steps), int(measures.get("weights_bytes") or 0), measures.get("val_quality"),
                   str(measures.get("quality_name") or "val_accuracy"), float(measures.get("latency_ms") or 0.0),
                   int(measures.get("params") or 0), int(measures.get("nonzero") or 0))


def variants_of(source: str | Path, runs: Iterable[str | Path]) -> list[Variant]:
    """The source run (measured in its first compression) and every run among `runs` compressed from
    it, directly or from one of its variants (steps chained from the source), oldest first."""
    source = Path(source).resolve()
    records = []
    for run in runs:
        record = read_record(run)
        if record is not None and record.get("source") and isinstance(record.get("after"), dict):
            records.append((float(record.get("created") or 0.0), Path(run).resolve(), record))
    records.sort(key=lambda item: item[0])
    chains: dict[Path, tuple[str, ...]] = {source: ()}
    found: list[Variant] = []
    changed = True
    while changed:  # a variant of a variant joins once its own source has
        changed = False
        for _created, path, record in records:
            parent = Path(record["source"]).resolve()
            if path in chains or parent not in chains:
                continue
            if parent == source and not found and isinstance(record.get("before"), dict):
                found.append(_variant(source, (), record["before"]))
            chains[path] = chains[parent] + tuple(record.get("steps") or ())
            found.append(_variant(path, chains[path], record["after"]))
            changed = True
    return found


def pareto_front(points: Sequence[Variant]) -> list[Variant]:
    """The variants no other beats on both counts (smaller or equal weights and higher or equal
    quality, one strictly), smallest first; quality is accuracy (higher is better) or an error
    (`val_error`, lower is better)."""
    scored = [p for p in points if p.quality is not None]
    if not scored:
        return []
    sign = -1.0 if scored[0].quality_name == "val_error" else 1.0
    front: list[Variant] = []
    for p in sorted(scored, key=lambda v: (v.weights_bytes, -sign * v.quality)):
        if not front or sign * p.quality > sign * front[-1].quality:
            front.append(p)
    return front
