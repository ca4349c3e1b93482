"""The Strategy contract: one class per way of spreading training over ranks.

A strategy answers two kinds of questions, as Lightning's Strategy classes do:

- planning (pure, torch-free: the GUI validates on every edit): which [parallel] fields matter,
  what is wrong with a spec (:meth:`Strategy.check`), how many samples one rank trains on, how
  the per-device memory splits, and what `plan` shows about the layout;
- one rank (imports torch when called): how the model is wrapped, how the full weights and the
  optimizer state are gathered and loaded, how micro-batches accumulate, and whether gradients
  are sharded. `engine.parallel.context.DistributedContext` delegates to it.

A new strategy is one class in one file: subclass :class:`Strategy`, set `name` and
`description`, override what differs and decorate the class with :func:`register`. The GUI's
choice list, `validate`, `plan` and the worker then know it. The built-in strategies live in
engine/parallel/strategies/.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, ContextManager, Mapping, Sequence

from engine.problems import Problem
from engine.spec import STRATEGIES

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from engine.parallel.context import DistributedContext

#: the [parallel] fields every multi-rank strategy uses (the Train page shows these)
LAUNCH_FIELDS = ("processes", "nnodes", "node_rank", "rdzv_endpoint", "backend", "max_restarts")


@dataclass(frozen=True)
class MemorySplit:
    """Bytes per device in four parts; `stages` holds the per-stage totals of a pipeline."""

    params: int
    grads: int
    optimizer: int
    activations: int
    stages: tuple[int, ...] = ()


@dataclass(frozen=True)
class StageInfo:
    """One pipeline stage: its rank, the layers (labels) it holds and their parameters."""

    rank: int
    first: int
    last: int
    labels: tuple[str, ...]
    params: int


@dataclass(frozen=True)
class LayoutDetails:
    """What `plan` shows beyond the common layout: pipeline stages and bubble, tensor splits."""

    stages: tuple[StageInfo, ...] = ()
    bubble: float | None = None
    tensor_split: tuple[str, ...] = ()


class Strategy:
    """The default behaviour: every rank holds the whole model and sees every sample."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: the [parallel] fields that matter for this strategy
    fields: ClassVar[tuple[str, ...]] = LAUNCH_FIELDS
    #: ranks split each batch (DDP, FSDP): the global batch is the per-rank batch times the ranks
    data_parallel: ClassVar[bool] = False
    #: runs as ranks under the launcher (False only for a single plain process)
    multi_rank: ClassVar[bool] = True
    #: gradients differ between ranks (sharded or per-stage): the global norm sums over ranks
    shards_gradients: ClassVar[bool] = False
    #: each rank holds parameters of its own (pipeline stages): plain gradients count once per rank
    own_parameters: ClassVar[bool] = False
    #: layer kinds with batch statistics (BatchNorm) change their result under this strategy
    splits_batch_statistics: ClassVar[bool] = False
    #: regularization.l1 works (False where the penalty would need the sharded weights)
    allows_l1: ClassVar[bool] = True

    # -- planning (pure) ---------------------------------------------------------------
    def check(self, spec, rows: Sequence | None) -> list[Problem]:
        """Problems this strategy has with `spec`. `rows` are the enabled top-level rows of the
        model's shape report, or None when the model or data has problems of its own."""
        return []

    def data_parallel_size(self, world_size: int) -> int:
        """How many ranks split each global batch."""
        return world_size if self.data_parallel else 1

    def rank_samples(self, n_train: int, world_size: int, batch_size: int) -> int:
        """Training samples one rank sees per epoch. Data parallel: the epoch is cut to a multiple
        of the world size and split evenly (floor), so every rank takes the same number of steps."""
        return n_train // world_size if self.data_parallel else n_train

    def memory_layout(self, spec, rows: Sequence) -> dict[str, Any]:
        """Strategy-specific inputs of :meth:`memory_split` for `spec` (e.g. stage starts)."""
        return {}

    def memory_split(self, params: Sequence[int], acts: Sequence[int], *, ranks: int, slots: int,
                     **layout: Any) -> MemorySplit:
        """Per-device bytes from each layer's parameter and activation bytes (whole model)."""
        p = sum(params)
        return MemorySplit(p, p, p * slots, sum(acts))

    def layout_details(self, spec, rows: Sequence, problems: Sequence[Problem]) -> LayoutDetails:
        """What `plan` shows about this strategy's layout of the model."""
        return LayoutDetails()

    # -- one rank (torch) --------------------------------------------------------------
    def setup_model(self, ctx: "DistributedContext", model: "nn.Module") -> "nn.Module":
        """Move `model` to the rank's device and wrap it; the optimizer is built over the result."""
        return model.to(ctx.torch_device)

    def eval_model(self, model: "nn.Module") -> "nn.Module":
        """The module used for validation and plain state dicts."""
        return model

    def model_state_dict(self, ctx: "DistributedContext", model: "nn.Module") -> Mapping[str, "torch.Tensor"]:
        """The full weights on rank 0 (every rank calls it: it may gather)."""
        return self.eval_model(model).state_dict()

    def load_model_state(self, ctx: "DistributedContext", model: "nn.Module", state: Mapping[str, "torch.Tensor"]) -> None:
        self.eval_model(model).load_state_dict(dict(state))

    def optimizer_state(self, ctx: "DistributedContext", model: "nn.Module", optimizer: "torch.optim.Optimizer") -> dict[str, Any]:
        """The optimizer state a checkpoint keeps (every rank calls it: it may gather)."""
        return optimizer.state_dict()

    def load_optimizer_state(self, ctx: "DistributedContext", model: "nn.Module", optimizer: "torch.optim.Optimizer",
                             state: Mapping[str, Any]) -> None:
        optimizer.load_state_dict(dict(state))

    def accumulate(self, model: "nn.Module", sync: bool) -> ContextManager[Any]:
        """Context around one micro-batch; `sync` is False while gradients keep accumulating."""
        return contextlib.nullcontext()


