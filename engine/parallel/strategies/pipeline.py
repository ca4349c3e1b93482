"""Strategy `pipeline`: each rank holds a contiguous stage of layers (engine.parallel.pipeline)."""
from __future__ import annotations

from engine.parallel import plan
from engine.parallel.strategy import LAUNCH_FIELDS, LayoutDetails, MemorySplit, StageInfo, Strategy, register
from engine.problems import Problem


@register
class Pipeline(Strategy):
    name = "pipeline"
    description = "Pipeline parallel: each rank holds a contiguous stage of layers; batches flow through in micro-batches."
    fields = (*LAUNCH_FIELDS[:-1], "microbatches", "schedule", "stages", LAUNCH_FIELDS[-1])
    allows_l1 = False
    shards_gradients = True
    own_parameters = True
    splits_batch_statistics = True

    def rank_samples(self, n_train, world_size, batch_size):
        """Whole batches only (every micro-batch must have the same shape): the last partial batch is dropped."""
        return n_train - n_train % batch_size

    def check(self, spec, rows):
        par, problems = spec.parallel, []
        if spec.training.precision == "fp16":
            problems.append(Problem("training.precision", "fp16 needs a gradient scaler, which the pipeline schedules do not run — use bf16 or fp32"))
        k, m, b = plan.world_size(spec), par.microbatches, spec.data.batch_size
        if b % m:
            lower, upper = b - b % m, b - b % m + m
            problems.append(Problem("parallel.microbatches", f"{m} micro-batches do not divide data.batch_size = {b}; every micro-batch "
                                                             f"must have the same size — use batch_size {lower or upper} or {upper}, "
                                                             f"or a number of micro-batches that divides {b}"))
        if par.schedule == "1f1b" and m < k:
            problems.append(Problem("parallel.microbatches", f"the 1f1b schedule needs at least as many micro-batches as stages: "
                                                             f"{m} < {k} stages — raise microbatches to {k} or use schedule gpipe"))
        if spec.training.compile:
            problems.append(Problem("training.compile", "torch.compile is not applied to pipeline stages — set it to false"))
        if spec.training.grad_accumulation > 1:
            problems.append(Problem("training.grad_accumulation", f"is {spec.training.grad_accumulation}, but a pipeline already "
                                                                  "accumulates over its micro-batches — set it to 1 and raise "
                                                                  "parallel.microbatches instead"))
        if rows is None:
            return problems
        if k > len(rows):
            problems.append(Problem("parallel.processes", f"a pipeline of {k} stages ({par.processes} processes x {par.nnodes} nodes) "
                                                          f"needs at least {k} layers, but the model has {len(rows)} — "
                                                          f"use at most {len(rows)} processes"))
        elif par.stages:
            problems += plan.check_stages(par.stages, len(spec.model.layers), k)
        return problems

    def memory_layout(self, spec, rows):
        starts = plan.stage_starts(spec, [r.params for r in rows]) if plan.world_size(spec) <= len(rows) else []
        return {"stage_starts": starts, "microbatches": spec.parallel.microbatches, "schedule": spec.parallel.schedule}

    def memory_split(self, params, acts, *, ranks, slots, stage_starts=(), microbatches=1, schedule="gpipe", **layout):
        if not stage_starts:
            return super().memory_split(params, acts, ranks=ranks, slots=slots)
        bounds = [*stage_starts, len(params)]
        totals = []
        for s in range(len(stage_starts)):
            lo, hi = bounds[s], bounds[s + 1]
            p = sum(params[lo:hi])
            # micro-batches whose activations a stage holds at once: all (GPipe) or those in flight (1F1B)
            in_flight = microbatches if schedule == "gpipe" else min(microbatches, len(stage_starts) - s)
            totals.append((p, p, p * slots, sum(acts[lo:hi]) * in_flight // max(1, microbatches)))
        worst = max(totals, key=sum)
        return MemorySplit(*worst, stages=tuple(sum(t) for t in totals))

    def layout_details(self, spec, rows, problems):
        if plan.world_size(spec) > len(rows) or any(p.path == "parallel.stages" for p in problems):
            return LayoutDetails()
        starts = plan.stage_starts(spec, [r.params for r in rows])
        bounds = [*starts, len(rows)]
        stages = []
        for s in range(len(starts)):
            part = rows[bounds[s]:bounds[s + 1]]
            stages.append(StageInfo(s, bounds[s], bounds[s + 1] - 1, tuple(r.label for r in part), sum(r.params for r in part)))
        return LayoutDetails(stages=tuple(stages), bubble=plan.bubble_fraction(len(starts), spec.parallel.microbatches))

    def setup_model(self, ctx, model):
        from engine.parallel.pipeline import apply_pipeline  # torch: only a rank builds its stage

        par = ctx.spec.parallel
        starts = plan.stage_starts(ctx.spec, [sum(p.numel() for p in child.parameters()) for child in model.children()])
        ctx.runner = apply_pipeline(model, stage=ctx.rank, starts=starts, device=ctx.torch_device,
                                    microbatches=par.microbatches, schedule=par.schedule)
        return ctx.runner.module

    def model_state_dict(self, ctx, model):
        return ctx.gather_to_main({k: v.detach().cpu() for k, v in model.state_dict().items()}, merge=True)

    def load_model_state(self, ctx, model, state):
        own = model.state_dict()
        model.load_state_dict({k: state[k] for k in own})

    def optimizer_state(self, ctx, model, optimizer):
        return {"pipeline_stages": ctx.gather_to_main(optimizer.state_dict(), merge=False)}

    def load_optimizer_state(self, ctx, model, optimizer, state):
        optimizer.load_state_dict(state["pipeline_stages"][ctx.rank])
