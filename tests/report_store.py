"""A real MLflow store holding cell and trial runs tagged as `clustering-bench run` tags them,
written directly with MlflowClient (no training, a second or two): for the report's tests."""

import time

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from clustering.metrics import METRICS
from clustering.tracking import ROLE_TAG, Tracker


def scores(seed: float) -> dict:
    """A value for every registered metric, different per seed."""
    return {name: round(0.1 + seed + index / 100, 4) for index, name in enumerate(METRICS.names())}


def log_cell(
    client: MlflowClient,
    experiment_id: str,
    *,
    extractor: str = "raw",
    clusterer: str = "kmeans",
    reducer: str | None = None,
    dataset: str = "digits",
    trials: int = 2,
    seed: float = 0.0,
    objective: str = "asc",
    trial_scores: list[dict] | None = None,
    cell_tags: dict | None = None,
    trial_labels: list | None = None,
) -> str:
    """One cell run with `trials` complete trial runs nested under it (trial i scores
    seed + i / 10, k = 10 + i, overridden by `trial_scores[i]` when given: one dict of metrics
    per trial, their count the trials) and the last one's metrics copied onto it as its best;
    `cell_tags` are added to the cell run's (pareto_trials, ...); trial i keeps
    `trial_labels[i]` (cluster labels (n,)) as its labels artifact when given; returns its id."""
    trials = len(trial_scores) if trial_scores is not None else trials
    parts = [extractor, *([reducer] if reducer else []), clusterer]
    tags = {
        ROLE_TAG: "cell",
        MLFLOW_RUN_NAME: " x ".join(parts),
        "dataset": dataset,
        "extractor": extractor,
        "clusterer": clusterer,
        "objective": objective,
        **(cell_tags or {}),
    }
    if reducer:
        tags["reducer"] = reducer
    cell = client.create_run(experiment_id, tags=tags).info.run_id
    for number in range(trials):
        logged = scores(seed + number / 10)
        logged.update(trial_scores[number] if trial_scores is not None else {})
        trial = log_trial(client, experiment_id, cell, number, logged)
        if trial_labels is not None:
            Tracker(client.tracking_uri).log_labels(trial, trial_labels[number])
    best = scores(seed + (trials - 1) / 10)
    best.update(trial_scores[-1] if trial_scores else {})
    for name in METRICS.columns():
        client.log_metric(cell, name, best[name])
    client.log_metric(cell, "trials_complete", trials)
    client.log_metric(cell, "best_trial_number", trials - 1)
    client.set_tag(cell, "best.n_clusters", str(10 + trials - 1))
    client.set_terminated(cell)
    return cell


def log_trial(client: MlflowClient, experiment_id: str, cell: str, number: int, metrics: dict):
    """Trial `number` of the cell run `cell`: complete, k = 10 + number, scoring `metrics`;
    returns its id."""
    trial = client.create_run(
        experiment_id,
        tags={
            ROLE_TAG: "trial",
            MLFLOW_PARENT_RUN_ID: cell,
            MLFLOW_RUN_NAME: f"trial-{number}",
            "optuna.trial_number": str(number),
            "optuna.state": "COMPLETE",
        },
    ).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        trial,
        metrics=[Metric(name, value, now, 0) for name, value in metrics.items()],
        params=[Param("n_clusters", str(10 + number))],
    )
    client.set_terminated(trial)
    return trial


def store(folder, cells: list[dict], experiment: str = "digits", artifacts=None) -> str:
    """A SQLite MLflow store in `folder` holding `cells` (log_cell keyword arguments, logged in
    order, so later ones are newer), its artifacts under `artifacts` (default folder/mlruns);
    returns its tracking URI."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    location = str(artifacts or folder / "mlruns")
    experiment_id = client.create_experiment(experiment, artifact_location=location)
    for cell in cells:
        log_cell(client, experiment_id, **cell)
    return uri