class DTensorStrategy(Strategy):
    """Strategies whose parameters are DTensors (FSDP, tensor parallel): full weights and optimizer
    state go through torch.distributed.checkpoint's state-dict helpers."""

    shards_gradients = True

    @staticmethod
    def _options(**kw):
        from torch.distributed.checkpoint.state_dict import StateDictOptions  # torch only in a rank (planning stays torch-free)

        return StateDictOptions(full_state_dict=True, cpu_offload=True, **kw)

    def model_state_dict(self, ctx, model):
        from torch.distributed.checkpoint.state_dict import get_model_state_dict  # torch only in a rank (planning stays torch-free)

        return get_model_state_dict(model, options=self._options())

    def load_model_state(self, ctx, model, state):
        from torch.distributed.checkpoint.state_dict import set_model_state_dict  # torch only in a rank (planning stays torch-free)

        set_model_state_dict(model, dict(state), options=self._options())

    def optimizer_state(self, ctx, model, optimizer):
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict  # torch only in a rank (planning stays torch-free)

        return get_optimizer_state_dict(model, optimizer, options=self._options())

    def load_optimizer_state(self, ctx, model, optimizer, state):
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict  # torch only in a rank (planning stays torch-free)

        set_optimizer_state_dict(model, optimizer, dict(state), options=self._options())


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add one instance of `cls` to STRATEGIES under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    STRATEGIES.add(cls.name, cls(), description=cls.description, fields=cls.fields)
    return cls


def strategy_of(spec) -> Strategy:
    """The Strategy object of `spec.parallel.strategy` (raises UnknownName with a suggestion)."""
    return STRATEGIES.get(spec.parallel.strategy).obj


def known(spec) -> bool:
    """Whether the spec names a registered strategy."""
    return spec.parallel.strategy in STRATEGIES
