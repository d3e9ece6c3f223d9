"""`write_report`: MLflow runs -> `<out>/<dataset>/` (comparison.csv and .md, selection.csv and
.md, comparison_by_accuracy.csv and .md, trials.csv, environment.md (the versions and the
machine), the figures as PNG files, each cell's pictures and report.html holding them all). The
output folder is checked before MLflow is read, and everything is written into a staging folder
beside it that replaces the report's files only once complete: a failure leaves nothing
half-written.

The report reads MLflow and writes back one thing only, in `log_dataset_run`: the dataset's run
(tag clustering_bench.role = dataset), holding the selection table as metrics and files."""

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from clustering.errors import BenchError, redact
from clustering.report import figures
from clustering.report import html as page
from clustering.report.columns import (
    by_accuracy_columns,
    cell_folder,
    cell_label,
    cell_parts,
    comparison_columns,
)
from clustering.report.environment import environment_line, environment_markdown, machine, versions
from clustering.report.labels import trials_with_consensus
from clustering.report.repeats import (
    csv_columns,
    repeats_markdown,
    repeats_table,
    shown,
    shown_columns,
    with_spread,
)
from clustering.report.sections import draw_figures, table_sections
from clustering.report.selection import (
    by_accuracy_table,
    selection_columns,
    selection_metrics,
    selection_table,
)
from clustering.report.tables import comparison_table, reason, to_markdown, trials_table
from clustering.tracking import PICTURES_FOLDER, Tracker

logger = logging.getLogger(__name__)

DEFAULT_OUT = "reports"  # gitignored; the committed reference results are made with --out results
PICTURE_CAPTIONS = {
    "centres.png": "cluster centres as images",
    "cluster_samples.png": "random members of each cluster",
    "confusion.png": "cluster x label counts",
    "reconstructions.png": "originals (top) and reconstructions (bottom)",
    "generated.png": "images generated from z ~ N(0, I)",
}
# The tables written as <name>.csv and <name>.md (trials.csv is CSV only), in the page's order.
TABLES = ("comparison", "selection", "comparison_by_accuracy")
TABLE_FILES = [f"{name}.{kind}" for name in TABLES for kind in ("csv", "md")] + ["trials.csv"]


def write_report(tracking_uri: str, dataset: str, out: str | Path = DEFAULT_OUT) -> dict:
    """Write `<out>/<dataset>/`: the tables (TABLE_FILES), the figures as PNG files, each cell's
    pictures under cells/<extractor>-<reducer>-<clusterer>/ and report.html embedding them; log
    the dataset run. Returns the paths, the tables and their Markdown, the dataset run's id and
    the seconds it took. BenchError (and nothing written) when `out` cannot hold the folder or
    the store cannot be read or take the dataset run."""
    started = time.perf_counter()
    folder = Path(out) / folder_name(dataset)
    check_writable(folder)
    table = comparison_table(tracking_uri, dataset)
    trials = trials_with_consensus(tracking_uri, trials_table(tracking_uri, table))
    tables = build_tables(table, trials)
    with staged(folder) as stage:
        markdown = write_tables(tables, stage)
        trials.to_csv(stage / "trials.csv", index=False)
        repeats = write_repeats(table, stage)
        sections = draw_figures(trials, table, stage)
        cells = cell_sections(tracking_uri, table, stage)
        shown = table_sections(*(frame for frame, _ in tables.values()))
        made_with = write_environment(stage)
        html = render_page(dataset, table, trials, shown, sections, cells, tracking_uri, made_with)
        (stage / "report.html").write_text(html)
        run_id = log_dataset_run(
            tracking_uri,
            table,
            tables["selection"][0],
            [stage / "selection.csv", stage / "selection.md"],
            step=len(figures.complete_trials(trials)),
        )
    figure_paths = [folder / f.filename for section in sections for f in section.figures]
    pictures = [folder / f.filename for cell in cells for f in cell.pictures]
    seconds = time.perf_counter() - started
    logger.info(
        "wrote %s (%d figures, %d cell pictures) in %.1f s; dataset run %s",
        folder,
        len(figure_paths),
        len(pictures),
        seconds,
        run_id,
    )
    return {
        **written_tables(folder, tables, markdown),
        "trials_csv": folder / "trials.csv",
        "trials": trials,
        "repeats_markdown": repeats,
        "html": folder / "report.html",
        "figures": figure_paths,
        "pictures": pictures,
        "dataset_run_id": run_id,
        "seconds": seconds,
    }


def build_tables(table: pd.DataFrame, trials: pd.DataFrame) -> dict:
    """The tables written as CSV and Markdown, by name (TABLES) -> (DataFrame, its columns):
    `table` (the comparison table), the selection and the by-accuracy tables from `trials`;
    where cells have repeats, the comparison table and the by-accuracy rows of the repeated
    trial carry their spread (repeats.with_spread)."""
    parts = cell_parts(table)
    by_accuracy = by_accuracy_table(trials, table)
    same_trial = by_accuracy.get("trial_number") == by_accuracy.get("objective_trial")
    return {
        "comparison": (with_spread(table, table), comparison_columns(parts)),
        "selection": (selection_table(trials), selection_columns()),
        "comparison_by_accuracy": (
            with_spread(by_accuracy, table, same_trial),
            by_accuracy_columns(parts),
        ),
    }


def write_repeats(table: pd.DataFrame, folder: Path) -> str | None:
    """repeats.csv and repeats.md in `folder` when a cell of `table` (the comparison table) has
    repeats; returns the Markdown, None (and nothing written) when none has."""
    repeats = repeats_table(table)
    if repeats.empty:
        return None
    repeats.to_csv(folder / "repeats.csv", index=False)
    markdown = repeats_markdown(repeats)
    (folder / "repeats.md").write_text(markdown)
    return markdown


