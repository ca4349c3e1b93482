"""Minimal TOML writer for spec files (reading uses the standard library's tomllib).

Layers are written as one inline table per line so a spec stays readable and diffable.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping


def format_value(value: Any) -> str:
    """One TOML value: strings, booleans, numbers, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{format_key(k)} = {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def format_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def dumps(doc: Mapping[str, Any]) -> str:
    """Write a two-level document: top-level scalars, then one [section] per mapping.
    A list of mappings inside a section is written one inline table per line."""
    lines: list[str] = []
    sections = [(k, v) for k, v in doc.items() if isinstance(v, Mapping)]
    for key, value in doc.items():
        if not isinstance(value, Mapping):
            lines.append(f"{format_key(key)} = {format_value(value)}")
    for name, table in sections:
        lines.append("")
        lines.append(f"[{format_key(name)}]")
        for key, value in table.items():
            if isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
                lines.append(f"{format_key(key)} = [")
                lines.extend(f"  {format_value(item)}," for item in value)
                lines.append("]")
            else:
                lines.append(f"{format_key(key)} = {format_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"
