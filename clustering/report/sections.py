"""What report.html shows, as page sections: the tables (the comparison, choosing without labels,
the best trial per cell by the labels) and the figures drawn from the trials table, each figure
saved beside the page as a PNG file."""

import io
import logging
from pathlib import Path

import pandas as pd

from clustering.report import figures
from clustering.report import html as page
from clustering.report.columns import (
    K_SWEEP_METRICS,
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    SELECTION_SCORES,
    UNCERTAIN_MEMBERS,
    UNCERTAIN_SPAN,
    by_accuracy_columns,
    cell_folder,
    cell_label,
    cell_parts,
    comparison_columns,
    objectives,
)
from clustering.report.repeats import (
    UNSTABLE_SCORE,
    UNSTABLE_STD,
    cell_spread,
    shown,
    shown_columns,
)
from clustering.report.selection import selection_columns, uncertain

logger = logging.getLogger(__name__)

TABLES = {  # heading -> (HTML class, how to read the table under it)
    "Comparison (best trial per cell, chosen by its objective)": (
        "comparison",
        "Each cell's best trial by the objective it optimised (label-free unless the objective "
        "is a label score). Bold on green: the best value of each column (lowest for seconds).",
    ),
    "Choosing without labels": (
        "selection",
        "Each label-free criterion ranks every complete trial of every cell: its Spearman "
        "correlation with Hungarian accuracy and NMI, and the scores of the trial it ranks first "
        "beside the best trial (oracle, by Hungarian accuracy) and the median trial. When "
        "several trials share the top value (tied), the selected scores are their mean.",
    ),
    "Best trial per cell by Hungarian accuracy (uses the labels)": (
        "by-accuracy",
        "Chosen with the true labels, which clustering does not have: what each cell could give "
        "at best. trial_number: the trial the labels choose; objective_trial: the one the cell's "
        "objective chose.",
    ),
}

UNCERTAIN_NOTE = (
    f"Uncertain here: {', '.join(UNCERTAIN_MEMBERS[:-1])} and {UNCERTAIN_MEMBERS[-1]} choose "
    "trials more than "
    f"{UNCERTAIN_SPAN} apart in Hungarian accuracy, so no one label-free choice can be trusted "
    "on this dataset."
)

REPEATS_NOTE = (
    "Where a cell has repeats (its best configuration re-run with other seeds), each metric is "
    f"their mean ± std; unstable: the {UNSTABLE_SCORE} std over the repeats exceeds "
    f"{UNSTABLE_STD}."
)

NOTES = {  # heading -> how to read the figures under it
    "Metrics per cell": "Bars: the best trial of each cell (the table's row), the best cell "
    "outlined in red; dots: every complete trial.",
    "ASC against Hungarian accuracy": "Every complete trial: does the unsupervised score "
    "(silhouette) pick the clusterings that match the labels?",
    "Optimisation history": "Each cell's objective per trial, and the best so far.",
    "Metrics against k": "Cells whose search covered several k.",
    "Pareto fronts": "Multi-objective cells: every complete trial by the first two objectives; "
    "red and numbered: the Pareto-optimal trials the study kept.",
}


BARS_WITH_REPEATS_NOTE = (
    "Bars: the mean over the repeats of each cell's best configuration, with error bars of "
    "± one standard deviation (the best trial where a cell has no repeats), the best cell "
    "outlined in red; dots: every complete trial."
)


def table_sections(
    table: pd.DataFrame, selection: pd.DataFrame, by_accuracy: pd.DataFrame
) -> list[page.TableSection]:
    """The page's tables in order, headings and notes from TABLES: the comparison table (a row
    per cell), the selection table (a row per criterion; the Spearman and selected columns
    marked), the by-accuracy table (a row per cell). Cell rows link to their pictures."""
    parts = cell_parts(table)
    scores = list(SELECTION_SCORES)
    spearman = [f"spearman_{short}" for short in scores]
    selected = [f"selected_{short}" for short in scores]
    numbers = [*spearman, *[f"{k}_{s}" for s in scores for k in ("selected", "oracle", "median")]]
    tables = [
        _cell_table(table, comparison_columns(parts), parts),
        page.comparison(selection, selection_columns(), numbers, marked=[*spearman, *selected]),
        _cell_table(by_accuracy, by_accuracy_columns(parts), parts),
    ]
    notes = [note for kind, note in TABLES.values()]
    if "unstable" in table:
        notes[0] += " " + REPEATS_NOTE
        notes[2] += " " + REPEATS_NOTE
    if uncertain(selection):
        notes[1] += " " + UNCERTAIN_NOTE
    return [
        page.TableSection(heading, note, shown_table, kind)
        for (heading, (kind, _)), note, shown_table in zip(
            TABLES.items(), notes, tables, strict=True
        )
    ]


