"""A new parallel strategy is one class in one file: the toy below, registered here, shows up in
the Train page's parallelism form, in validation and in the plan, with no other code."""
from __future__ import annotations

import dataclasses

import pytest

from engine.devices import Devices, set_devices_for_tests
from engine.parallel.strategy import Strategy, register
from engine.problems import Problem
from engine.spec import STRATEGIES


class Halves(Strategy):
    """Toy: data parallel, and each batch must split evenly in two."""

    name = "halves"
    description = "Toy strategy: ranks split each batch, which must be even."
    data_parallel = True

    def check(self, spec, rows):
        b = spec.data.batch_size
        return [Problem("data.batch_size", f"is {b}; halves needs an even batch — use {b + 1}")] if b % 2 else []


@pytest.fixture
def toy():
    set_devices_for_tests(Devices(gpus=0, cpus=4))
    register(Halves)
    yield
    STRATEGIES.remove("halves")
    set_devices_for_tests(None)


def _with(spec, **parallel):
    return dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, **parallel))


def test_a_registered_strategy_is_validated_and_planned(toy):
    from engine.parallel.summary import plan_summary
    from engine.paths import EXAMPLES
    from engine.spec import load_spec
    from engine.validation import validate

    spec = _with(load_spec(EXAMPLES / "digits_mlp.toml"), strategy="halves", processes=2)
    assert validate(spec) == []
    summary = plan_summary(spec, problems=[])
    assert summary.description == Halves.description and summary.global_batch == 2 * spec.data.batch_size
    assert summary.steps_per_epoch(1000) == -(-500 // spec.data.batch_size)  # 500 samples per rank
    odd = dataclasses.replace(spec, data=dataclasses.replace(spec.data, batch_size=33))
    assert [str(p) for p in validate(odd)] == ["data.batch_size: is 33; halves needs an even batch — use 34"]
    assert validate(_with(spec, strategy="halve"))[0].message.endswith("did you mean 'halves'?")


def test_a_registered_strategy_is_a_choice_of_the_train_page(toy, qtbot, window):
    from tests.app.test_train_page import edit, ready

    page = window.show_page("train")
    combo = page.forms["parallel"].editor("strategy").box
    assert [combo.itemText(i) for i in range(combo.count())] == ["none", "ddp", "fsdp", "tensor", "pipeline", "halves"]
    edit(page, "parallel", "strategy", "halves")
    edit(page, "parallel", "processes", 2)
    ready(qtbot, page)
    assert window.document.spec.parallel.strategy == "halves"
    assert page.plan.summary.strategy == "halves" and page.plan.problems == ()
    assert page.plan.summary.global_batch == 2 * window.document.spec.data.batch_size
    page._planner.wait()
