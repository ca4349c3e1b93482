"""Parallel training: planning (plan, memory, summary), the strategy registry, one `apply_*`
per strategy (ddp, fsdp, tensor, pipeline) and the distributed RankContext (context)."""
