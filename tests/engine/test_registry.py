"""The generic registry and parameter checks."""
from __future__ import annotations

import pytest

from engine.registry import Param, Registry, UnknownName, check_options


def test_unknown_name_suggests_the_closest():
    reg: Registry[int] = Registry("layer type")
    reg.add("Conv2d", 1)
    reg.add("Linear", 2)
    with pytest.raises(UnknownName, match="did you mean 'Conv2d'"):
        reg.get("conv2D")
    _, problems = reg.check("Lienar", {}, "model.layers[0]")
    assert "did you mean 'Linear'" in problems[0].message


def test_duplicate_registration_is_refused():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError):
        reg.add("a", 2)


def test_check_options_fills_defaults_and_reports_everything():
    params = [
        Param("size", "int", help="Output size", min=1),
        Param("rate", "float", 0.5, min=0.0, max=1.0),
        Param("mode", "choice", "a", choices=("a", "b")),
        Param("flag", "bool", False),
    ]
    values, problems = check_options(params, {"rate": 2, "mode": "c", "flg": True}, "x")
    messages = {p.path: p.message for p in problems}
    assert "is required" in messages["x.size"]
    assert "at most 1" in messages["x.rate"]
    assert "one of a, b" in messages["x.mode"]
    assert "did you mean 'flag'" in messages["x.flg"]
    assert values["flag"] is False


def test_ints_to_float_and_bool_is_not_a_number():
    p = Param("lr", "float", 0.1)
    assert p.check(1, "lr") == (1.0, None)
    assert p.check(True, "lr")[1] is not None
    assert Param("shape", "ints", []).check([1, 2.5], "shape")[1] is not None
