"""Activations: element-wise non-linearities and Softmax."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, dim_index, layer, same
from engine.registry import Param


def _simple(cls_name: str, **kwargs):
    """A builder for a parameter-free torch.nn activation."""

    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        return getattr(nn, cls_name)(**{k: c.p[v] for k, v in kwargs.items()})

    return build


for _name, _help, _saves in (
    ("ReLU", "max(0, x)", "output"),
    ("SiLU", "x · sigmoid(x), also called swish", "input"),
    ("Tanh", "Hyperbolic tangent, output in (-1, 1)", "output"),
    ("Sigmoid", "Logistic function, output in (0, 1)", "output"),
):
    layer(_name, "Activation", _help, builder=_simple(_name), elementwise=True, saves=(_saves,))(same)

layer("GELU", "Activation", "Gaussian error linear unit (smooth ReLU, used in transformers)",
      [Param("approximate", "choice", "none", "none = exact erf form; tanh = faster approximation",
             choices=("none", "tanh"))],
      builder=_simple("GELU", approximate="approximate"), elementwise=True, saves=("input",))(same)
layer("LeakyReLU", "Activation", "x for x > 0, negative_slope · x otherwise",
      [Param("negative_slope", "float", 0.01, "Slope for negative inputs", min=0.0, max=1.0)],
      builder=_simple("LeakyReLU", negative_slope="negative_slope"), elementwise=True, saves=("input",))(same)


def _build_softmax(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.Softmax(dim=dim_index(c.p["dim"], len(c.shape)) + 1)


@layer("Softmax", "Activation", "Turns scores into probabilities along one dimension (classifiers train on "
       "raw scores; use it only where probabilities are wanted inside the model)",
       [Param("dim", "int", -1, "Dimension to normalise (no batch; -1 = last)")], builder=_build_softmax,
       saves=("output",))
def softmax(c: Ctx) -> Out:
    dim_index(c.p["dim"], len(c.shape))
    return Out(c.shape)
