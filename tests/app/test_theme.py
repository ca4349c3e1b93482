"""The style follows the system palette: with a dark palette the style sheet's tints and the
icons (drawn in the palette's text colour) are light, with a light one they are dark."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.widgets.theme import icon, is_dark, stylesheet


def _palette(window: str, text: str) -> QPalette:
    palette = QPalette(QApplication.palette())
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        palette.setColor(group, QPalette.ColorRole.Window, QColor(window))
        palette.setColor(group, QPalette.ColorRole.WindowText, QColor(text))
    return palette


def _icon_lightness(name: str) -> int:
    image = icon(name, size=24).pixmap(24, 24).toImage()
    opaque = [image.pixelColor(x, y) for x in range(24) for y in range(24) if image.pixelColor(x, y).alpha() > 200]
    assert opaque, f"icon {name} drew nothing"
    return max(c.lightness() for c in opaque)


def test_dark_and_light_palettes_give_matching_tints_and_icons(styled_app):
    original = QPalette(QApplication.palette())
    try:
        QApplication.setPalette(_palette("#202124", "#e8eaed"))
        assert is_dark()
        assert "rgba(255,255,255,0.06)" in stylesheet()
        assert _icon_lightness("add") > 200
        QApplication.setPalette(_palette("#fafafa", "#202124"))
        assert not is_dark()
        assert "rgba(0,0,0,0.04)" in stylesheet()
        assert _icon_lightness("add") < 60
    finally:
        QApplication.setPalette(original)
