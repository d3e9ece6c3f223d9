"""`write_report`: MLflow runs -> `<out>/<dataset>/` (comparison.csv and .md, trials.csv, the
figures as PNG files, each cell's pictures and report.html holding them all). The output folder
is checked before MLflow is read, and everything is written into a staging folder beside it
that replaces the report's files only once complete: a failure leaves nothing half-written."""

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from clustering.errors import BenchError
from clustering.report import figures
from clustering.report import html as page
from clustering.report.columns import (
    K_SWEEP_METRICS,
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    cell_folder,
    cell_label,
    cell_parts,
    comparison_columns,
)
from clustering.report.tables import comparison_table, to_markdown, trials_table

logger = logging.getLogger(__name__)

DEFAULT_OUT = "reports"  # gitignored; the committed reference results are made with --out results
PICTURES = "pictures"  # the artifact folder of a cell run holding its pictures
PICTURE_CAPTIONS = {
    "centres.png": "cluster centres as images",
    "cluster_samples.png": "random members of each cluster",
    "confusion.png": "cluster x label counts",
    "reconstructions.png": "originals (top) and reconstructions (bottom)",
    "generated.png": "images generated from z ~ N(0, I)",
}


def write_report(tracking_uri: str, dataset: str, out: str | Path = DEFAULT_OUT) -> dict:
    """Write `<out>/<dataset>/`: comparison.csv and .md, trials.csv, the figures as PNG files,
    each cell's pictures under cells/<extractor>-<clusterer>/ and report.html embedding them.
    Returns the paths, the Markdown table, the tables and the seconds it took. BenchError (and
    nothing written) when `out` cannot hold the folder or the store cannot be read."""
    started = time.perf_counter()
    folder = Path(out) / folder_name(dataset)
    check_writable(folder)
    table = comparison_table(tracking_uri, dataset)
    trials = trials_table(tracking_uri, table)
    markdown = to_markdown(table)
    with staged(folder) as stage:
        table[comparison_columns(cell_parts(table))].to_csv(stage / "comparison.csv", index=False)
        (stage / "comparison.md").write_text(markdown)
        trials.to_csv(stage / "trials.csv", index=False)
        sections = draw_figures(trials, stage)
        cells = cell_sections(tracking_uri, table, stage)
        (stage / "report.html").write_text(
            render_page(dataset, table, trials, sections, cells, tracking_uri)
        )
    figure_paths = [folder / f.filename for section in sections for f in section.figures]
    pictures = [folder / f.filename for cell in cells for f in cell.pictures]
    seconds = time.perf_counter() - started
    logger.info(
        "wrote %s (%d figures, %d cell pictures) in %.1f s",
        folder,
        len(figure_paths),
        len(pictures),
        seconds,
    )
    return {
        "csv": folder / "comparison.csv",
        "markdown_path": folder / "comparison.md",
        "markdown": markdown,
        "table": table,
        "trials_csv": folder / "trials.csv",
        "trials": trials,
        "html": folder / "report.html",
        "figures": figure_paths,
        "pictures": pictures,
        "seconds": seconds,
    }


def check_writable(folder: Path) -> None:
    """BenchError unless `folder` exists or can be made and written: no file on its path, and
    the nearest folder that exists (itself or above) takes new entries. Leaves nothing."""
    existing = next(path for path in [folder, *folder.parents] if _exists(path))
    if not existing.is_dir():
        raise BenchError(
            f"cannot write the report to {folder}: {existing} is a file, not a folder; "
            f"pass --out a folder (default {DEFAULT_OUT})"
        )
    try:
        Path(tempfile.mkdtemp(prefix=".report-check-", dir=existing)).rmdir()
    except OSError as error:
        raise BenchError(
            f"cannot write the report to {folder}: {existing} is not writable "
            f"({error.strerror or error}); pass --out a folder you can write"
        ) from None


