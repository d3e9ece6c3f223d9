"""`write_across_report`: the runs of several datasets of one MLflow store ->
`<out>/across_datasets/`: cells.csv and .md (each cell's Hungarian accuracy on each dataset, as
mean ± std where the cell run carries repeats, and its average rank), scores.csv (the same
numbers, tidy: dataset, cell, value, std), ranks.csv (datasets x cells), the Friedman test and
Nemenyi's critical difference as critical_difference.png, selection.csv and .md (per dataset
the default criteria's rows of the selection table: chosen, oracle, median, and whether the
criteria disagree there) and report.html holding them. Reads MLflow only; writes nothing back."""

import io
import logging
import math
import time
from pathlib import Path

import pandas as pd

from clustering.config import DEFAULT_OBJECTIVE
from clustering.errors import BenchError, redact
from clustering.metrics import METRICS
from clustering.report import figures
from clustering.report import html as page
from clustering.report.columns import SELECTION_DEFAULT, cell_label, cell_parts
from clustering.report.critical_difference import diagram, rank_test
from clustering.report.labels import trials_with_consensus
from clustering.report.selection import selection_table, uncertain
from clustering.report.tables import (
    comparison_table,
    reading,
    run_dataset_name,
    to_markdown,
    trials_table,
)
from clustering.report.write import check_writable, staged
from clustering.tracking import Tracker

logger = logging.getLogger(__name__)

FOLDER = "across_datasets"
SCORE = METRICS.get("hungarian_accuracy").name  # what the cells are compared by
DEFAULT_CRITERIA = list(dict.fromkeys([DEFAULT_OBJECTIVE, SELECTION_DEFAULT]))
SELECTION_COLUMNS = [
    "dataset", "criterion", "selected_hungarian", "oracle_hungarian", "median_hungarian",
    "gap", "choice",
]  # fmt: skip


def cell_scores(tracking_uri: str, table: pd.DataFrame) -> pd.DataFrame:
    """Tidy, one row per cell of `table` (a dataset's comparison table): dataset, cell, value
    (the cell run's `<SCORE>_mean` when it has repeats, else its best trial's SCORE), std
    (`<SCORE>_std`, NaN without repeats)."""
    tracker = Tracker(tracking_uri)
    parts = cell_parts(table)
    rows = []
    for _, cell in table.iterrows():
        with reading(tracking_uri):
            logged = tracker.metrics(cell["run_id"])
        rows.append(
            {
                "dataset": cell["dataset"],
                "cell": cell_label(cell[part] for part in parts),
                "value": logged.get(f"{SCORE}_mean", cell[SCORE]),
                "std": logged.get(f"{SCORE}_std", math.nan),
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "cell", "value", "std"])


def cells_table(scores: pd.DataFrame, average_ranks: pd.Series) -> pd.DataFrame:
    """Cells x datasets as shown: "mean ± std" (4 decimals) or the plain value, then each
    cell's average rank (empty for a cell missing on a dataset), best average rank first."""
    texts = [
        _mean_std(value, std) for value, std in zip(scores["value"], scores["std"], strict=True)
    ]
    datasets = list(dict.fromkeys(scores["dataset"]))
    table = scores.assign(text=texts).pivot(index="cell", columns="dataset", values="text")
    table = table.reindex(columns=datasets)
    table["average_rank"] = average_ranks.reindex(table.index)
    order = [*average_ranks.index, *sorted(set(table.index) - set(average_ranks.index))]
    return table.loc[order].rename_axis(columns=None).rename_axis("cell").reset_index()


def _mean_std(value: float, std: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:.4f}" if pd.isna(std) else f"{value:.4f} ± {std:.4f}"


def default_selection(tracking_uri: str, table: pd.DataFrame) -> list[dict]:
    """The rows of the default criteria (DEFAULT_CRITERIA: the default objective, then the
    after-the-fact criterion the report trusts) in the selection table of the dataset whose
    comparison table is `table`: the accuracy each selects, the oracle's and the median, the
    gap, and `choice` "uncertain" where the trusted criteria choose more than UNCERTAIN_SPAN
    apart (selection.uncertain)."""
    trials = trials_with_consensus(tracking_uri, trials_table(tracking_uri, table))
    selection = selection_table(trials)
    choice = "uncertain" if uncertain(selection) else ""
    rows = []
    for _, row in selection[selection["criterion"].isin(DEFAULT_CRITERIA)].iterrows():
        rows.append(
            {
                "dataset": table["dataset"].iloc[0],
                **{column: row[column] for column in SELECTION_COLUMNS[1:5]},
                "gap": row["oracle_hungarian"] - row["selected_hungarian"],
                "choice": choice,
            }
        )
    return rows


