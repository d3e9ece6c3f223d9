"""A real MLflow store holding cell and trial runs tagged as `clustering-bench run` tags them,
written directly with MlflowClient (no training, a second or two): for the report's tests."""

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from clustering.metrics import METRICS
from clustering.tracking import ROLE_TAG


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
) -> str:
    """One cell run with `trials` complete trial runs nested under it (trial i scores
    seed + i / 10, k = 10 + i) and the best one's metrics copied onto it; returns its id."""
    parts = [extractor, *([reducer] if reducer else []), clusterer]
    tags = {
        ROLE_TAG: "cell",
        MLFLOW_RUN_NAME: " x ".join(parts),
        "dataset": dataset,
        "extractor": extractor,
        "clusterer": clusterer,
        "objective": objective,
    }
    if reducer:
        tags["reducer"] = reducer
    cell = client.create_run(experiment_id, tags=tags).info.run_id
    for number in range(trials):
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
        client.log_param(trial, "n_clusters", str(10 + number))
        for name, value in scores(seed + number / 10).items():
            client.log_metric(trial, name, value)
        client.set_terminated(trial)
    best = scores(seed + (trials - 1) / 10)
    for name in METRICS.columns():
        client.log_metric(cell, name, best[name])
    client.log_metric(cell, "trials_complete", trials)
    client.log_metric(cell, "best_trial_number", trials - 1)
    client.set_tag(cell, "best.n_clusters", str(10 + trials - 1))
    client.set_terminated(cell)
    return cell


def store(folder, cells: list[dict], experiment: str = "digits") -> str:
    """A SQLite MLflow store in `folder` holding `cells` (log_cell keyword arguments, logged in
    order, so later ones are newer); returns its tracking URI."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(experiment, artifact_location=str(folder / "mlruns"))
    for cell in cells:
        log_cell(client, experiment_id, **cell)
    return uri
