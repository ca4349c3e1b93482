"""The Explain page's result views: one sample's attribution by data kind (heatmap panels for
images, feature bars for tabular/points, coloured characters for text), the top classes with
their probabilities, the convergence delta and any notes; and a compact tile for the grids."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.widgets.feature_bars import FeatureBars
from app.widgets.heatmap_view import HeatmapView
from app.widgets.token_view import TokenView
from engine.data.tokenize import is_special


def class_name(info: dict, c: int | None) -> str:
    names = info.get("class_names") or []
    if c is None or c < 0:
        return "?"
    return names[c] if c < len(names) else str(c)


def tokens_of(info: dict, ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(tokens as the tokenizer wrote them, their positions) of a text sample, padding left out."""
    vocab, pad = info.get("vocab") or [], info.get("pad_id")
    ids = np.ravel(ids)
    keep = np.flatnonzero(ids != pad) if pad is not None else np.arange(len(ids))
    return [vocab[int(ids[i])] if 0 <= int(ids[i]) < len(vocab) else "?" for i in keep], keep


def text_of(info: dict, ids: np.ndarray) -> str:
    """A text sample as one line: characters joined, word tokens spaced (word pieces rejoined)."""
    tokens, _ = tokens_of(info, ids)
    if all(len(t) <= 1 for t in tokens):
        return "".join(tokens).replace("\n", "↵")
    return " ".join(t for t in tokens if not is_special(t)).replace(" ##", "")


class AttributionView(QStackedWidget):
    """One attribution drawn for its data kind; `show_result(info, result)`."""

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False):
        super().__init__(parent)
        panels = ("overlay",) if compact else ("input", "attribution", "overlay")
        self.heatmap = HeatmapView(panels, titles=not compact, colorbar=not compact)
        self.bars = FeatureBars(top_k=8 if compact else 24)
        self.tokens = TokenView()
        for w in (self.heatmap, self.bars, self.tokens):
            self.addWidget(w)
        if compact:
            self.heatmap.setMinimumSize(110, 110)
            self.tokens.setMinimumHeight(60)

    def show_result(self, info: dict, result: dict[str, Any]) -> None:
        kind = info.get("kind", "image")
        values, signed = result["values"], bool(result.get("signed", True))
        if kind == "image":
            self.heatmap.set_result(result["display"], values, signed)
            self.setCurrentWidget(self.heatmap)
        elif kind == "text":
            nxt = class_name(info, result.get("predicted")) if info.get("task") == "language_modeling" else ""
            tokens, keep = tokens_of(info, result["display"])
            self.tokens.set_tokens(tokens, np.ravel(values)[keep], signed, nxt)
            self.setCurrentWidget(self.tokens)
        else:
            names = info.get("feature_names") or [f"x{i}" for i in range(np.size(values))]
            self.bars.set_values(values, names)
            self.setCurrentWidget(self.bars)

    def clear(self) -> None:
        self.heatmap.clear()
        self.bars.clear()
        self.tokens.clear()


class ResultPanel(QWidget):
    """The selected sample: attribution view, headline, top classes, delta and notes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.headline = QLabel("Pick a sample and press Explain.")
        self.headline.setObjectName("explainHeadline")
        self.headline.setWordWrap(True)
        self.view = AttributionView()
        self.view.setMinimumHeight(220)
        self.probs_title = QLabel("TOP CLASSES")
        self.probs_title.setObjectName("sectionTitle")
        self.probs = FeatureBars(signed=False, top_k=5, row_height=20, value_format="{:.1%}")
        self.probs.empty_text = ""
        self.details = QLabel("")
        self.details.setObjectName("hint")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.headline)
        layout.addWidget(self.view, 3)
        layout.addWidget(self.probs_title)
        layout.addWidget(self.probs)
        layout.addWidget(self.details)
        layout.addStretch(1)
        self.result: dict[str, Any] | None = None
        self._kind = ""

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_view()

    def _fit_view(self) -> None:
        """Images: as tall as three square panels side by side need (no empty band below)."""
        if self._kind == "image":
            self.view.setMaximumHeight(int((self.width() - 34 - 24) / 3) + 50)
        else:
            self.view.setMaximumHeight(16777215)

    def show_result(self, info: dict, result: dict[str, Any]) -> None:
        self.result = result
        self._kind = info.get("kind", "")
        self._fit_view()
        self.view.show_result(info, result)
        probs = np.asarray(result["probabilities"])
        if info.get("task") == "regression":
            self.probs.clear()
            self.probs_title.hide()
            self.headline.setText(f"<b>Sample {result['index']}</b> — output {class_name(info, result['target'])} = "
                                  f"<b>{probs[result['target']]:.4g}</b>; explained with {result['method']}")
            self.details.setText(self._details(result))
            return
        self.probs_title.show()
        names = [class_name(info, i) for i in range(len(probs))]
        if info.get("kind") == "text":
            names = [repr(n) if not n.strip() else n for n in names]
        self.probs.set_values(probs, names)
        pred, true = result["predicted"], result.get("true")
        verdict = "" if true is None else ("  ✓ correct" if pred == true else f"  ✗ true class {class_name(info, true)}")
        self.headline.setText(f"<b>Sample {result['index']}</b> — predicted <b>{class_name(info, pred)}</b> "
                              f"({probs[pred]:.1%}){verdict}; explaining <b>{class_name(info, result['target'])}</b> "
                              f"with {result['method']}")
        self.details.setText(self._details(result))

    @staticmethod
    def _details(result: dict[str, Any]) -> str:
        parts = [f"{result['seconds'] * 1000:.0f} ms"]
        if result.get("delta") is not None:
            parts.insert(0, f"convergence delta {result['delta']:.2e}")
        parts += [f"note: {n}" for n in result.get("notes") or []]
        return "   ·   ".join(parts)

    def show_message(self, text: str) -> None:
        self.headline.setText(text)


class ResultTile(QFrame):
    """A small titled attribution for the comparison grids."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.view = AttributionView(compact=True)
        self.caption = QLabel("computing…")
        self.caption.setObjectName("hint")
        self.caption.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.setMinimumSize(150, 180)
        self.result: dict[str, Any] | None = None
        self.error = ""

    def show_result(self, info: dict, result: dict[str, Any]) -> None:
        self.result = result
        self.view.show_result(info, result)
        probs = np.asarray(result["probabilities"])
        if info.get("task") == "regression":
            text = f"output {probs[result['target']]:.3g}"
        else:
            text = f"pred {class_name(info, result['predicted'])} {probs[result['predicted']]:.0%}"
        if result.get("delta") is not None:
            text += f" · δ {result['delta']:.1e}"
        self.caption.setText(text)

    def show_error(self, message: str) -> None:
        self.error = message or "failed"
        self.caption.setText(message.splitlines()[0] if message else "failed")
        self.caption.setToolTip(message)
