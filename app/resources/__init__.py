"""Files the desktop app reads at run time: icons (icons/*.svg) and the style sheet
(styles/app.qss). Shipped inside the package so a wheel carries them."""
from __future__ import annotations

from engine.paths import package_dir

APP_RESOURCES = package_dir("app.resources")
ICONS = APP_RESOURCES / "icons"
STYLES = APP_RESOURCES / "styles"
