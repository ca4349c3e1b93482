"""TokenView: the tokens of a text sample (characters, words or word pieces, as the tokenizer
split them) on backgrounds coloured by attribution; for a language model the prediction for the
next token is shown after them."""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
from PySide6.QtWidgets import QTextBrowser, QWidget

from engine.interpret.render import apply_colormap, scale_values, visible


class TokenView(QTextBrowser):
    """`set_tokens(tokens, values, signed, next_token="")`; `colors` holds each token's RGB."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.colors: list[tuple[int, int, int]] = []
        self.setPlaceholderText("No attribution yet")

    def set_tokens(self, tokens: Sequence[str], values: np.ndarray, signed: bool, next_token: str = "") -> None:
        scaled = scale_values(np.asarray(values, dtype=np.float64).ravel(), signed)
        self.colors = [tuple(int(c) for c in rgb) for rgb in apply_colormap(scaled, signed)]
        spans = []
        words = any(len(tok) > 1 for tok in tokens)  # word (piece) tokens get a gap; characters run on
        for tok, (r, g, b) in zip(tokens, self.colors):
            ink = "#000" if r + g + b > 380 else "#fff"
            text = html.escape(visible(tok))
            spans.append(f'<span style="background-color: rgb({r},{g},{b}); color: {ink};">'
                         f"{'&nbsp;' + text + '&nbsp;' if words else text}</span>")
        tail = (f' <span style="border: 1px dashed gray;">&nbsp;→ {html.escape(visible(next_token))}&nbsp;</span>'
                if next_token else "")
        self.setHtml(f'<div style="font-family: monospace; font-size: 15pt; line-height: 160%;">{(" " if words else "").join(spans)}{tail}</div>')
