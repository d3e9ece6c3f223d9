"""Choosing without labels, from real MLflow stores whose trials' scores are known: each
label-free criterion's Spearman correlation with the label scores and what the trial it ranks
first scores (selection.csv and .md, a section of report.html), the dataset's MLflow run holding
them (created once, updated by the next report, never counted as a cell), each cell's best trial
by Hungarian accuracy beside the one its objective chose, and the Pareto figure of a
multi-objective cell."""

import html
import math

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import rankdata

from clustering.cli import main
from clustering.metrics import METRICS
from clustering.report.columns import DATASET_ROLE, RANK_MEMBERS
from clustering.report.sections import UNCERTAIN_NOTE
from clustering.report.selection import (
    selection_table,
    uncertain,
    with_derived_criteria,
    with_rank_combination,
)
from clustering.report.write import write_report
from clustering.tracking import ROLE_TAG
from tests import report_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def known(accuracy: float) -> dict:
    """A trial's scores from its Hungarian accuracy: asc equal to it, dunn its negation, NMI
    half of it (the same order), reference_asc the same for every trial (constant)."""
    return {
        "hungarian_accuracy": accuracy,
        "nmi": accuracy / 2,
        "asc": accuracy,
        "dunn": -accuracy,
        "reference_asc": 0.5,
    }


# raw x kmeans: trials 0, 1, 2 (its objective chose trial 2, the last); raw x gmm: trials 0, 1.
KMEANS = [0.3, 0.9, 0.5]
GMM = [0.7, 0.4]  # all five: median 0.5, best 0.9 (kmeans trial 1), worst 0.3 (kmeans trial 0)


def known_store(folder) -> str:
    return report_store.store(
        folder,
        [
            {"clusterer": "kmeans", "trial_scores": [known(a) for a in KMEANS]},
            {
                "clusterer": "gmm",
                "objective": "reference_asc",
                "trial_scores": [known(a) for a in GMM],
            },
        ],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("selection")
    return write_report(known_store(folder), "digits", folder / "out")


def dataset_runs(tracking_uri: str) -> list:
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("digits")
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{DATASET_ROLE}'"
    )


def test_the_criteria_are_the_label_free_objectives_then_the_after_the_fact_ones(report):
    selection = pd.read_csv(report["selection_csv"])
    after_the_fact = ["consensus", "mean_rank"]
    assert list(selection["criterion"]) == [
        *METRICS.names(objective=True, label_free=True),
        *after_the_fact,
    ]
    assert set(selection["trials"][:-2]) == {5}  # every complete trial of both cells
    rows = selection.set_index("criterion")
    assert rows.loc["consensus", "trials"] == 0  # no kept labels in this store
    assert rows.loc["mean_rank", "trials"] == 5  # faithful_asc, reference_asc and stability
    assert report["selection_markdown_path"].read_text() == report["selection_markdown"]
    assert report["selection_markdown"].startswith("| criterion | trials | spearman_hungarian |")
    assert report["selection_csv"].parent == report["csv"].parent


def test_a_criterion_equal_to_accuracy_correlates_1_and_chooses_the_best_trial(report):
    asc = pd.read_csv(report["selection_csv"]).set_index("criterion").loc["asc"]
    assert asc["spearman_hungarian"] == pytest.approx(1.0)
    assert asc["spearman_nmi"] == pytest.approx(1.0)
    assert asc["selected_hungarian"] == asc["oracle_hungarian"] == pytest.approx(0.9)
    assert asc["selected_nmi"] == asc["oracle_nmi"] == pytest.approx(0.45)
    assert (asc["selected_cell"], asc["selected_trial"]) == ("raw x kmeans", 1)
    assert asc["median_hungarian"] == pytest.approx(0.5)
    assert asc["median_nmi"] == pytest.approx(0.25)


def test_its_negation_correlates_minus_1_and_chooses_the_worst_trial(report):
    dunn = pd.read_csv(report["selection_csv"]).set_index("criterion").loc["dunn"]
    assert dunn["spearman_hungarian"] == pytest.approx(-1.0)
    assert dunn["spearman_nmi"] == pytest.approx(-1.0)
    assert dunn["selected_hungarian"] == pytest.approx(min(KMEANS + GMM))
    assert (dunn["selected_cell"], dunn["selected_trial"]) == ("raw x kmeans", 0)


def test_a_constant_criterion_has_no_correlation(report):
    constant = pd.read_csv(report["selection_csv"]).set_index("criterion").loc["reference_asc"]
    assert math.isnan(constant["spearman_hungarian"]) and math.isnan(constant["spearman_nmi"])


def test_trials_tied_at_the_top_count_as_their_mean_not_the_first(report):
    selection = pd.read_csv(report["selection_csv"]).set_index("criterion")
    constant = selection.loc["reference_asc"]  # every trial ties: a pick among them is random
    assert constant["tied"] == 5
    assert constant["selected_hungarian"] == pytest.approx(sum(KMEANS + GMM) / 5)
    assert constant["selected_nmi"] == pytest.approx(sum(KMEANS + GMM) / 10)
    first = pd.read_csv(report["trials_csv"]).iloc[0]  # named: the first of them in table order
    assert (constant["selected_cell"], constant["selected_trial"]) == (
        first["cell"],
        first["trial_number"],
    )
    assert selection.loc["asc", "tied"] == 1


