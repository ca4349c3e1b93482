"""The one error type of engine.pretrained: a sentence naming the model, file or id and what to do."""
from __future__ import annotations


class PretrainedError(Exception):
    """A pretrained model or its weights cannot be used. `option` is the layer option at fault
    (``model``, ``weights_path``, ...), so a caller can name the field; `message` says what to do."""

    def __init__(self, message: str, option: str = "model"):
        super().__init__(message)
        self.message = message
        self.option = option
