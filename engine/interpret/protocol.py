"""The explain worker's wire format: one JSON object per line, numpy arrays as base64 `.npy`.

Kept free of torch so the GUI process can import it before (and without) torch."""
from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np

from engine.registry import Param

ARRAY_KEY = "__ndarray__"


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {ARRAY_KEY: base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if ARRAY_KEY in value and len(value) == 1:
            return np.load(io.BytesIO(base64.b64decode(value[ARRAY_KEY])), allow_pickle=False)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dumps(message: dict[str, Any]) -> bytes:
    """One message as a line of UTF-8 JSON (arrays encoded)."""
    return (json.dumps(_encode(message), separators=(",", ":")) + "\n").encode("utf-8")


def loads(line: bytes | str) -> dict[str, Any]:
    """A message from one line (arrays decoded)."""
    return _decode(json.loads(line))


def param_to_dict(param: Any) -> dict[str, Any]:
    """An engine.registry.Param as plain data (the GUI rebuilds it with param_from_dict)."""
    return {"name": param.name, "kind": param.kind, "default": None if param.required else param.default,
            "help": param.help, "min": param.min, "max": param.max, "choices": list(param.choices)}


def param_from_dict(data: dict[str, Any]) -> Any:
    return Param(data["name"], data["kind"], data["default"], data.get("help", ""), data.get("min"),
                 data.get("max"), tuple(data.get("choices") or ()))
