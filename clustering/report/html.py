"""One self-contained HTML page: the comparison table (best value per column marked), the report
figures and each cell's pictures, every image embedded as a base64 PNG; nothing is fetched.

An inline script marks `<body>` when the page has loaded: `data-report-ready="ok"` when every
image decoded and the table has rows (else "broken"), for headless-browser checks.
"""

import base64
import html
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Figure:
    """A PNG for the page: its file name beside report.html, a caption and the bytes."""

    filename: str
    caption: str
    png: bytes


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


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table.comparison { border-collapse: collapse; font-size: 0.9em; }
table.comparison th, table.comparison td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
table.comparison td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.comparison td.best { font-weight: bold; background: #e6f4e6; }
table.comparison tbody tr:nth-child(even) { background: #f7f7f7; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; }
.meta, .note { color: #555; font-size: 0.9em; } code { font-size: 0.9em; }
"""

READY_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  var rows = document.querySelectorAll("table.comparison tbody tr").length;
  var body = document.body;
  body.setAttribute("data-images", String(images.length));
  body.setAttribute("data-broken-images", String(broken.length));
  body.setAttribute("data-table-rows", String(rows));
  body.setAttribute("data-report-ready", broken.length === 0 && rows > 0 ? "ok" : "broken");
});
"""


def best_mask(table: pd.DataFrame, columns, lower_is_better=()) -> pd.DataFrame:
    """True where a cell holds its column's best value (max, or min for `lower_is_better`)."""
    mask = pd.DataFrame(False, index=table.index, columns=list(columns))
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().any():
            best = values.min() if column in lower_is_better else values.max()
            mask[column] = values == best
    return mask


def comparison_html(table: pd.DataFrame, columns, metric_columns, lower_is_better=(),
                    link_cells: bool = False) -> str:
    """The comparison table: metric columns right-aligned, the best of each bold (class best);
    with `link_cells`, a last column links each row to its cell's section."""
    mask = best_mask(table, metric_columns, lower_is_better)
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    if link_cells:
        head += "<th>pictures</th>"
    body = []
    for index, row in table.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            if column not in metric_columns:
                cells.append(f"<td>{html.escape(str(value))}</td>")
                continue
            text = "" if pd.isna(value) else (
                f"{value:.1f}" if column.endswith("seconds") else f"{value:.4f}"
            )
            if mask.at[index, column]:
                cells.append(f'<td class="number best" title="best in column"><b>{text}</b></td>')
            else:
                cells.append(f'<td class="number">{text}</td>')
        if link_cells:
            anchor = cell_anchor(f"{row['extractor']} x {row['clusterer']}")
            cells.append(f'<td><a href="#{anchor}">pictures</a></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="comparison">\n<thead><tr>' + head + "</tr></thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody>\n</table>"
    )


def image_tag(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
        f"<figcaption>{caption} &middot; <code>{html.escape(figure.filename)}</code>"
        "</figcaption></figure>"
    )


def render(
    *,
    title: str,
    meta: list[str],
    table_html: str,
    sections: list[tuple[str, str, list[Figure]]],
    cells: list[CellSection],
) -> str:
    """The page: title, meta lines, the table, figure sections (heading, note, figures) and one
    section per cell with its run id, best trial, best parameters and pictures."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        f"<script>{READY_SCRIPT}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *[f'<p class="meta">{html.escape(line)}</p>' for line in meta],
        "<h2>Comparison (best trial per cell)</h2>",
        '<p class="note">Bold on green: the best value of each column (lowest for seconds).</p>',
        table_html,
    ]
    for heading, note, figures in sections:
        if not figures:
            continue
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        parts.append('<div class="figures">' + "".join(map(image_tag, figures)) + "</div>")
    if cells:
        parts.append("<h2>Cells: pictures of the best trial</h2>")
    for cell in cells:
        parts.append(f'<h3 id="{cell_anchor(cell.label)}">{html.escape(cell.label)}</h3>')
        run = f"MLflow cell run <code>{html.escape(cell.run_id)}</code>"
        if cell.link:
            run = f'<a href="{html.escape(cell.link)}">{run}</a>'
        parts.append(
            f'<p class="meta">{run} (experiment {html.escape(cell.experiment_id)}), '
            f"best trial {html.escape(cell.best_trial)}; artifacts under "
            "<code>pictures/</code></p>"
        )
        if cell.best_params:
            params = ", ".join(
                f"{html.escape(key)}={html.escape(str(value))}"
                for key, value in sorted(cell.best_params.items())
            )
            parts.append(f'<p class="meta">best parameters: <code>{params}</code></p>')
        if cell.pictures:
            parts.append(
                '<div class="figures">' + "".join(map(image_tag, cell.pictures)) + "</div>"
            )
        else:
            parts.append('<p class="note">No pictures logged on this cell run.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def cell_anchor(label: str) -> str:
    """`raw x kmeans` -> `cell-raw-kmeans`."""
    return "cell-" + "-".join(part for part in label.replace(" x ", " ").split())
