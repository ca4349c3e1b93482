"""The metric buffers keep headroom after a bulk load, so the next live append copies nothing."""
from __future__ import annotations

import numpy as np

from app.services.metric_store import _Buffer


def test_live_append_after_a_bulk_load_does_not_reallocate():
    buf = _Buffer()
    buf.extend(np.arange(1_000_000, dtype=np.float64))  # a finished run's curve, loaded at once
    storage = buf.data
    buf.extend(np.ones(100))  # the next live events
    assert buf.data is storage
    assert buf.size == 1_000_100
    assert buf.view()[-101] == 999_999 and buf.view()[-1] == 1.0


def test_small_appends_still_grow_by_doubling():
    buf = _Buffer(capacity=4)
    for i in range(10):
        buf.extend(np.array([float(i)]))
    assert list(buf.view()) == [float(i) for i in range(10)]
    assert len(buf.data) == 16
