"""One self-contained HTML page, rendered from the Jinja2 template templates/report.html.j2
(autoescaped): the tables (the comparison table first; best value per column marked), the
report figures and each cell's pictures, every image embedded as a base64 PNG; nothing is fetched.

An inline script marks `<body>` when the page has loaded: `data-report-ready="ok"` when every
image decoded and the table has rows (else "broken"), for headless-browser checks.
"""

import base64
import functools
import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import jinja2
import pandas as pd

TEMPLATE = "report.html.j2"


@dataclass
class Figure:
    """A PNG for the page: its file name beside report.html, a caption and the bytes."""

    filename: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


class Section(NamedTuple):
    """A group of report figures under one heading, with a note saying how to read them."""

    heading: str
    note: str
    figures: list[Figure]


@dataclass
class CellSection:
    """One cell's pictures as logged on its MLflow cell run."""

    label: str
    run_id: str
    experiment_id: str
    best_trial: str
    best_params: dict
    pictures: list[Figure] = field(default_factory=list)
    link: str | None = None  # the run's page in the MLflow UI when the store is a server

    @property
    def anchor(self) -> str:
        return cell_anchor(self.label)


@dataclass
class TableCell:
    """One cell of the comparison table as shown: its text, right-aligned when a number, bold
    on green when its column's best."""

    text: str
    number: bool = False
    best: bool = False


@dataclass
class TableRow:
    cells: list[TableCell]
    anchor: str | None = None  # the cell's section on the page


@dataclass
class Table:
    columns: list[str]
    rows: list[TableRow]
    linked: bool = False  # a last column links each row to its cell's section


class TableSection(NamedTuple):
    """A table under its heading, with a note saying how to read it; `kind` is its HTML class
    (`comparison` for the main table, which the page's load check counts rows of)."""

    heading: str
    note: str
    table: Table
    kind: str


def best_mask(table: pd.DataFrame, columns, lower_is_better=()) -> pd.DataFrame:
    """True where a cell holds its column's best value (max, or min for `lower_is_better`)."""
    mask = pd.DataFrame(False, index=table.index, columns=list(columns))
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().any():
            best = values.min() if column in lower_is_better else values.max()
            mask[column] = values == best
    return mask


def comparison(
    table: pd.DataFrame,
    columns,
    metric_columns,
    lower_is_better=(),
    link_parts=None,
    marked=None,
    stds: pd.DataFrame | None = None,
) -> Table:
    """A table as shown: `metric_columns` right-aligned with 4 decimals (seconds with 1), as
    `value ± std` where `stds` (a frame on `table`'s index) has the column's std, the best of
    each `marked` one (default all of them) in bold; other columns as they are (counts
    right-aligned, missing values empty). With `link_parts` (the columns naming a cell) each
    row links to its cell's section."""
    marked = list(metric_columns if marked is None else marked)
    mask = best_mask(table, marked, lower_is_better)
    rows = []
    for index, row in table.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column not in metric_columns:  # text, or a count: shown as it is
                number = isinstance(value, numbers.Number) and not _missing(value)
                cells.append(TableCell("" if _missing(value) else str(value), number=number))
                continue
            best = column in marked and bool(mask.at[index, column])
            text = _number(column, value)
            if stds is not None and column in stds and not _missing(stds.at[index, column]):
                text += " ± " + _number(column, stds.at[index, column])
            cells.append(TableCell(text, number=True, best=best))
        anchor = None
        if link_parts:
            anchor = cell_anchor(" x ".join(str(row[part]) for part in link_parts))
        rows.append(TableRow(cells, anchor))
    return Table(list(columns), rows, linked=bool(link_parts))


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _number(column: str, value) -> str:
    if _missing(value):
        return ""
    return f"{value:.1f}" if column.endswith("seconds") else f"{value:.4f}"


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("clustering.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template(TEMPLATE)


def render(
    *,
    title: str,
    meta: list[str],
    tables: list[TableSection],
    sections: list[Section],
    cells: list[CellSection],
) -> str:
    """The page: title, meta lines, the tables (heading, note, table), figure sections
    (heading, note, figures; empty ones left out) and one section per cell with its run id,
    best trial, best parameters and pictures."""
    return _template().render(title=title, meta=meta, tables=tables, sections=sections, cells=cells)


def cell_anchor(label: str) -> str:
    """`raw x kmeans` -> `cell-raw-kmeans`."""
    return "cell-" + "-".join(part for part in label.replace(" x ", " ").split())
