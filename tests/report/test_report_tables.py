"""The report's tables from real MLflow runs: columns derived from the metrics registry, a cell's
parts read from its run's tags (a reducer column only when the runs have one), the newest cell
run of a cell wins, and the default output folder is the gitignored reports/, never the
committed results/."""

import inspect
import re
from pathlib import Path

import pandas as pd

from clustering.cli import build_parser
from clustering.metrics import METRICS
from clustering.report import columns
from clustering.report.tables import comparison_table, trials_table
from clustering.report.write import write_report
from tests import report_store

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_column_lists_are_the_metrics_registrys():
    assert (
        columns.METRIC_COLUMNS
        == METRICS.columns()
        == ["asc", "dunn", "majority_accuracy", "hungarian_accuracy", "nmi", "ari", "fit_seconds"]
    )
    assert list(columns.LOWER_IS_BETTER) == METRICS.lower_is_better()
    assert "fit_seconds" in columns.LOWER_IS_BETTER and "asc" not in columns.LOWER_IS_BETTER
    assert columns.TRIAL_METRICS == METRICS.names()
    assert set(columns.K_SWEEP_METRICS) <= set(METRICS.names())


def test_cells_without_a_reducer_get_no_reducer_column(tmp_path):
    store = report_store.store(
        tmp_path, [{"clusterer": "kmeans"}, {"clusterer": "minibatch_kmeans", "seed": 0.5}]
    )
    written = write_report(store, "digits", tmp_path / "out")
    table = pd.read_csv(written["csv"])
    assert list(table.columns) == [
        "extractor",
        "clusterer",
        "objective",
        "trials",
        *METRICS.columns(),
    ]
    assert written["markdown"].splitlines()[:3] == [
        "| extractor | clusterer | objective | trials | " + " | ".join(METRICS.columns()) + " |",
        "|---|---|---|" + "---:|" * (1 + len(METRICS.columns())),
        "| raw | kmeans | asc | 2 | 0.2000 | 0.2100 | 0.2200 | 0.2300 | 0.2400 | 0.2500 | 0.3 |",
    ]
    trials = pd.read_csv(written["trials_csv"])
    assert "reducer" not in trials.columns
    assert sorted(set(trials["cell"])) == ["raw x kmeans", "raw x minibatch_kmeans"]


def test_a_reducer_tag_adds_a_reducer_column_to_the_tables_figures_and_page(tmp_path):
    store = report_store.store(
        tmp_path,
        [
            {"extractor": "raw", "clusterer": "kmeans"},  # logged before reducers existed
            {"extractor": "dense_ae", "reducer": "umap", "clusterer": "gmm", "seed": 0.5},
        ],
    )
    written = write_report(store, "digits", tmp_path / "out")
    table = pd.read_csv(written["csv"])
    assert list(table.columns[:5]) == ["extractor", "reducer", "clusterer", "objective", "trials"]
    assert table[["extractor", "reducer", "clusterer"]].values.tolist() == [
        ["dense_ae", "umap", "gmm"],
        ["raw", "none", "kmeans"],
    ]
    assert written["markdown"].startswith("| extractor | reducer | clusterer | objective |")
    trials = pd.read_csv(written["trials_csv"])
    assert list(trials.columns[:5]) == ["dataset", "extractor", "reducer", "clusterer", "cell"]
    assert sorted(set(trials["cell"])) == ["dense_ae x umap x gmm", "raw x none x kmeans"]
    page = written["html"].read_text()
    assert '<h3 id="cell-dense_ae-umap-gmm">dense_ae x umap x gmm</h3>' in page
    assert 'href="#cell-dense_ae-umap-gmm"' in page
    assert "<th>reducer</th>" in page
    assert all(path.is_file() for path in written["figures"])
    # bars, the scatter, the history, and metrics against k (trials took k = 10 and 11)
    assert len(written["figures"]) == len(METRICS.columns()) + 2 + len(columns.K_SWEEP_METRICS)


def test_k_figures_are_drawn_exactly_when_a_cells_trials_cover_several_k(tmp_path):
    k_figures = [f"k_{metric}.png" for metric in columns.K_SWEEP_METRICS]
    one_k = report_store.store(tmp_path / "one", [{"trials": 1}])
    written = write_report(one_k, "digits", tmp_path / "one" / "out")
    assert not any((written["html"].parent / name).exists() for name in k_figures)
    assert "Metrics against k" not in written["html"].read_text()
    two_k = report_store.store(tmp_path / "two", [{"trials": 2}])  # k = 10, then 11
    written = write_report(two_k, "digits", tmp_path / "two" / "out")
    assert all((written["html"].parent / name).is_file() for name in k_figures)
    assert "Metrics against k" in written["html"].read_text()


def test_a_multi_objective_cells_trials_are_valued_by_its_first_objective(tmp_path):
    store = report_store.store(tmp_path, [{"objective": "asc,dunn", "trials": 3}])
    written = write_report(store, "digits", tmp_path / "out")
    trials = pd.read_csv(written["trials_csv"])
    assert set(trials["objective"]) == {"asc,dunn"}
    assert (trials["value"] == trials["asc"]).all()
    assert (written["html"].parent / "optimisation_history.png").is_file()


def test_the_newest_cell_run_of_a_cell_gives_its_row_and_its_trials(tmp_path):
    store = report_store.store(tmp_path, [{"seed": 0.0, "trials": 3}, {"seed": 0.5}])
    table = comparison_table(store, "digits")
    assert len(table) == 1
    assert table.loc[0, "trials"] == 2 and table.loc[0, "asc"] == 0.7
    trials = trials_table(store, table)
    assert list(trials["trial_number"]) == [0, 1]
    assert set(trials["cell_run_id"]) == {table.loc[0, "run_id"]}
    assert list(trials["n_clusters"]) == [10, 11]
    assert (trials["value"] == trials["asc"]).all()


def test_the_default_output_is_the_gitignored_reports_folder_never_the_committed_results():
    args = build_parser().parse_args(["report"])
    assert args.out == "reports"
    assert inspect.signature(write_report).parameters["out"].default == "reports"
    assert "/reports/" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"clustering-bench report[^\n`]*", readme)
    assert commands, "the README shows how to run the report"
    for command in commands:
        assert not re.search(r"--out\s+\.?/?results\b", command), command
    reference = (REPO_ROOT / "results" / "README.md").read_text()
    for command in re.findall(r"clustering-bench report[^`]*?(?=\n\n|\n#|```)", reference):
        assert re.search(r"--out\s+results\b", command), command
