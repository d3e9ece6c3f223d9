"""The cross-dataset page from a real MLflow store holding two tiny datasets as experiments: the
cells x datasets table (mean ± std where a cell run carries repeats), ranks and the Friedman
p-value as scipy computes them, the critical difference, the default criterion's row per
dataset, and the `report --dataset a,b` / `--all` commands."""

import math

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import friedmanchisquare, rankdata, studentized_range

from clustering.cli import main
from clustering.config import DEFAULT_OBJECTIVE
from clustering.report.across import DEFAULT_CRITERIA, write_across_report
from clustering.report.critical_difference import cliques
from tests import report_store

CELLS = [("raw", "kmeans"), ("raw", "gmm"), ("dense_ae", "kmeans"), ("dense_ae", "gmm")]
ACCURACY = {  # dataset -> each cell's trials' Hungarian accuracy; the last trial is the best
    "alpha": [[0.5, 0.6], [0.3, 0.7], [0.4, 0.9], [0.2, 0.8]],
    "beta": [[0.4, 0.5], [0.6, 0.55], [0.1, 0.95], [0.3, 0.5]],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def trial(accuracy: float) -> dict:
    """A trial whose default criterion follows its accuracy except at 0.9 (ranked last)."""
    return {
        "hungarian_accuracy": accuracy,
        DEFAULT_OBJECTIVE: -1.0 if accuracy == 0.9 else accuracy,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("across")
    uri = report_store.store(folder, [], experiment="alpha")
    client = MlflowClient(uri)
    for dataset, cells in ACCURACY.items():
        experiment = client.get_experiment_by_name(dataset)
        if experiment is None:
            experiment_id = client.create_experiment(dataset, str(folder / "mlruns"))
        else:
            experiment_id = experiment.experiment_id
        for (extractor, clusterer), accuracies in zip(CELLS, cells, strict=True):
            cell = report_store.log_cell(
                client,
                experiment_id,
                extractor=extractor,
                clusterer=clusterer,
                dataset=dataset,
                trial_scores=[trial(a) for a in accuracies],
            )
            if (dataset, extractor, clusterer) == ("beta", "raw", "kmeans"):
                client.log_metric(cell, "hungarian_accuracy_mean", 0.45)
                client.log_metric(cell, "hungarian_accuracy_std", 0.02)
    extra = client.get_experiment_by_name("beta").experiment_id
    report_store.log_cell(client, extra, extractor="vae", dataset="beta", trial_scores=[trial(1)])
    return uri


@pytest.fixture(scope="module")
def written(store, tmp_path_factory) -> dict:
    return write_across_report(store, ["alpha", "beta"], tmp_path_factory.mktemp("out"))


def values() -> pd.DataFrame:
    """Datasets x cells: each cell's best (last) trial, the repeats' mean for beta raw x kmeans."""
    table = {f"{e} x {c}": [ACCURACY[d][i][-1] for d in ACCURACY] for i, (e, c) in enumerate(CELLS)}
    table["raw x kmeans"][1] = 0.45
    return pd.DataFrame(table, index=list(ACCURACY))


def test_ranks_and_the_friedman_p_value_are_scipys(written):
    test = written["test"]
    expected = values()
    ranks = np.stack([rankdata(-row) for row in expected.to_numpy()])
    assert test.ranks[expected.columns].to_numpy() == pytest.approx(ranks)
    assert "vae x kmeans" not in test.ranks  # only on beta: no complete block
    assert test.average_ranks.to_dict() == pytest.approx(
        dict(zip(expected, ranks.mean(axis=0), strict=True))
    )
    assert list(test.average_ranks) == sorted(test.average_ranks)
    statistic, p_value = friedmanchisquare(*expected.to_numpy().T)
    assert (test.statistic, test.p_value) == pytest.approx((statistic, p_value))
    q = studentized_range.ppf(0.95, 4, np.inf) / math.sqrt(2)
    assert test.critical_difference == pytest.approx(q * math.sqrt(4 * 5 / (6 * 2)))


def test_the_cells_table_shows_mean_and_std_where_repeats_exist(written):
    cells = pd.read_csv(written["folder"] / "cells.csv", dtype=str).set_index("cell")
    assert list(cells.columns) == ["alpha", "beta", "average_rank"]
    assert cells.loc["raw x kmeans", "beta"] == "0.4500 ± 0.0200"
    assert cells.loc["dense_ae x kmeans", "alpha"] == "0.9000"
    assert cells.index[0] == "dense_ae x kmeans"  # ranked first on both
    assert cells.loc["vae x kmeans", "beta"] == "1.0000"
    assert pd.isna(cells.loc["vae x kmeans", "average_rank"])
    scores = pd.read_csv(written["folder"] / "scores.csv")  # the numbers, tidy
    beta = scores[(scores["dataset"] == "beta") & (scores["cell"] == "raw x kmeans")].iloc[0]
    assert (beta["value"], beta["std"]) == (0.45, 0.02)
    assert "| cell | alpha | beta | average_rank |" in written["markdown"]["cells"]


def test_each_dataset_gets_the_default_criteria_selection_rows(written):
    rows = pd.read_csv(written["folder"] / "selection.csv")
    assert rows["criterion"].tolist() == DEFAULT_CRITERIA * 2  # per dataset
    selection = rows[rows["criterion"] == DEFAULT_OBJECTIVE].set_index("dataset")
    alpha = selection.loc["alpha"]  # the 0.9 trial is ranked last: 0.8 chosen
    assert alpha[["selected_hungarian", "oracle_hungarian"]].tolist() == pytest.approx([0.8, 0.9])
    assert alpha["gap"] == pytest.approx(0.1)
    beta = selection.loc["beta"]
    assert beta["selected_hungarian"] == beta["oracle_hungarian"] == pytest.approx(1.0)
    assert beta["median_hungarian"] == pytest.approx(np.median([*sum(ACCURACY["beta"], []), 1]))


def test_the_page_and_the_diagram_are_written(written):
    folder = written["folder"]
    assert (folder / "critical_difference.png").read_bytes().startswith(PNG_MAGIC)
    page = (folder / "report.html").read_text()
    assert "Friedman" in page and "alpha, beta" in page and "0.4500 ± 0.0200" in page
    assert pd.read_csv(folder / "ranks.csv", index_col=0).shape == (2, 4)


def test_cliques_join_the_cells_closer_than_the_critical_difference():
    ranks = pd.Series([1.0, 1.5, 3.0, 3.2, 3.9], index=list("abcde"))
    assert cliques(ranks, 1.0) == [(0, 1), (2, 4)]
    assert cliques(ranks, 0.1) == []


def test_report_all_and_a_comma_list_write_the_page_and_bad_names_exit_2(store, tmp_path, capsys):
    assert main(["report", "--all", "--tracking-uri", store, "--out", str(tmp_path)]) == 0
    assert "Friedman p = " in capsys.readouterr().out
    assert (tmp_path / "across_datasets" / "report.html").is_file()
    listed = ["report", "--dataset", "alpha,beta", "--tracking-uri", store, "--out", str(tmp_path)]
    assert main([*listed, "--quiet"]) == 0
    missing = ["report", "--dataset", "alpha,gamma", "--tracking-uri", store]
    assert main([*missing, "--out", str(tmp_path / "none")]) == 2
    assert "no cell runs for dataset 'gamma'" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
