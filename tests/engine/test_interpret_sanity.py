"""The model-randomization sanity check (Adebayo et al. 2018) and its rank correlation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from engine.interpret.sanity import parametrized_layers, randomization_check, reinitialize, spearman
from tests.engine.interpret_models import image_ctx, trained_digits_cnn


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, 200).astype(float)
    b = a + rng.normal(size=200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.ones(5), a[:5]) == 0.0


def test_reinitialize_changes_only_the_named_layers():
    ctx, _ = image_ctx()
    clone = reinitialize(ctx.model, ["6"], seed=1)
    assert parametrized_layers(ctx.model) == ["0", "2", "6"]
    assert np.allclose(clone[0].weight.detach(), ctx.model[0].weight.detach())
    assert not np.allclose(clone[6].weight.detach(), ctx.model[6].weight.detach())


@pytest.fixture(scope="module")
def digits():
    return trained_digits_cnn()


def test_same_model_gives_correlation_one(digits):
    trained, data, _ = digits
    from engine.interpret.sanity import SanityResult  # noqa: F401
    from engine.interpret.context import with_model
    import copy
    same = with_model(trained, copy.deepcopy(trained.model))
    from engine.interpret.core import explain_many
    a = explain_many(trained, data.x_val[:4], "Saliency")
    b = explain_many(same, data.x_val[:4], "Saliency")
    assert all(spearman(u.values, v.values) == pytest.approx(1.0) for u, v in zip(a, b))


@pytest.mark.parametrize("method", ["Saliency", "IntegratedGradients"])
def test_randomized_weights_lower_the_rank_correlation(digits, method):
    trained, data, _ = digits
    params = {"steps": 16} if method == "IntegratedGradients" else {}
    result = randomization_check(trained, data.x_val[:6], method, params, labels=data.y_val[:6], cascade=True)
    assert len(result.correlations) == 6
    assert result.mean < 0.6, result.correlations
    assert [name for name, _ in result.cascade] == ["6", "2", "0"]
    # re-initializing only the output layer keeps more of the map than re-initializing everything
    assert result.cascade[0][1] > result.mean
    assert "passes" in result.verdict() or "care" in result.verdict()