def _cell_table(frame: pd.DataFrame, columns: list[str], parts: list[str]) -> page.Table:
    """A table with a row per cell as the page shows it: `mean ± std` where the cell has
    repeats, best values marked, rows linked to the cells' pictures."""
    values, stds = shown(frame)
    return page.comparison(
        values,
        shown_columns(frame, columns),
        METRIC_COLUMNS,
        lower_is_better=LOWER_IS_BETTER,
        link_parts=parts,
        stds=stds,
    )


def draw_figures(trials: pd.DataFrame, table: pd.DataFrame, folder: Path) -> list[page.Section]:
    """The report figures from the trials table only (`table`, the comparison table, names the
    multi-objective cells and their Pareto trials), saved as PNG files in `folder`, as page
    sections (headings from NOTES)."""
    if figures.complete_trials(trials).empty:
        return []

    def save(figure, filename: str, caption: str) -> page.Figure:
        return _save(figure, folder, filename, caption)

    drawn = {
        "Metrics per cell": [
            save(
                figures.metric_bars(trials, metric, cell_spread(table, metric)),
                f"bar_{metric}.png",
                f"{metric} per cell",
            )
            for metric in METRIC_COLUMNS
        ],
        "ASC against Hungarian accuracy": [
            save(
                figures.asc_vs_hungarian(trials),
                "asc_vs_hungarian_accuracy.png",
                "ASC against Hungarian accuracy, every trial",
            )
        ],
        "Optimisation history": [
            save(
                figures.optimisation_history(trials),
                "optimisation_history.png",
                "objective value per trial and best so far, per cell",
            )
        ],
    }
    if figures.searched_cells(trials):
        drawn["Metrics against k"] = [
            save(figures.k_sweep(trials, metric), f"k_{metric}.png", f"{metric} against k")
            for metric in K_SWEEP_METRICS
        ]
    drawn["Pareto fronts"] = [
        save(figures.pareto_front(trials, cell, names, pareto), filename, caption)
        for cell, names, pareto, filename, caption in pareto_cells(table, trials)
    ]
    notes = dict(NOTES)
    if cell_spread(table, METRIC_COLUMNS[0]) is not None:
        notes["Metrics per cell"] = BARS_WITH_REPEATS_NOTE
    return [page.Section(heading, notes[heading], saved) for heading, saved in drawn.items()]


def pareto_cells(table: pd.DataFrame, trials: pd.DataFrame) -> list[tuple]:
    """(cell, objectives, Pareto trial numbers, file name `pareto_<cell folder>.png`, caption)
    for each cell run tagged with its Pareto trials whose first two objectives are trial
    columns; a tag that cannot be read is logged and its figure left out."""
    found = []
    for _, row in table.iterrows():
        tag = row.get("pareto_trials")
        if not isinstance(tag, str) or not tag.strip():
            continue
        values = [row[part] for part in cell_parts(table)]
        names = objectives(row["objective"])
        try:
            pareto = {int(number) for number in tag.split(",") if number.strip()}
        except ValueError:
            logger.warning(
                "cell run %s: pareto_trials %r is no list of numbers", row["run_id"], tag
            )
            continue
        if len(names) < 2 or not set(names[:2]) <= set(trials.columns):
            logger.warning("cell run %s: no two logged objectives in %r", row["run_id"], names)
            continue
        caption = f"{cell_label(values)}: Pareto front of {names[0]} and {names[1]}"
        found.append(
            (cell_label(values), names, pareto, f"pareto_{cell_folder(values)}.png", caption)
        )
    return found


def _save(figure, folder: Path, filename: str, caption: str) -> page.Figure:
    """Save a figure as `folder/filename` (PNG) and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    figures.close(figure)
    (folder / filename).write_bytes(buffer.getvalue())
    return page.Figure(filename, caption, buffer.getvalue())