def _exists(path: Path) -> bool:
    """Whether something is at `path` (False where a file stands in for a folder above it)."""
    try:
        path.lstat()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def staged(folder: Path):
    """A fresh hidden folder beside `folder` to write the report into; when the block ends
    without error its files replace the earlier report's (figures and pictures of an earlier
    report are removed, so none outlives its data). The staging folder never stays."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as error:
        raise BenchError(
            f"cannot write the report to {folder}: {error}; pass --out a folder you can write"
        ) from None
    try:
        yield stage
        folder.mkdir(exist_ok=True)
        for path in folder.glob("*.png"):
            path.unlink()
        shutil.rmtree(folder / "cells", ignore_errors=True)
        for path in stage.iterdir():
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


NOTES = {  # heading -> how to read the figures under it
    "Metrics per cell": "Bars: the best trial of each cell (the table's row), the best cell "
    "outlined in red; dots: every complete trial.",
    "ASC against Hungarian accuracy": "Every complete trial: does the unsupervised score "
    "(silhouette) pick the clusterings that match the labels?",
    "Optimisation history": "Each cell's objective per trial, and the best so far.",
    "Metrics against k": "Cells whose search covered several k.",
}


def draw_figures(trials: pd.DataFrame, folder: Path) -> list[page.Section]:
    """The report figures from the trials table only, saved as PNG files in `folder`, as page
    sections (headings from NOTES)."""
    if figures.complete_trials(trials).empty:
        return []

    def save(figure, filename: str, caption: str) -> page.Figure:
        return _save(figure, folder, filename, caption)

    drawn = {
        "Metrics per cell": [
            save(figures.metric_bars(trials, metric), f"bar_{metric}.png", f"{metric} per cell")
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
    return [page.Section(heading, NOTES[heading], shown) for heading, shown in drawn.items()]


def _save(figure, folder: Path, filename: str, caption: str) -> page.Figure:
    """Save a figure as `folder/filename` (PNG) and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    figures.close(figure)
    (folder / filename).write_bytes(buffer.getvalue())
    return page.Figure(filename, caption, buffer.getvalue())


def cell_sections(tracking_uri: str, table: pd.DataFrame, folder: Path) -> list[page.CellSection]:
    """Each cell run's pictures (artifacts under `pictures/`), copied to
    `folder/cells/<extractor>-<clusterer>/`, as page sections. A picture that cannot be read
    is logged and left out: the tables stay."""
    client = MlflowClient(tracking_uri=tracking_uri)
    parts = cell_parts(table)
    sections = []
    for _, row in table.iterrows():
        values = [row[part] for part in parts]
        link = None
        if tracking_uri.startswith(("http://", "https://")):
            link = (
                f"{tracking_uri.rstrip('/')}/#/experiments/{row['experiment_id']}"
                f"/runs/{row['run_id']}"
            )
        best = "-" if pd.isna(row["best_trial"]) else str(int(row["best_trial"]))
        section = page.CellSection(
            cell_label(values),
            row["run_id"],
            row["experiment_id"],
            best,
            row["best_params"],
            link=link,
        )
        try:
            section.pictures = _copy_pictures(
                client, row["run_id"], folder / "cells" / cell_folder(values), folder
            )
        except Exception as error:  # a missing artifact store must not lose the tables
            logger.warning("pictures of cell run %s not read: %s", row["run_id"], error)
        sections.append(section)
    return sections


def _copy_pictures(
    client: MlflowClient, run_id: str, target: Path, folder: Path
) -> list[page.Figure]:
    """The run's PNG artifacts under `pictures/`, in PICTURE_CAPTIONS order, copied to
    `target`; their file names relative to `folder`."""
    order = list(PICTURE_CAPTIONS)
    files = [
        f
        for f in client.list_artifacts(run_id, PICTURES)
        if not f.is_dir and f.path.endswith(".png")
    ]
    files.sort(
        key=lambda f: (
            order.index(Path(f.path).name) if Path(f.path).name in order else len(order),
            f.path,
        )
    )
    pictures = []
    with tempfile.TemporaryDirectory() as scratch:
        for info in files:
            local = Path(client.download_artifacts(run_id, info.path, scratch))
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target / local.name)
            caption = PICTURE_CAPTIONS.get(local.name, local.stem)
            pictures.append(
                page.Figure(
                    str((target / local.name).relative_to(folder)), caption, local.read_bytes()
                )
            )
    return pictures


def render_page(dataset, table, trials, sections, cells, tracking_uri) -> str:
    """report.html's text: the meta lines, the comparison table, the figures, the cells."""
    from clustering.study.storage import redact

    complete = len(figures.complete_trials(trials))
    objectives = ", ".join(sorted(set(table["objective"].dropna())))
    meta = [
        f"{len(table)} cells, {len(trials)} trial runs ({complete} complete); objective: "
        f"{objectives}; read from MLflow store {redact(tracking_uri)}",
        f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`clustering-bench report --dataset {dataset}`; tables: comparison.csv, trials.csv.",
    ]
    parts = cell_parts(table)
    shown = page.comparison(
        table,
        comparison_columns(parts),
        METRIC_COLUMNS,
        lower_is_better=LOWER_IS_BETTER,
        link_parts=parts,
    )
    return page.render(
        title=f"clustering-bench: {dataset}", meta=meta, table=shown, sections=sections, cells=cells
    )


def folder_name(dataset: str) -> str:
    """`npz:/data/x.npz` -> `npz-x`; plain names unchanged."""
    if ":" in dataset:
        kind, _, path = dataset.partition(":")
        return f"{kind}-{Path(path).stem or 'data'}"
    return dataset
