"""MLflow (`pip install 'netwright[mlflow]'`; `[tracking] mlflow_uri = "file:/path/mlruns"` or a server's
URL): one MLflow run per Netwright run, with the spec as params, every metric and epoch event as
metrics at its step, spec.toml and the final weights as artifacts, and the run's end status.
The MLflow run id is kept in RUN_DIR/tracking.json, so `netwright export` adds each exported model
to the same MLflow run (`log_export`)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

from engine.atomic import atomic_write_text
from engine.tracking.tracker import WRITERS, hparams, scalars

_STATUS = {"completed": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}


def client(uri: str) -> Any:
    """An MlflowClient for `uri`. A file: store is what the user asked for, so MLflow 3's refusal of
    the (maintenance-mode) file store is lifted for it."""
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


class MLflowWriter:
    def __init__(self, spec: Any, run: Any):
        self.spec, self.run = spec, run
        self.uri = spec.tracking.mlflow_uri
        self.client: Any = None
        self.run_id = ""

    def start(self) -> None:
        from mlflow.entities import Param

        self.client = client(self.uri)
        name = self.spec.tracking.mlflow_experiment or self.spec.name
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        previous = read_record(self.run.path)
        if previous.get("mlflow_uri") == self.uri and previous.get("mlflow_run_id"):  # a resumed run continues
            self.run_id = previous["mlflow_run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        created = self.client.create_run(experiment_id, run_name=self.run.id,
                                         tags={"netwright.run_dir": str(self.run.path)})
        self.run_id = created.info.run_id
        atomic_write_text(self.run.tracking_record, json.dumps({"mlflow_uri": self.uri, "mlflow_run_id": self.run_id,
                                                              "mlflow_experiment_id": experiment_id}) + "\n")
        params = [Param(k, str(v)[:6000]) for k, v in hparams(self.spec).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def event(self, type: str, fields: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        step, now = int(fields.get("step", 0)), int(time.time() * 1000)
        metrics = [Metric(f"{type}/{name}", value, now, step) for name, value in scalars(fields).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def graph(self, model: Any, example: Any) -> None:
        """MLflow keeps no graphs; the model goes in as its weights at the end."""

    def close(self, status: str, metrics: Mapping[str, Any]) -> None:
        self.client.log_artifact(self.run_id, str(self.run.spec_path), "model")
        from engine.checkpoint import weights_path

        weights = weights_path(self.run.path)
        if weights is not None:
            self.client.log_artifact(self.run_id, str(weights), "model")
        self.client.set_terminated(self.run_id, _STATUS.get(status, "FINISHED"))


def read_record(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/tracking.json ({} when the run has none)."""
    from engine.runs import RunDir

    try:
        data = json.loads(RunDir(Path(run_dir)).tracking_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def log_export(run_dir: Path, path: Path, fmt: str) -> str | None:
    """Add an exported file or folder to the run's MLflow run (artifact path `exports/<format>`).
    Returns the MLflow run id, or None when the run is not tracked in MLflow."""
    record = read_record(run_dir)
    if not record.get("mlflow_run_id"):
        return None
    mlflow = client(record["mlflow_uri"])
    if path.is_dir():
        mlflow.log_artifacts(record["mlflow_run_id"], str(path), f"exports/{fmt}")
    else:
        mlflow.log_artifact(record["mlflow_run_id"], str(path), f"exports/{fmt}")
    return record["mlflow_run_id"]


def _make(spec: Any, run: Any) -> MLflowWriter | None:
    return MLflowWriter(spec, run) if spec.tracking.mlflow_uri else None


WRITERS.add("mlflow", _make, description="MLflow run: params, metrics per step, artifacts ([tracking] mlflow_uri)")
