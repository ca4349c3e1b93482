"""Parallel training: one Strategy class per strategy (strategy.py, strategies/), planning (plan,
memory, summary), one torch `apply_*` per strategy (ddp, fsdp, tensor, pipeline) and the
distributed RankContext (context), which delegates to the strategy object."""
