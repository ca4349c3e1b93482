"""Experiment tracking: every run also writes TensorBoard event files, and MLflow when configured.

Writers read the run's event stream (the reporter's events, rank 0 only) through a queue and
write on their own thread, so a training step never waits for them: the loop's cost is one
`queue.put` per reported event (every `training.log_every` steps). `start_tracking` returns None
when `[tracking]` turns every writer off.
"""
from engine.tracking.tracker import WRITERS, Tracker, start_tracking

__all__ = ["WRITERS", "Tracker", "start_tracking"]
