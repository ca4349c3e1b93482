"""The tracker: a reporter observer that hands events to the writers on a background thread."""
from __future__ import annotations

import queue
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, Mapping

from engine.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from engine.runs import RunDir
    from engine.spec import ExperimentSpec

#: writer name -> factory(spec, run) returning a writer, or None when the spec turns it off.
#: A writer has start(), event(type, fields), graph(model, example) and close(final_status, metrics).
WRITERS: Registry[Callable[["ExperimentSpec", "RunDir"], Any]] = Registry("tracking writer")
#: the largest model whose graph is written (a copy of it is traced before training)
GRAPH_MAX_PARAMS = 20_000_000
_STOP = object()


class Tracker:
    """Collects events on the training thread (a queue put) and writes them on its own thread.
    A writer that fails is dropped with one log line in the run's log.txt; training goes on."""

    def __init__(self, run: "RunDir", writers: list[Any]):
        self.run = run
        self.writers = writers
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.final: tuple[str, Mapping[str, Any]] = ("completed", {})
        # Writers start (import their library, open their files) here, on the calling thread, before
        # training: importing tensorboard (and boto3 through it) on the writer thread while the
        # training thread ran torch ops hung a run once (both threads idle, no CPU).
        self._each("start")
        self.thread = threading.Thread(target=self._work, name="netwright-tracking", daemon=True)
        self.thread.start()

    # -- the training thread ---------------------------------------------------------------
    def event(self, type: str, **fields: Any) -> None:
        if type in ("metric", "epoch"):
            self.queue.put((type, fields))
        elif type == "status" and fields.get("status") in ("completed", "stopped", "failed"):
            self.final = (fields["status"], dict(fields.get("metrics") or {}))

    def add_graph(self, model: Any, example: Any) -> None:
        """Write the model's graph now, before training, on the calling thread: an eval-mode copy is
        traced (no random numbers drawn, so training is unchanged; no tracer or warning-filter
        state shared with a running training thread)."""
        import copy

        if sum(p.numel() for p in model.parameters()) <= GRAPH_MAX_PARAMS:
            self._each("graph", copy.deepcopy(model).eval(), example)

    def close(self, timeout: float = 120.0) -> None:
        """Write what is queued, then the final record (hparams, run status); waits up to `timeout`."""
        self.queue.put(_STOP)
        self.thread.join(timeout)

    # -- the writer thread -----------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            type, fields = item
            self._each("event", type, fields)
        self._each("close", *self.final)

    def _each(self, method: str, *args: Any) -> None:
        for writer in list(self.writers):
            try:
                getattr(writer, method)(*args)
            except Exception as err:  # a tracking failure must never end the training run
                self.writers.remove(writer)
                try:
                    self.run.log(f"WARNING: {type(writer).__name__} stopped ({method}): {type(err).__name__}: {err}\n"
                                 + traceback.format_exc())
                except OSError:
                    pass


def start_tracking(spec: "ExperimentSpec", run: "RunDir") -> Tracker | None:
    """A Tracker with every writer the spec turns on, or None when there is none."""
    import engine.tracking.mlflow_writer  # noqa: F401  (registers the built-in writers)
    import engine.tracking.tensorboard_writer  # noqa: F401

    writers = [w for w in (entry.obj(spec, run) for entry in WRITERS) if w is not None]
    return Tracker(run, writers) if writers else None


def scalars(fields: Mapping[str, Any]) -> dict[str, float]:
    """The numeric fields of an event, except its position (step, epoch) and its time."""
    return {k: float(v) for k, v in fields.items()
            if k not in ("step", "epoch", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)}


def hparams(spec: "ExperimentSpec") -> dict[str, Any]:
    """The spec as flat hyper-parameters (section.key -> number/string/bool); the layer stack as
    its length and its types."""
    out: dict[str, Any] = {"seed": spec.seed}
    for section, table in spec.to_dict().items():
        if not isinstance(table, dict):
            continue
        if section == "model":
            layers = table.get("layers", [])
            out["model.layers"] = len(layers)
            out["model.types"] = ",".join(str(layer.get("type")) for layer in layers)
            continue
        for key, value in table.items():
            if isinstance(value, (int, float, str, bool)):
                out[f"{section}.{key}"] = value
    return out