def test_the_page_shows_choosing_without_labels_and_the_by_accuracy_table(report):
    page = report["html"].read_text()
    assert "<h2>Choosing without labels</h2>" in page
    assert '<table class="data selection">' in page
    assert "<h2>Best trial per cell by Hungarian accuracy (uses the labels)</h2>" in page
    assert '<table class="data by-accuracy">' in page
    assert page.index("Comparison (best trial per cell") < page.index("Choosing without labels")


def test_comparison_names_each_cells_objective(report):
    comparison = pd.read_csv(report["csv"])
    assert list(comparison.columns[:4]) == ["extractor", "clusterer", "objective", "trials"]
    assert dict(zip(comparison["clusterer"], comparison["objective"], strict=True)) == {
        "gmm": "reference_asc",
        "kmeans": "asc",
    }
    assert "| raw | kmeans | asc | 3 |" in report["markdown"]


def test_the_by_accuracy_table_picks_each_cells_most_accurate_trial(report):
    table = pd.read_csv(report["by_accuracy_csv"]).set_index("clusterer")
    assert report["by_accuracy_csv"].name == "comparison_by_accuracy.csv"
    assert report["by_accuracy_markdown_path"].name == "comparison_by_accuracy.md"
    assert table.loc["kmeans", "hungarian_accuracy"] == pytest.approx(max(KMEANS))
    assert table.loc["kmeans", ["trial_number", "objective_trial", "trials"]].tolist() == [1, 2, 3]
    assert table.loc["gmm", "hungarian_accuracy"] == pytest.approx(max(GMM))
    assert table.loc["gmm", ["trial_number", "objective_trial", "n_clusters"]].tolist() == [
        0,
        1,
        10,
    ]


def test_the_dataset_run_is_created_once_and_updated_by_the_next_report(tmp_path):
    store = known_store(tmp_path)
    first = write_report(store, "digits", tmp_path / "out")
    runs = dataset_runs(store)
    assert [run.info.run_id for run in runs] == [first["dataset_run_id"]]
    metrics = runs[0].data.metrics
    assert metrics["spearman_hungarian.asc"] == pytest.approx(1.0)
    assert metrics["spearman_hungarian.dunn"] == pytest.approx(-1.0)
    assert metrics["selected_hungarian.asc"] == pytest.approx(0.9)
    assert metrics["selected_hungarian.dunn"] == pytest.approx(0.3)
    assert metrics["oracle_hungarian"] == pytest.approx(0.9)
    assert metrics["median_hungarian"] == pytest.approx(0.5)
    assert "spearman_hungarian.reference_asc" not in metrics  # NaN: not computable
    client = MlflowClient(store)
    artifacts = sorted(f.path for f in client.list_artifacts(first["dataset_run_id"]))
    assert artifacts == ["selection.csv", "selection.md"]
    assert len(first["table"]) == 2  # the dataset run is no cell

    experiment = client.get_experiment_by_name("digits").experiment_id
    report_store.log_cell(
        client, experiment, clusterer="minibatch_kmeans", trial_scores=[known(0.95)]
    )
    second = write_report(store, "digits", tmp_path / "out")
    runs = dataset_runs(store)
    assert [run.info.run_id for run in runs] == [first["dataset_run_id"]]
    assert second["dataset_run_id"] == first["dataset_run_id"]
    assert runs[0].data.metrics["oracle_hungarian"] == pytest.approx(0.95)
    history = client.get_metric_history(first["dataset_run_id"], "oracle_hungarian")
    assert sorted((m.step, m.value) for m in history) == [(5, 0.9), (6, 0.95)]
    assert len(second["table"]) == 3
    assert len(second["trials"]) == 6


def test_a_multi_objective_cell_gets_its_pareto_figure(tmp_path):
    store = report_store.store(
        tmp_path,
        [
            {
                "clusterer": "kmeans",
                "objective": "asc,dunn",
                "trial_scores": [{"asc": 0.2, "dunn": 0.9}, {"asc": 0.5, "dunn": 0.1}] * 2,
                "cell_tags": {"pareto_trials": "0,1"},
            },
            {"clusterer": "gmm", "objective": "asc"},
        ],
    )
    written = write_report(store, "digits", tmp_path / "out")
    folder = written["html"].parent
    figure = folder / "pareto_raw-kmeans.png"
    assert figure.read_bytes().startswith(PNG_MAGIC)
    assert figure in written["figures"]
    assert sorted(path.name for path in folder.glob("pareto_*.png")) == [figure.name]
    page = written["html"].read_text()
    assert "<h2>Pareto fronts</h2>" in page
    assert "<code>pareto_raw-kmeans.png</code>" in page


