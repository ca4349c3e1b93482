"""`DistributedContext`: the RankContext of one rank in a torch.distributed job.

It delegates what differs between strategies to the spec's Strategy object (engine/parallel/
strategy.py, one class per strategy in engine/parallel/strategies/) and answers the trainer's
questions: which samples this rank trains on (data-parallel strategies shard
each global batch the way a DistributedSampler does), how losses and metrics are summed over
ranks, the global gradient norm of sharded gradients, the full (unsharded) weights for a
checkpoint, and the control request every rank acts on (one broadcast from rank 0).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, ContextManager, Mapping

import torch
import torch.distributed as dist
from torch import nn

from engine.devices import uses_gpu
from engine.parallel import plan
from engine.parallel.strategy import strategy_of
from engine.rank import CONTROL_CODES, LossFn, RankContext

_CONTROL_NAMES = {v: k for k, v in CONTROL_CODES.items()}
#: rank 0 spaces control broadcasts about this far apart: a stop, pause or prune request is acted on
#: within about this long. Each broadcast is an extra collective (a rendezvous of all ranks, ~0.2 ms
#: of CPU on gloo): at 0.1 s apart it cost a 2-rank DDP run 3-4% per step on a loaded machine, where
#: a step takes ~0.3 s of wall-clock time and so every step paid one
CONTROL_PERIOD_S = 1.0
MAX_CONTROL_SKIP = 64


def _is_dtensor(t: torch.Tensor) -> bool:
    return type(t).__name__ == "DTensor"


class DistributedContext(RankContext):
    """One rank of a job whose process group is already initialised."""

    def __init__(self, spec, *, device: torch.device | str | None = None):
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if device is None:
            device = torch.device("cuda", local_rank) if uses_gpu(spec) else torch.device("cpu")
        super().__init__(rank=rank, world_size=world, local_rank=local_rank, device=str(device))
        self.spec = spec
        self.strategy = strategy_of(spec)
        self.torch_device = torch.device(device)
        self.runner = None  # set by a strategy whose stages run a schedule (pipeline)
        self._mesh = None
        self._skip, self._calls, self._last_check = 0, 1, None  # control broadcast spacing

    @property
    def data_parallel_size(self) -> int:
        return self.strategy.data_parallel_size(self.world_size)

    # -- model ------------------------------------------------------------------------
    @property
    def mesh(self):
        if self._mesh is None:
            from torch.distributed.device_mesh import init_device_mesh  # the mesh only for strategies that use one

            self._mesh = init_device_mesh(self.torch_device.type, (self.world_size,))
        return self._mesh

    def setup_model(self, model: nn.Module) -> nn.Module:
        return self.strategy.setup_model(self, model)

    def eval_model(self, model: nn.Module) -> nn.Module:
        return self.strategy.eval_model(model)

    def model_state_dict(self, model: nn.Module) -> Mapping[str, torch.Tensor]:
        """Full weights on rank 0 (every rank must call: it may gather)."""
        return self.strategy.model_state_dict(self, model)

    def load_model_state(self, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
        self.strategy.load_model_state(self, model, state)

    def optimizer_state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return self.strategy.optimizer_state(self, model, optimizer)

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
        self.strategy.load_optimizer_state(self, model, optimizer, state)

    def gather_to_main(self, obj: Any, *, merge: bool) -> Any:
        """Every rank's `obj` on rank 0: merged into one dict (`merge`) or as a list by rank."""
        gathered: list[Any] = [None] * self.world_size if self.is_main else None  # type: ignore[assignment]
        dist.gather_object(obj, gathered, dst=0)
        if not self.is_main:
            return {} if merge else []
        if not merge:
            return gathered
        full: dict[str, torch.Tensor] = {}
        for part in gathered:
            full.update(part)
        return full

    # -- data -------------------------------------------------------------------------
    def epoch_indices(self, n: int, epoch: int, seed: int) -> torch.Tensor:
        """Data parallel: this rank's share of one global permutation, interleaved like a
        DistributedSampler (so step s on all ranks covers exactly global batch s), cut to a
        multiple of the world size so every rank takes the same number of steps. Pipeline:
        whole batches only (every micro-batch must have the same shape)."""
        order = super().epoch_indices(n, epoch, seed)
        share = plan.rank_samples(n, self.spec.parallel.strategy, self.world_size, self.spec.data.batch_size)
        if self.strategy.data_parallel:
            return order[:share * self.world_size][self.rank::self.world_size]
        return order[:share]

    def eval_indices(self, n: int) -> torch.Tensor | None:
        if self.strategy.data_parallel:
            return torch.arange(self.rank, n, self.world_size)
        return None

    # -- one step ---------------------------------------------------------------------
    def accumulate(self, model: nn.Module, sync: bool) -> ContextManager[Any]:
        return self.strategy.accumulate(model, sync)

    def forward_backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                         autocast: Callable[[], ContextManager[Any]],
                         backward: Callable[[torch.Tensor], None]) -> torch.Tensor | None:
        if self.runner is None:
            return super().forward_backward(model, x, y, loss_fn, autocast, backward)
        with autocast():
            return self.runner.step(x, y, loss_fn)

    def forward_eval(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        if self.runner is not None:
            return self.runner.forward(x)
        return model(x)

    @property
    def batches_windows(self) -> bool:
        """A job reports each metric window at once, even of one rank: DDP's gradients are views
        into its buckets (`gradient_as_bucket_view`), which the next step overwrites."""
        return False

    def gradients(self, model: nn.Module) -> list[torch.Tensor] | None:
        """None for sharded gradients: their norm needs the other ranks' shards (grad_norm)."""
        return None if self.strategy.shards_gradients else super().gradients(model)

    def grad_norm(self, model: nn.Module) -> torch.Tensor:
        """The global gradient norm: squares of sharded (or per-stage) gradients are summed over
        ranks; replicated gradients count once."""
        if not self.strategy.shards_gradients:
            return super().grad_norm(model)
        sharded = torch.zeros((), dtype=torch.float64, device=self.torch_device)
        replicated = torch.zeros((), dtype=torch.float64, device=self.torch_device)
        for p in model.parameters():
            g = p.grad
            if g is None:
                continue
            if _is_dtensor(g):
                local = g.to_local().double().pow(2).sum()
                if any(pl.is_shard() for pl in g.placements):
                    sharded += local
                else:
                    replicated += local
            elif self.strategy.own_parameters:
                sharded += g.double().pow(2).sum()
            else:
                replicated += g.double().pow(2).sum()
        dist.all_reduce(sharded)
        return (sharded + replicated).sqrt().float()

    def clip_grad_norm(self, model: nn.Module, max_norm: float) -> torch.Tensor:
        if not self.strategy.shards_gradients:
            return super().clip_grad_norm(model, max_norm)
        norm = self.grad_norm(model)
        coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(coef.to(p.grad.device) if not _is_dtensor(p.grad) else float(coef))
        return norm

    # -- agreement --------------------------------------------------------------------
    def reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        t = values.detach().to(self.torch_device, torch.float64).clone()
        dist.all_reduce(t)
        return t.to(values.dtype).to(values.device)

    def agree_control(self, request: str) -> str:
        """Rank 0's request, agreed through one broadcast that also carries how many of the
        next calls skip the collective: rank 0 spaces the broadcasts about CONTROL_PERIOD_S
        apart (the run directory is polled no faster), so fast steps do not pay a
        synchronisation each; while paused or stopping every call is a collective."""
        if self._skip > 0:
            self._skip -= 1
            return "run"
        now = time.perf_counter()
        code, interval = CONTROL_CODES.get(request, 0), 1
        if self.is_main and code == 0 and self._last_check is not None:
            per_call = (now - self._last_check) / self._calls
            interval = max(1, min(MAX_CONTROL_SKIP, int(CONTROL_PERIOD_S / max(per_call, 1e-6))))
        t = torch.tensor([code, interval] if self.is_main else [0, 0], device=self.torch_device)
        dist.broadcast(t, 0)
        code, interval = int(t[0]), int(t[1])
        self._skip = interval - 1 if code == 0 else 0
        self._calls, self._last_check = interval, now
        return _CONTROL_NAMES[code]

    def barrier(self) -> None:
        if self.torch_device.type == "cuda":
            dist.barrier(device_ids=[self.torch_device.index])
        else:
            dist.barrier()

