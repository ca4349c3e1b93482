"""View ranges that follow growing data in steps instead of on every point.

Re-fitting a plot to its data on every update re-lays out both axes (tick values and labels),
which costs more than drawing the curve. These pure functions keep the current range while the
data fits and grow it with headroom when it does not, so a live plot's axes change a few times
a minute instead of ten times a second.
"""
from __future__ import annotations

import math

X_HEADROOM = 0.25  # the x range grows 25% past the newest point
Y_PAD = 0.05  # a y range has 5% margin above and below the data
Y_GROW = 0.2  # and 20% more on a side the data has just run past
SHRINK_BELOW = 0.5  # a range more than twice as wide as the data is fitted again


def _keeps(current: tuple[float, float], lo: float, hi: float) -> bool:
    """True when the current range should stay: the data are not finite, or they fit inside it
    and fill at least SHRINK_BELOW of it."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return True
    c0, c1 = current
    return lo >= c0 and hi <= c1 and hi - lo >= SHRINK_BELOW * (c1 - c0)


def follow_x(current: tuple[float, float], lo: float, hi: float) -> tuple[float, float] | None:
    """The new x range for data spanning [lo, hi], or None to keep `current`."""
    if _keeps(current, lo, hi):
        return None
    c0, c1 = current
    span = hi - lo
    return lo, hi + (span * X_HEADROOM if span > 0 else 1.0)


def follow_y(current: tuple[float, float], lo: float, hi: float) -> tuple[float, float] | None:
    """The new y range for values in [lo, hi], or None to keep `current`."""
    if _keeps(current, lo, hi):
        return None
    c0, c1 = current
    span = hi - lo
    pad = span * Y_PAD if span > 0 else (abs(hi) * 0.1 or 1.0)
    # room to move on the side that overflowed (a falling loss makes new minima all the time)
    below = span * Y_GROW if lo < c0 and span > 0 else 0.0
    above = span * Y_GROW if hi > c1 and span > 0 else 0.0
    return lo - pad - below, hi + pad + above