def test_the_consensus_is_computed_from_the_kept_labels_and_prefers_the_agreed_clustering(
    tmp_path,
):
    rng = np.random.default_rng(0)
    agreed = rng.integers(0, 10, size=500)
    relabelled = (agreed + 3) % 10
    odd = rng.integers(0, 10, size=500)
    store = report_store.store(
        tmp_path,
        [
            {
                "clusterer": "kmeans",
                "trial_scores": [known(a) for a in KMEANS],
                "trial_labels": [odd, agreed, relabelled],
            },
            {
                "clusterer": "gmm",
                "trial_scores": [known(a) for a in GMM],
                "trial_labels": [agreed, rng.integers(0, 5, size=500)],
            },
        ],
    )
    written = write_report(store, "digits", tmp_path / "out")
    trials = pd.read_csv(written["trials_csv"]).set_index(["clusterer", "trial_number"])
    consensus = trials["consensus"]
    copies = consensus[[("kmeans", 1), ("kmeans", 2), ("gmm", 0)]]
    assert copies.tolist() == pytest.approx([2 / 4 + 0.0] * 3, abs=0.02)  # 2 of 4 agree fully
    assert consensus[("kmeans", 0)] < 0.05 and consensus[("gmm", 1)] < 0.05  # chance level
    row = written["selection_table"].set_index("criterion").loc["consensus"]
    assert row["trials"] == 5 and row["tied"] == 3  # the three copies of one clustering
    assert row["selected_hungarian"] == pytest.approx((0.9 + 0.5 + 0.7) / 3)


def test_the_rank_combination_is_the_mean_percentile_rank_of_its_members():
    done = pd.DataFrame(
        {
            "state": "COMPLETE",
            "faithful_asc": [0.2, -1.0, 0.8, -1.0],
            "reference_asc": [0.1, 0.4, 0.3, 0.2],
            "stability": [0.9, 0.5, 0.7, 0.6],
            "consensus": [0.3, np.nan, 0.5, 0.1],  # missing for one trial: left out
            "hungarian_accuracy": [0.6, 0.5, 0.9, 0.4],
            "nmi": 0.5,
            "cell": "raw x kmeans",
            "trial_number": [0, 1, 2, 3],
        }
    )
    combined = with_rank_combination(done)["mean_rank"]
    members = [name for name in RANK_MEMBERS if name != "consensus"]
    expected = np.mean([rankdata(done[name]) / 4 for name in members], axis=0)
    assert combined.tolist() == pytest.approx(expected.tolist())
    row = selection_table(done, ["mean_rank"]).iloc[0]
    assert row["selected_trial"] == 2 and row["selected_hungarian"] == 0.9


def test_a_criterion_of_logged_scores_is_filled_in_for_runs_that_predate_it():
    old = pd.DataFrame(
        {
            "asc": [0.5, 0.4, 0.3],
            "stability": [0.8, 0.5, np.nan],  # the third cannot be computed
            "trustworthiness": [0.95, 0.6, 0.6],
        }
    )
    filled = with_derived_criteria(old)["faithful_or_stable_asc"]
    assert filled.tolist()[:2] == pytest.approx([0.5, 0.4 * 0.5]) and np.isnan(filled.iloc[2])
    logged = old.assign(faithful_or_stable_asc=[0.1, np.nan, np.nan])
    assert with_derived_criteria(logged)["faithful_or_stable_asc"].iloc[0] == 0.1  # kept


def test_the_choice_is_uncertain_where_the_trusted_criteria_choose_far_apart():
    def table(chosen: dict) -> pd.DataFrame:
        return pd.DataFrame(
            {"criterion": list(chosen), "selected_hungarian": list(chosen.values())}
        )

    close = {"faithful_asc": 0.80, "reference_asc": 0.75, "stability": 0.72, "dunn": 0.1}
    assert not uncertain(table(close))  # dunn is no member: its bad choice does not count
    assert uncertain(table({**close, "consensus": 0.62}))
    assert not uncertain(table({"faithful_asc": 0.8, "consensus": float("nan")}))


def test_the_page_and_the_command_say_where_the_choice_is_uncertain(tmp_path, capsys):
    def trial(accuracy: float) -> dict:  # faithful_asc follows the accuracy, stability opposes it
        return {"hungarian_accuracy": accuracy, "faithful_asc": accuracy, "stability": -accuracy}

    store = report_store.store(tmp_path, [{"trial_scores": [trial(a) for a in KMEANS]}])
    out = tmp_path / "out"
    assert main(["report", "--dataset", "digits", "--tracking-uri", store, "--out", str(out)]) == 0
    assert UNCERTAIN_NOTE in capsys.readouterr().out
    assert html.escape(UNCERTAIN_NOTE) in (out / "digits" / "report.html").read_text()
    page = write_report(known_store(tmp_path / "agreed"), "digits", tmp_path / "agreed_out")
    assert uncertain(page["selection_table"]) == (UNCERTAIN_NOTE in page["html"].read_text())