def across_tables(tracking_uri: str, datasets: list[str]) -> dict:
    """Every dataset's cells and default selection row: scores (cell_scores, all datasets),
    test (critical_difference.RankTest over the cells every dataset has), cells (cells_table)
    and selection (a row per dataset). BenchError for fewer than two datasets."""
    names = list(dict.fromkeys(run_dataset_name(dataset) for dataset in datasets))
    if len(names) < 2:
        raise BenchError(
            f"a cross-dataset report needs two datasets or more, got {names}; pass --dataset "
            "a,b (comma-separated) or --all"
        )
    tables = [comparison_table(tracking_uri, dataset) for dataset in names]
    scores = pd.concat([cell_scores(tracking_uri, table) for table in tables], ignore_index=True)
    values = scores.pivot(index="dataset", columns="cell", values="value").reindex(index=names)
    test = rank_test(values)
    rows = [row for table in tables for row in default_selection(tracking_uri, table)]
    selection = pd.DataFrame(rows, columns=SELECTION_COLUMNS)
    return {
        "scores": scores,
        "test": test,
        "cells": cells_table(scores, test.average_ranks),
        "selection": selection,
    }


def write_across_report(tracking_uri: str, datasets: list[str], out="reports") -> dict:
    """Write `<out>/across_datasets/` (the module's files) for `datasets` of the store; returns
    the folder, the tables, their Markdown, the test and the seconds it took. BenchError (and
    nothing written) when `out` cannot hold the folder or the store lacks a dataset."""
    started = time.perf_counter()
    folder = Path(out) / FOLDER
    check_writable(folder)
    tables = across_tables(tracking_uri, datasets)
    markdown = {
        "cells": to_markdown(tables["cells"], list(tables["cells"].columns)),
        "selection": to_markdown(tables["selection"], SELECTION_COLUMNS),
    }
    with staged(folder) as stage:
        for name in ("cells", "selection"):
            tables[name].to_csv(stage / f"{name}.csv", index=False)
            (stage / f"{name}.md").write_text(markdown[name])
        tables["scores"].to_csv(stage / "scores.csv", index=False)
        tables["test"].ranks.to_csv(stage / "ranks.csv")
        figure = page.Figure("critical_difference.png", "average ranks and critical difference",
                             _png(diagram(tables["test"])))  # fmt: skip
        (stage / figure.filename).write_bytes(figure.png)
        (stage / "report.html").write_text(render_across(tracking_uri, tables, figure))
    seconds = time.perf_counter() - started
    logger.info("wrote %s (%d datasets) in %.1f s", folder, len(tables["test"].ranks), seconds)
    return {**tables, "folder": folder, "markdown": markdown, "seconds": seconds}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    figures.close(figure)
    return buffer.getvalue()


def render_across(tracking_uri: str, tables: dict, figure) -> str:
    """report.html's text: which datasets and test, the two tables and the diagram."""
    test = tables["test"]
    datasets = ", ".join(dict.fromkeys(tables["selection"]["dataset"]))
    cells = tables["cells"]
    meta = [
        f"{len(cells)} cells on {len(test.ranks)} datasets ({datasets}), compared by "
        f"{SCORE} of each cell's best trial (mean ± std over repeats where the runs have them); "
        f"read from MLflow store {redact(tracking_uri)}",
        f"Friedman test over the {len(test.average_ranks)} cells every dataset has: statistic "
        f"{test.statistic:.3f}, p = {test.p_value:.3g}; Nemenyi critical difference "
        f"{test.critical_difference:.2f} at alpha {test.alpha}. Generated "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}.",
    ]
    shown = [
        page.TableSection(
            "Cells across datasets",
            f"Each cell's {SCORE} per dataset and its average rank (1 the best) over the datasets.",
            page.comparison(
                cells, list(cells.columns), ["average_rank"], lower_is_better=["average_rank"]
            ),
            "cells",
        ),
        page.TableSection(
            f"Choosing without labels: {' and '.join(DEFAULT_CRITERIA)} per dataset",
            "The trial each default criterion selects beside the best (oracle) and the median "
            "trial; uncertain: the label-free criteria choose accuracies more than 0.1 apart.",
            page.comparison(
                tables["selection"],
                SELECTION_COLUMNS,
                SELECTION_COLUMNS[2:6],
                lower_is_better=["gap"],
                marked=[],
            ),
            "selection",
        ),
    ]
    note = "Cells joined by a bar are not told apart by the Nemenyi test."
    sections = [page.Section("Critical difference", note, [figure])]
    return page.render(title="clustering-bench: across datasets", meta=meta, tables=shown,
                       sections=sections, cells=[])  # fmt: skip
