"""The seam for parallelism: what the training loop asks of "the rank it runs on".

The trainer (engine/trainer.py) never talks to torch.distributed. It calls these methods, in
this order, and a distributed strategy overrides the ones it needs:

- ``setup_model(model)`` once: move to the device and wrap (DDP, FSDP, tensor or pipeline stage);
  the optimizer is built over the *returned* module's parameters.
- ``epoch_indices(n, epoch, seed)`` per epoch: this rank's training sample order (DDP shards it,
  as a distributed sampler does); ``eval_indices(n)``: this rank's share of the validation set.
- ``accumulate(model, sync)`` around each micro-batch (DDP skips the gradient all-reduce while
  accumulating); ``forward_backward(...)`` runs one micro-batch (pipeline parallel replaces it:
  only its last stage has the loss, so it returns None elsewhere).
- ``grad_norm`` / ``clip_grad_norm`` (sharded gradients need a global norm).
- ``forward_eval(model, x)`` for validation (None on ranks without the output).
- ``reduce_sum(values)`` sums a 1-D float tensor of metric sums over ranks (one collective).
- ``agree_control(request)``: rank 0's stop/pause/run request, agreed by all ranks through one
  collective; called every ``control_every`` optimizer steps.
- ``model_state_dict(model)`` / ``load_model_state(model, state)``: the full, unsharded weights
  (checkpoints load anywhere); ``optimizer_state_dict`` / ``load_optimizer_state`` likewise.

`LocalContext` is the single-process implementation used by default.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Mapping

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
CONTROL_CODES = {"run": 0, "pause": 1, "stop": 2, "prune": 3}  # prune: a sweep stops a bad trial


class RankContext:
    """Base class: one process that sees the whole model and data (override for parallel)."""

    #: how often (in optimizer steps) the loop asks for a control request; a distributed context
    #: may raise it to spend fewer collectives
    control_every: int = 1

    def __init__(self, *, rank: int = 0, world_size: int = 1, local_rank: int = 0, device: str | None = None):
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank
        self.device = device  # None: the trainer resolves training.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes events, status and checkpoints."""
        return self.rank == 0

    @property
    def data_parallel_size(self) -> int:
        """Ranks that each see different samples (world_size for DDP/FSDP; 1 for tensor and
        pipeline parallel, where all ranks work on the same batch)."""
        return self.world_size

    # -- model ------------------------------------------------------------------------
    def setup_model(self, model: "nn.Module") -> "nn.Module":
        return model.to(self.device)

    def eval_model(self, model: "nn.Module") -> "nn.Module":
        """The module used for validation (e.g. DDP's inner module)."""
        return model

    def model_state_dict(self, model: "nn.Module") -> Mapping[str, "torch.Tensor"]:
        return self.eval_model(model).state_dict()

    def load_model_state(self, model: "nn.Module", state: Mapping[str, "torch.Tensor"]) -> None:
        self.eval_model(model).load_state_dict(dict(state))

    def optimizer_state_dict(self, model: "nn.Module", optimizer: "torch.optim.Optimizer") -> dict[str, Any]:
        return optimizer.state_dict()

    def load_optimizer_state(self, model: "nn.Module", optimizer: "torch.optim.Optimizer", state: Mapping[str, Any]) -> None:
        optimizer.load_state_dict(dict(state))

    # -- data -------------------------------------------------------------------------
    def epoch_indices(self, n: int, epoch: int, seed: int) -> "torch.Tensor":
        """The training sample order of `epoch`: a permutation seeded by (seed, epoch), so any
        epoch can be regenerated on resume without saved sampler state."""
        import torch

        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator)

    def eval_indices(self, n: int) -> "torch.Tensor | None":
        """This rank's validation samples (None = all of them, in order)."""
        return None

    # -- one step ---------------------------------------------------------------------
    def accumulate(self, model: "nn.Module", sync: bool) -> ContextManager[Any]:
        """Context around one micro-batch; `sync` is False while gradients keep accumulating."""
        return contextlib.nullcontext()

    def forward_backward(self, model: "nn.Module", x: "torch.Tensor", y: "torch.Tensor", loss_fn: LossFn,
                         autocast: Callable[[], ContextManager[Any]],
                         backward: Callable[["torch.Tensor"], None]) -> "torch.Tensor | None":
        """Forward one micro-batch under `autocast`, compute `loss_fn(out, y)` and call
        `backward(loss)` (which scales it). Returns the detached loss, or None on ranks
        that do not compute it."""
        with autocast():
            loss = loss_fn(model(x), y)
        backward(loss)
        return loss.detach()

    def forward_eval(self, model: "nn.Module", x: "torch.Tensor") -> "torch.Tensor | None":
        return model(x)

    def grad_norm(self, model: "nn.Module") -> "torch.Tensor":
        """The global L2 norm of the gradients (as a tensor: no host sync)."""
        return norm_of(self.gradients(model))

    def gradients(self, model: "nn.Module") -> "list[torch.Tensor] | None":
        """This rank's gradients, whose `norm_of` is :meth:`grad_norm`: the loop may keep them
        and take the norm later. None where the norm needs more than them (a distributed
        context's sharded gradients)."""
        cached = getattr(self, "_norm_params", None)
        if cached is None or cached[0] is not model:
            cached = self._norm_params = (model, list(model.parameters()))
        return [p.grad for p in cached[1] if p.grad is not None]

    def clip_grad_norm(self, model: "nn.Module", max_norm: float) -> "torch.Tensor":
        import torch

        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

    # -- agreement --------------------------------------------------------------------
    @property
    def batches_windows(self) -> bool:
        """Whether the loop may close several metric windows before turning them into numbers in
        one batch: no collective is waiting on each window (one rank)."""
        return self.world_size == 1

    def reduce_sum(self, values: "torch.Tensor") -> "torch.Tensor":
        """Sum a 1-D tensor over ranks (identity in one process)."""
        return values

    def agree_control(self, request: str) -> str:
        """All ranks act on the same request ("run", "pause" or "stop"): rank 0's."""
        return request

    def barrier(self) -> None:
        """Wait for every rank (no-op in one process)."""


def norm_of(gradients: "list[torch.Tensor]") -> "torch.Tensor":
    """The L2 norm of a list of gradients, as a tensor (0 for none)."""
    import torch

    if not gradients:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(gradients)))


class LocalContext(RankContext):
    """A single process on one device: every hook is the plain PyTorch call."""
