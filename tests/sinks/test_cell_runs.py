"""What the MLflow UI shows of a run's cells: each cell run lasts as long as its study (one
after the other, not all from the benchmark's start), each input is badged with the split the
images came from, each cell's model is named after the cell; and the progress line's seconds."""

import pytest
from mlflow.tracking import MlflowClient

from clustering.cli import main
from clustering.sinks.progress import wall_seconds
from clustering.tracking import ROLE_TAG

CLUSTERERS = ["kmeans", "gmm"]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    """raw x none x kmeans, then raw x none x gmm, 2 trials each, on 200 of all digits."""
    folder = tmp_path_factory.mktemp("cell_runs")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    args = ["--quiet", "run", "--split", "all", "--limit", "200", "--trials", "2"]
    args += ["--extractors", "raw", "--reducers", "none", "--clusterers", ",".join(CLUSTERERS)]
    args += ["--tracking-uri", uri, "--storage", f"sqlite:///{folder / 'optuna.db'}"]
    assert main([*args, "--cache-dir", str(folder / "cache")]) == 0
    return MlflowClient(tracking_uri=uri)


def runs(client: MlflowClient, role: str) -> list:
    experiment = client.get_experiment_by_name("digits")
    query = f"tags.`{ROLE_TAG}` = '{role}'"
    return client.search_runs([experiment.experiment_id], query, order_by=["start_time ASC"])


@pytest.mark.slow
def test_each_cell_run_starts_when_its_study_starts_and_ends_when_it_ends(client):
    first, second = runs(client, "cell")
    assert [run.data.tags["clusterer"] for run in (first, second)] == CLUSTERERS
    assert first.info.end_time <= second.info.start_time
    for cell in (first, second):
        trials = [
            run
            for run in runs(client, "trial")
            if run.data.tags["mlflow.parentRunId"] == cell.info.run_id
        ]
        assert len(trials) == 2
        assert cell.info.start_time <= min(run.info.start_time for run in trials)
        assert cell.info.end_time >= max(run.info.end_time for run in trials)


@pytest.mark.slow
def test_every_input_carries_the_split_as_its_context(client):
    for run in runs(client, "cell") + runs(client, "trial"):
        (entry,) = run.inputs.dataset_inputs
        tags = {tag.key: tag.value for tag in entry.tags}
        assert tags["mlflow.data.context"] == "all" == tags["split"]


@pytest.mark.slow
def test_each_cell_run_is_named_and_its_model_called_after_the_cell(client):
    cells = runs(client, "cell")
    assert [run.info.run_name for run in cells] == [f"raw-none-{name}" for name in CLUSTERERS]
    experiment = client.get_experiment_by_name("digits")
    models = client.search_logged_models([experiment.experiment_id])
    by_run = {model.source_run_id: model.name for model in models}
    assert by_run == {run.info.run_id: run.info.run_name for run in cells}


def test_a_trial_s_wall_time_leaves_out_the_training_the_cache_saved():
    scores = {"fit_seconds": 38.2, "cache_seconds_saved": 32.2, "metric_seconds": 0.5}
    assert wall_seconds(scores) == pytest.approx(6.5)
