"""The report of cells with repeats: `mean ± std` in the comparison and by-accuracy tables
(Markdown, the page), `_mean`/`_std` columns and the `unstable` flag in their CSV, error bars of
the std on the bar charts; cells without repeats keep their best trial's plain values."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clustering.report import figures
from clustering.report.columns import METRIC_COLUMNS
from clustering.report.repeats import SPREAD_COLUMNS, UNSTABLE_STD, cell_spread
from clustering.report.tables import comparison_table, trials_table
from clustering.report.write import write_report
from tests import report_store

STD = {"hungarian_accuracy": UNSTABLE_STD + 0.03, "nmi": 0.01}  # raw x kmeans: unstable


def log_repeats(uri: str, cell: str, mean: float, stds: dict) -> None:
    """The aggregates Repeats logs on a cell run: every metric's mean (`mean` + its index /
    100) and std (`stds`, else 0.002), min, max, and repeats = 3."""
    client = MlflowClient(uri)
    for index, name in enumerate(METRIC_COLUMNS):
        value, std = mean + index / 100, stds.get(name, 0.002)
        for suffix, logged in (("mean", value), ("std", std), ("min", value), ("max", value)):
            client.log_metric(cell, f"{name}_{suffix}", logged)
    client.log_metric(cell, "repeats", 3)


@pytest.fixture
def store(tmp_path) -> str:
    uri = report_store.store(tmp_path, [])
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("digits").experiment_id
    raw = report_store.log_cell(client, experiment, extractor="raw")
    report_store.log_cell(client, experiment, extractor="dense_ae", seed=0.3)
    log_repeats(uri, raw, 0.5, STD)
    return uri


@pytest.mark.slow  # a whole report: every figure drawn
def test_the_tables_show_mean_and_std_of_repeated_cells_and_flag_unstable_ones(store, tmp_path):
    written = write_report(store, "digits", tmp_path / "out")
    table = pd.read_csv(written["csv"]).set_index("extractor")
    assert {*SPREAD_COLUMNS, "repeats", "unstable"} <= set(table.columns)
    assert table.loc["raw", "hungarian_accuracy_std"] == pytest.approx(STD["hungarian_accuracy"])
    assert table.loc["raw", "unstable"] == True  # noqa: E712 (a CSV boolean)
    assert table.loc["dense_ae", "unstable"] == False  # noqa: E712
    assert pd.isna(table.loc["dense_ae", "hungarian_accuracy_mean"])
    markdown = written["markdown"]
    header = markdown.splitlines()[0]
    assert header.endswith("| repeats | unstable |")
    (raw,) = [line for line in markdown.splitlines() if line.startswith("| raw ")]
    position = METRIC_COLUMNS.index("hungarian_accuracy")
    mean = 0.5 + position / 100
    assert f"| {mean:.4f} ± {STD['hungarian_accuracy']:.4f} |" in raw
    assert raw.endswith("| 3 | yes |")
    (dense,) = [line for line in markdown.splitlines() if line.startswith("| dense_ae ")]
    assert "±" not in dense and dense.endswith("|  |  |")
    by_accuracy = written["by_accuracy_markdown"]
    assert f"{mean:.4f} ± {STD['hungarian_accuracy']:.4f}" in by_accuracy  # the repeated trial
    html = written["html"].read_text()
    assert f"{mean:.4f} ± {STD['hungarian_accuracy']:.4f}" in html and "unstable" in html


def test_a_repeated_cells_bar_is_its_mean_with_an_error_bar_of_its_std(store):
    table = comparison_table(store, "digits")
    trials = trials_table(store, table)
    spread = cell_spread(table, "hungarian_accuracy")
    figure = figures.metric_bars(trials, "hungarian_accuracy", spread)
    (axis,) = figure.axes
    heights = {patch.get_x(): patch.get_height() for patch in axis.patches}
    best = figures.best_trials(trials).set_index("cell")["hungarian_accuracy"]
    mean = spread.loc["raw x kmeans", "mean"]
    assert sorted(heights.values()) == pytest.approx(sorted([mean, best["dense_ae x kmeans"]]))
    (bars,) = [c for c in axis.containers if c.__class__.__name__ == "ErrorbarContainer"]
    (segments,) = bars.lines[2]
    lengths = sorted(abs(y1 - y0) for (_, y0), (_, y1) in segments.get_segments())
    assert lengths == pytest.approx([0.0, 2 * STD["hungarian_accuracy"]])
    figures.close(figure)


@pytest.mark.slow
def test_without_repeats_the_tables_have_no_spread_columns(tmp_path):
    store = report_store.store(tmp_path, [{"extractor": "raw"}])
    written = write_report(store, "digits", tmp_path / "out")
    assert "unstable" not in pd.read_csv(written["csv"]).columns
    assert "±" not in written["markdown"] and "±" not in written["html"].read_text()
    assert cell_spread(comparison_table(store, "digits"), "nmi") is None
