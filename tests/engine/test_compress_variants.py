"""The Compress page's chart data: a source run's variants (chained through compress.json records)
and their Pareto front of quality against weights size."""
from __future__ import annotations

import json
from pathlib import Path

from engine.compress.variants import Variant, pareto_front, variants_of


def measures(size: int, quality: float) -> dict:
    return {"params": 10, "nonzero": 10, "weights_bytes": size, "latency_ms": 1.0, "batch_size": 64, "val_loss": 0.1,
            "val_quality": quality, "quality_name": "val_accuracy"}


def record(folder: Path, source: Path, steps: list[str], before: dict, after: dict, created: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "compress.json").write_text(json.dumps({"source": str(source), "steps": steps, "before": before,
                                                      "after": after, "created": created}))
    return folder


def test_variants_chain_through_their_sources_and_skip_other_runs(tmp_path):
    source, other = tmp_path / "src", tmp_path / "other"
    source.mkdir()
    a = record(tmp_path / "a", source, ["prune:sparsity=0.5"], measures(1000, 0.95), measures(1000, 0.94), 1.0)
    b = record(tmp_path / "b", a, ["quantize"], measures(1000, 0.94), measures(300, 0.93), 2.0)  # a variant of a variant
    record(tmp_path / "c", other, ["prune"], measures(9, 0.5), measures(9, 0.5), 0.5)  # another source's
    (tmp_path / "plain").mkdir()  # an ordinary run: no record
    found = variants_of(source, [b, tmp_path / "c", tmp_path / "plain", a])
    assert [(v.run_dir.name, v.steps, v.weights_bytes) for v in found] == [
        ("src", (), 1000), ("a", ("prune:sparsity=0.5",), 1000), ("b", ("prune:sparsity=0.5", "quantize"), 300)]
    assert found[2].label == "prune:sparsity=0.5 → quantize"


def variant(name: str, size: int, quality: float | None, metric: str = "val_accuracy") -> Variant:
    return Variant(Path(name), (name,), size, quality, metric, 1.0, 1, 1)


def test_pareto_front_keeps_what_nothing_beats_on_both_counts():
    points = [variant("big_best", 1000, 0.98), variant("big_worse", 1000, 0.97), variant("mid", 500, 0.96),
              variant("mid_worse_than_small", 600, 0.90), variant("small", 200, 0.93), variant("unmeasured", 10, None)]
    assert [v.run_dir.name for v in pareto_front(points)] == ["small", "mid", "big_best"]
    errors = [variant("a", 100, 0.5, "val_error"), variant("b", 200, 0.2, "val_error"), variant("c", 300, 0.3, "val_error")]
    assert [v.run_dir.name for v in pareto_front(errors)] == ["a", "b"]  # lower error is better
    assert pareto_front([]) == []
