"""`run --repeats N`: the best configuration re-run with N seeds, each a run nested under the
cell run, and the cell run's mean, std, min and max equal to NumPy's on the repeats' values."""

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clustering.cli import main
from clustering.tracking import (
    EMBEDDING_CACHE_TAG,
    REPEAT_REUSED_TAG,
    REPEAT_ROLE,
    REPEAT_SEED_TAG,
    REPEAT_STAGES_TAG,
    ROLE_TAG,
)

pytestmark = pytest.mark.slow


def test_repeats_are_nested_runs_whose_spread_the_cell_run_carries(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["--quiet", "run", "--limit", "120", "--extractors", "raw", "--reducers", "pca"]
    args += ["--clusterers", "kmeans", "--trials", "2", "--repeats", "3", "--seed", "4"]
    args += ["--tracking-uri", store, "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (cell,) = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = 'cell'")
    repeats = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = '{REPEAT_ROLE}'")
    assert sorted(int(run.data.tags[REPEAT_SEED_TAG]) for run in repeats) == [4, 5, 6]
    assert {run.data.tags["mlflow.parentRunId"] for run in repeats} == {cell.info.run_id}
    assert all(run.info.status == "FINISHED" for run in repeats)
    for name in ("hungarian_accuracy", "nmi", "asc"):
        values = np.array([run.data.metrics[name] for run in repeats])
        assert cell.data.metrics[f"{name}_mean"] == pytest.approx(values.mean())
        assert cell.data.metrics[f"{name}_std"] == pytest.approx(values.std())
        assert cell.data.metrics[f"{name}_min"] == values.min()
        assert cell.data.metrics[f"{name}_max"] == values.max()
    assert cell.data.metrics["repeats"] == 3
    # the repeat with the study's own seed is the best trial: its scores, timings included (a
    # re-fit would measure other seconds), and no other repeat is tagged so
    (same,) = [run for run in repeats if run.data.tags[REPEAT_SEED_TAG] == "4"]
    best = str(int(cell.data.metrics["best_trial_number"]))
    assert same.data.tags[REPEAT_REUSED_TAG] == best
    assert all(REPEAT_REUSED_TAG not in run.data.tags for run in repeats if run is not same)
    (trial,) = client.search_runs(
        experiments, f"tags.`{ROLE_TAG}` = 'trial' and tags.`optuna.trial_number` = '{best}'"
    )
    for name in ("hungarian_accuracy", "asc", "stability", "fit_seconds", "cluster_seconds"):
        assert same.data.metrics[name] == trial.data.metrics[name]
    assert main(args) == 0  # resumed: nothing new, no second set of repeats
    again = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = '{REPEAT_ROLE}'")
    assert len(again) == 3
    out = tmp_path / "report"
    assert main(["--quiet", "report", "--tracking-uri", store, "--out", str(out)]) == 0
    (row,) = pd.read_csv(out / "digits" / "repeats.csv").to_dict("records")
    assert row["repeats"] == 3
    assert row["hungarian_accuracy_mean"] == pytest.approx(
        cell.data.metrics["hungarian_accuracy_mean"]
    )
    assert row["nmi_std"] == pytest.approx(cell.data.metrics["nmi_std"])
    mean, std = cell.data.metrics["nmi_mean"], cell.data.metrics["nmi_std"]
    assert f"{mean:.4f} ± {std:.4f}" in (out / "digits" / "repeats.md").read_text()


def test_seeds_name_the_repeats_and_kept_stages_are_served_by_the_cache(tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["--quiet", "run", "--limit", "100", "--extractors", "raw", "--reducers", "umap"]
    args += ["--clusterers", "kmeans", "--trials", "1", "--seeds", "3,5"]
    args += ["--repeat-stages", "clusterer", "--tracking-uri", store]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    repeats = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = '{REPEAT_ROLE}'")
    assert sorted(int(run.data.tags[REPEAT_SEED_TAG]) for run in repeats) == [3, 5]
    # the embedding keeps the study's seed 0: the trial's UMAP, read from the cache
    assert {run.data.tags[EMBEDDING_CACHE_TAG] for run in repeats} == {"hit"}
    assert {run.data.tags[REPEAT_STAGES_TAG] for run in repeats} == {"clusterer"}
    (cell,) = client.search_runs(experiments, f"tags.`{ROLE_TAG}` = 'cell'")
    assert cell.data.metrics["repeats"] == 2


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--repeats", "2", "--seeds", "0,1,2"], "--repeats 2 and --seeds 0,1,2 disagree"),
        (["--seeds", "1,1"], "give distinct seeds"),
        (["--repeat-stages", "umap"], "--repeat-stages umap: choose one or more of extractor"),
    ],
)
def test_repeat_flags_that_disagree_exit_2_with_one_line(flags, message, capsys):
    assert main(["run", *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
