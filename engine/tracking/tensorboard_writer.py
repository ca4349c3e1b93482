"""TensorBoard: RUN_DIR/tensorboard/ holds event files (`tensorboard --logdir RUNS_FOLDER` shows every
run). Scalars: each metric event's numbers as `metric/<name>` (train_loss, lr, grad_norm, ...) and
each epoch event's as `epoch/<name>` (val_loss, val_accuracy, ...), at the event's step; the model
graph where it traces; the spec as hyper-parameters with the final metrics (`add_hparams`)."""
from __future__ import annotations

import warnings
from typing import Any, Mapping

from engine.tracking.tracker import WRITERS, hparams, scalars


class TensorBoardWriter:
    def __init__(self, spec: Any, run: Any):
        self.spec, self.run = spec, run
        self.writer: Any = None

    def start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.run.tensorboard))

    def event(self, type: str, fields: Mapping[str, Any]) -> None:
        step = int(fields.get("step", 0))
        for name, value in scalars(fields).items():
            self.writer.add_scalar(f"{type}/{name}", value, step)

    def graph(self, model: Any, example: Any) -> None:
        with warnings.catch_warnings():  # tracer warnings about shapes the graph does not need
            warnings.simplefilter("ignore")
            try:
                self.writer.add_graph(model, example)
            except Exception as err:  # a model that does not trace still gets its scalars
                self.run.log(f"INFO: TensorBoard graph not written (the model does not trace: {type(err).__name__})")

    def close(self, status: str, metrics: Mapping[str, Any]) -> None:
        final = {f"hparam/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if final:
            self.writer.add_hparams(hparams(self.spec), final, run_name=".")
        self.writer.close()


def _make(spec: Any, run: Any) -> TensorBoardWriter | None:
    return TensorBoardWriter(spec, run) if spec.tracking.tensorboard else None


WRITERS.add("tensorboard", _make, description="TensorBoard event files in RUN_DIR/tensorboard")
