"""`DistributedContext`: the RankContext of one rank in a torch.distributed job.

It applies the spec's strategy (see engine/parallel/strategies.py) to the model and answers
the trainer's questions: which samples this rank trains on (data-parallel strategies shard
each global batch the way a DistributedSampler does), how losses and metrics are summed over
ranks, the global gradient norm of sharded gradients, the full (unsharded) weights for a
checkpoint, and the control request every rank acts on (one broadcast from rank 0).
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, ContextManager, Mapping

import torch
import torch.distributed as dist
from torch import nn

from engine.parallel import plan
from engine.rank import CONTROL_CODES, LossFn, RankContext

_CONTROL_NAMES = {v: k for k, v in CONTROL_CODES.items()}
#: rank 0 spaces control broadcasts about this far apart (RunReporter polls the file every 0.1 s)
CONTROL_PERIOD_S = 0.1
MAX_CONTROL_SKIP = 64


def _is_dtensor(t: torch.Tensor) -> bool:
    return type(t).__name__ == "DTensor"


class DistributedContext(RankContext):
    """One rank of a job whose process group is already initialised."""

    def __init__(self, spec, *, device: torch.device | str | None = None):
        rank, world = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if device is None:
            device = torch.device("cuda", local_rank) if plan.uses_gpu(spec) else torch.device("cpu")
        super().__init__(rank=rank, world_size=world, local_rank=local_rank, device=str(device))
        self.spec = spec
        self.strategy = spec.parallel.strategy
        self.torch_device = torch.device(device)
        self.data_parallel = self.strategy in plan.DATA_PARALLEL_STRATEGIES
        self.runner = None  # the PipelineRunner for strategy pipeline
        self._mesh = None
        self._skip, self._calls, self._last_check = 0, 1, None  # control broadcast spacing

    @property
    def data_parallel_size(self) -> int:
        return self.world_size if self.data_parallel else 1

    # -- model ------------------------------------------------------------------------
    @property
    def mesh(self):
        if self._mesh is None:
            from torch.distributed.device_mesh import init_device_mesh

            self._mesh = init_device_mesh(self.torch_device.type, (self.world_size,))
        return self._mesh

    def setup_model(self, model: nn.Module) -> nn.Module:
        """Apply the strategy: `_setup_<strategy>` with the registry's apply function."""
        from engine.parallel.strategies import STRATEGIES

        entry = STRATEGIES.get(self.strategy)
        apply = entry.obj.load() if entry.obj.apply else None
        return getattr(self, f"_setup_{self.strategy}")(model, apply)

    def _setup_none(self, model: nn.Module, apply) -> nn.Module:
        return model.to(self.torch_device)

    def _setup_ddp(self, model: nn.Module, apply) -> nn.Module:
        return apply(model.to(self.torch_device), device=self.torch_device)

    def _setup_fsdp(self, model: nn.Module, apply) -> nn.Module:
        dtype = {"bf16": torch.bfloat16}.get(self.spec.training.precision)
        return apply(model.to(self.torch_device), mesh=self.mesh, param_dtype=dtype)

    def _setup_tensor(self, model: nn.Module, apply) -> nn.Module:
        return apply(model.to(self.torch_device), mesh=self.mesh)

    def _setup_pipeline(self, model: nn.Module, apply) -> nn.Module:
        par = self.spec.parallel
        starts = plan.stage_starts(self.spec, [sum(p.numel() for p in child.parameters()) for child in model.children()])
        self.runner = apply(model, stage=self.rank, starts=starts, device=self.torch_device,
                            microbatches=par.microbatches, schedule=par.schedule)
        return self.runner.module

    def eval_model(self, model: nn.Module) -> nn.Module:
        return getattr(model, "module", model) if self.strategy == "ddp" else model

    def _dcp_options(self, **kw):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True, **kw)

    def model_state_dict(self, model: nn.Module) -> Mapping[str, torch.Tensor]:
        """Full weights on rank 0 (every rank must call: it may gather)."""
        if self.strategy in ("fsdp", "tensor"):
            from torch.distributed.checkpoint.state_dict import get_model_state_dict

            state = get_model_state_dict(model, options=self._dcp_options())
            if getattr(model, "split_attention", ()):
                from engine.parallel.tensor import pack_attention

                state = pack_attention(state, model.split_attention)
            return state
        if self.strategy == "pipeline":
            return self._gather_stages({k: v.detach().cpu() for k, v in model.state_dict().items()}, merge=True)
        return super().model_state_dict(model)

    def load_model_state(self, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
        if self.strategy in ("fsdp", "tensor"):
            from torch.distributed.checkpoint.state_dict import set_model_state_dict

            set_model_state_dict(model, dict(state), options=self._dcp_options())
        elif self.strategy == "pipeline":
            own = model.state_dict()
            model.load_state_dict({k: state[k] for k in own})
        else:
            super().load_model_state(model, state)

    def optimizer_state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        if self.strategy in ("fsdp", "tensor"):
            from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

            return get_optimizer_state_dict(model, optimizer, options=self._dcp_options())
        if self.strategy == "pipeline":
            return {"pipeline_stages": self._gather_stages(optimizer.state_dict(), merge=False)}
        return super().optimizer_state_dict(model, optimizer)

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
        if self.strategy in ("fsdp", "tensor"):
            from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

            set_optimizer_state_dict(model, optimizer, dict(state), options=self._dcp_options())
        elif self.strategy == "pipeline":
            optimizer.load_state_dict(state["pipeline_stages"][self.rank])
        else:
            super().load_optimizer_state(model, optimizer, state)

    def _gather_stages(self, obj: Any, *, merge: bool) -> Any:
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
        share = plan.rank_samples(n, self.strategy, self.world_size, self.spec.data.batch_size)
        if self.data_parallel:
            return order[:share * self.world_size][self.rank::self.world_size]
        return order[:share]

    def eval_indices(self, n: int) -> torch.Tensor | None:
        if self.data_parallel:
            return torch.arange(self.rank, n, self.world_size)
        return None

    # -- one step ---------------------------------------------------------------------
    def accumulate(self, model: nn.Module, sync: bool) -> ContextManager[Any]:
        if self.strategy == "ddp" and not sync:
            return model.no_sync()
        if self.strategy == "fsdp":
            model.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()

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

    def _sharded(self) -> bool:
        return self.strategy in ("fsdp", "tensor", "pipeline")

    def grad_norm(self, model: nn.Module) -> torch.Tensor:
        """The global gradient norm: squares of sharded (or per-stage) gradients are summed over
        ranks; replicated gradients count once."""
        if not self._sharded():
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
            elif self.strategy == "pipeline":
                sharded += g.double().pow(2).sum()
            else:
                replicated += g.double().pow(2).sum()
        dist.all_reduce(sharded)
        return (sharded + replicated).sqrt().float()

    def clip_grad_norm(self, model: nn.Module, max_norm: float) -> torch.Tensor:
        if not self._sharded():
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

