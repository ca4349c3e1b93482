"""Icons and the application style sheet, both following the system palette (light or dark).

Icons are SVG files in app/resources/icons/ drawn with `currentColor`; :func:`icon` renders them in
the palette's text colour at 1x and 2x, so they stay crisp on high-DPI screens and readable
in dark mode. The style sheet app/resources/styles/app.qss uses `palette(...)` colours only,
plus a few accents; every page gets it implicitly through the QApplication.
"""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from app.resources import ICONS, STYLES

#: accent colours shared by widgets that paint themselves (readable on light and dark)
PROBLEM_COLOR = "#e5484d"
OK_COLOR = "#30a46c"
ACCENT_COLOR = "#3b82f6"


def is_dark() -> bool:
    """Whether the current palette is a dark one."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def _text_color() -> str:
    app = QGuiApplication.instance()
    if app is None:
        return "#444444"
    return QGuiApplication.palette().color(QPalette.ColorRole.WindowText).name()


@lru_cache(maxsize=128)
def _icon(name: str, color: str, size: int) -> QIcon:
    path = ICONS / f"{name}.svg"
    result = QIcon()
    if not path.exists():
        return result
    data = path.read_text(encoding="utf-8").replace("currentColor", color)
    renderer = QSvgRenderer(QByteArray(data.encode("utf-8")))
    for scale in (1, 2):
        image = QImage(size * scale, size * scale, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter, QRectF(0, 0, size * scale, size * scale))
        painter.end()
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(scale)
        result.addPixmap(pixmap)
    return result


def icon(name: str, color: str | None = None, size: int = 24) -> QIcon:
    """app/resources/icons/<name>.svg as a QIcon in `color` (default: the palette's text colour).
    An unknown name gives an empty icon, never an error."""
    return _icon(name, color or _text_color(), size)


def stylesheet() -> str:
    """The application style sheet (app/resources/styles/app.qss) with accents filled in."""
    text = (STYLES / "app.qss").read_text(encoding="utf-8")
    subtle = "rgba(255,255,255,0.06)" if is_dark() else "rgba(0,0,0,0.04)"
    return (text.replace("@problem", PROBLEM_COLOR).replace("@ok", OK_COLOR)
            .replace("@accent", ACCENT_COLOR).replace("@subtle", subtle))


def apply_theme(app: QApplication) -> None:
    """Fusion style (which follows the system's light/dark colour scheme) plus our style sheet."""
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())


def problem_color() -> QColor:
    return QColor(PROBLEM_COLOR)