def write_tables(tables: dict, folder: Path) -> dict[str, str]:
    """Each table of `tables` (name -> (DataFrame, its columns)) as `<name>.csv` and `<name>.md`
    in `folder` (with the repeats' spread where the frame has it); returns name -> its
    Markdown."""
    markdown = {}
    for name, (frame, columns) in tables.items():
        frame[csv_columns(frame, columns)].to_csv(folder / f"{name}.csv", index=False)
        values, stds = shown(frame)
        markdown[name] = to_markdown(values, shown_columns(frame, columns), stds)
        (folder / f"{name}.md").write_text(markdown[name])
    return markdown


def written_tables(folder: Path, tables: dict, markdown: dict) -> dict:
    """write_report's keys for the tables: csv, markdown_path, markdown and table for the
    comparison table (as before); selection_* and by_accuracy_* likewise for the others."""
    keys = {"comparison": "", "selection": "selection_", "comparison_by_accuracy": "by_accuracy_"}
    written = {}
    for name, prefix in keys.items():
        written[f"{prefix}csv"] = folder / f"{name}.csv"
        written[f"{prefix}markdown_path"] = folder / f"{name}.md"
        written[f"{prefix}markdown"] = markdown[name]
        written[f"{prefix}table" if prefix else "table"] = tables[name][0]
    return written


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
        for path in [*folder.glob("*.png"), folder / "repeats.csv", folder / "repeats.md"]:
            path.unlink(missing_ok=True)
        shutil.rmtree(folder / "cells", ignore_errors=True)
        for path in stage.iterdir():
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def cell_sections(tracking_uri: str, table: pd.DataFrame, folder: Path) -> list[page.CellSection]:
    """Each cell run's pictures (artifacts under `pictures/`), copied to
    `folder/cells/<extractor>-<clusterer>/`, as page sections. A picture that cannot be read
    is logged and left out: the tables stay."""
    tracker = Tracker(tracking_uri)
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
                tracker, row["run_id"], folder / "cells" / cell_folder(values), folder
            )
        except Exception as error:  # a missing artifact store must not lose the tables
            logger.warning("pictures of cell run %s not read: %s", row["run_id"], error)
        sections.append(section)
    return sections


def _copy_pictures(tracker: Tracker, run_id: str, target: Path, folder: Path) -> list[page.Figure]:
    """The run's PNG artifacts under `pictures/`, in PICTURE_CAPTIONS order, copied to
    `target`; their file names relative to `folder`."""
    order = list(PICTURE_CAPTIONS)
    pictures = []
    with tempfile.TemporaryDirectory() as scratch:
        files = tracker.download_pngs(run_id, PICTURES_FOLDER, scratch)
        files.sort(key=lambda path: order.index(path.name) if path.name in order else len(order))
        for local in files:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target / local.name)
            caption = PICTURE_CAPTIONS.get(local.name, local.stem)
            pictures.append(
                page.Figure(
                    str((target / local.name).relative_to(folder)), caption, local.read_bytes()
                )
            )
    return pictures


def write_environment(folder: Path) -> str:
    """folder/environment.md (the versions and the machine); returns report.html's line."""
    made_with = versions(), machine()
    (folder / "environment.md").write_text(environment_markdown(*made_with))
    return environment_line(*made_with)


def render_page(
    dataset, table, trials, tables, sections, cells, tracking_uri, made_with: str = ""
) -> str:
    """report.html's text: the meta lines (`made_with` last: the versions and the machine),
    the tables, the figures, the cells."""
    complete = len(figures.complete_trials(trials))
    objectives = ", ".join(sorted(set(table["objective"].dropna())))
    meta = [
        f"{len(table)} cells, {len(trials)} trial runs ({complete} complete); objective: "
        f"{objectives}; read from MLflow store {redact(tracking_uri)}",
        f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`clustering-bench report --dataset {dataset}`; tables: {', '.join(TABLE_FILES)}.",
    ] + ([made_with] if made_with else [])
    return page.render(
        title=f"clustering-bench: {dataset}",
        meta=meta,
        tables=tables,
        sections=sections,
        cells=cells,
    )


def folder_name(dataset: str) -> str:
    """`npz:/data/x.npz` -> `npz-x`; plain names unchanged."""
    if ":" in dataset:
        kind, _, path = dataset.partition(":")
        return f"{kind}-{Path(path).stem or 'data'}"
    return dataset


def log_dataset_run(tracking_uri: str, table, selection, files: list[Path], step: int) -> str:
    """The report's only write to MLflow: the dataset's run (tags clustering_bench.role =
    dataset and dataset = its name; found among the cells' experiments, else created in the
    experiment most of them are in) gets the selection table as metrics (`selection_metrics`,
    at `step` = the complete trials, so their history follows the study) and `files` as
    artifacts; a second report updates it. Returns its id; BenchError when the store refuses."""
    name = str(table["dataset"].iloc[0])
    try:
        run_id = Tracker(tracking_uri).log_dataset_run(
            name,
            sorted(set(table["experiment_id"])),
            table["experiment_id"].mode().iloc[0],
            selection_metrics(selection),
            step,
            files,
        )
    except Exception as error:  # a read-only store, a refusing server: the report is not replaced
        raise BenchError(
            f"cannot log the dataset run of {name} to the MLflow tracking store "
            f"{redact(tracking_uri)} ({reason(error)}); the report logs one run per dataset "
            "there: pass --tracking-uri a store you can write"
        ) from None
    return run_id
