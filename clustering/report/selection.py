"""Choosing a trial, from the tidy trials table only (tables.trials_table: one row per trial run).

Without the labels (the selection table, rows = the label-free criteria of the metrics
registry): how well each criterion's ranking of every complete trial of every cell agrees with
the label scores (Spearman), and what the trial it ranks first scores, beside the best trial
(the oracle, chosen by Hungarian accuracy) and the median trial. With the labels (the
by-accuracy table): each cell's best trial by Hungarian accuracy, beside the trial its own
objective chose."""

import inspect
import math

import numpy as np
import pandas as pd

from clustering.metrics import METRICS
from clustering.report.columns import (
    ALL_SELECTION_CRITERIA,
    LOWER_IS_BETTER,
    RANK_COMBINATION,
    RANK_MEMBERS,
    SELECTION_SCORES,
    UNCERTAIN_MEMBERS,
    UNCERTAIN_SPAN,
    by_accuracy_columns,
    cell_parts,
)

ORACLE_SCORE = "hungarian"  # the SELECTION_SCORES entry that picks the oracle (best) trial


def selection_columns() -> list[str]:
    """selection.csv's columns: the criterion and the complete trials it scored; per label score
    (hungarian, nmi) the Spearman correlation; then per label score the chosen trial's value
    beside the oracle's and the median; the cell and trial number the criterion chose."""
    columns = ["criterion", "trials"]
    columns += [f"spearman_{short}" for short in SELECTION_SCORES]
    for short in SELECTION_SCORES:
        columns += [f"selected_{short}", f"oracle_{short}", f"median_{short}"]
    return [*columns, "selected_cell", "selected_trial", "tied"]


def selection_table(trials: pd.DataFrame, criteria=None) -> pd.DataFrame:
    """One row per criterion (default ALL_SELECTION_CRITERIA: the registry's label-free objectives,
    then the consensus and the rank combination of RANK_MEMBERS), shape (len(criteria),
    len(selection_columns())), over the complete trials of `trials`:

    trials: the trials with a finite value of the criterion. spearman_<score>: Spearman rank
    correlation between the criterion and the label score (NaN below 2 trials or for a constant).
    selected_<score>: the label score of the trial the criterion ranks first (its highest value;
    its lowest for a lower-is-better criterion); when several trials share that value, the mean
    of theirs, what a pick among them scores on average (table order would credit the criterion
    with an arbitrary one). oracle_<score>: that of the trial with the highest Hungarian
    accuracy. median_<score>: the score's median over the complete trials. selected_cell,
    selected_trial: the first trial of those chosen (None if none); tied: how many there are."""
    done = with_rank_combination(with_derived_criteria(_complete(trials)))
    reference = _reference(done)
    rows = [{"criterion": name, **_judge(done, name), **reference} for name in _criteria(criteria)]
    return pd.DataFrame(rows, columns=selection_columns())


def _criteria(criteria) -> list[str]:
    return list(ALL_SELECTION_CRITERIA if criteria is None else criteria)


def with_derived_criteria(trials: pd.DataFrame) -> pd.DataFrame:
    """`trials` with every registered metric computed from other metrics' values (inputs
    "scores", e.g. `faithful_or_stable_asc`) filled in where a run predates it: on the rows where
    it is missing and every score it is computed from is finite."""
    trials = trials.copy()
    for metric in METRICS:
        if metric.inputs != "scores":
            continue
        parameters = inspect.signature(metric.function).parameters.values()
        needed = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        inputs = pd.concat([_numbers(trials, name) for name in needed], axis=1)
        missing = _numbers(trials, metric.name).isna() & inputs.notna().all(axis=1)
        values = [metric.function(*row) for row in inputs[missing].itertuples(index=False)]
        trials.loc[missing, metric.name] = values
    return trials


def with_rank_combination(done: pd.DataFrame) -> pd.DataFrame:
    """The complete trials `done` with the column RANK_COMBINATION: each trial's mean percentile
    rank (in (0, 1], 1 the best, ties averaged) under the RANK_MEMBERS criteria that score every
    trial (a member missing anywhere, e.g. the consensus of runs without kept labels, is left
    out); NaN when none does."""
    members = [name for name in RANK_MEMBERS if _numbers(done, name).notna().all()]
    ranks = [_oriented(done, name).rank(pct=True) for name in members]
    combined = pd.concat(ranks, axis=1).mean(axis=1) if ranks and len(done) else np.nan
    return done.assign(**{RANK_COMBINATION: combined})


def uncertain(selection: pd.DataFrame) -> bool:
    """Whether the UNCERTAIN_MEMBERS criteria (the trusted default, the RANK_MEMBERS and their
    combination) disagree on a dataset: the Hungarian accuracies they choose (rows of the
    selection table) span more than UNCERTAIN_SPAN, so no one choice can be named with
    confidence."""
    rows = selection[selection["criterion"].isin(UNCERTAIN_MEMBERS)]
    chosen = pd.to_numeric(rows[f"selected_{ORACLE_SCORE}"], errors="coerce").dropna()
    return bool(len(chosen) >= 2 and chosen.max() - chosen.min() > UNCERTAIN_SPAN)


def _complete(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["state"] == "COMPLETE"]


def _numbers(done: pd.DataFrame, column: str) -> pd.Series:
    """The finite values of `column` as floats, NaN where missing (all NaN if no such column)."""
    if column not in done:
        return pd.Series(np.nan, index=done.index, dtype=float)
    values = pd.to_numeric(done[column], errors="coerce").astype(float)
    return values.where(np.isfinite(values))


def _oriented(done: pd.DataFrame, criterion: str) -> pd.Series:
    """The criterion's values, negated when lower is better, so higher is always better."""
    values = _numbers(done, criterion)
    return -values if criterion in LOWER_IS_BETTER else values


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation of two aligned series over the rows where both are present
    (Pearson's of their average ranks): 1 for the same order, -1 for the reverse; NaN below two
    rows or when either is constant."""
    both = pd.concat([x, y], axis=1).dropna()
    if len(both) < 2:
        return math.nan
    return float(both.iloc[:, 0].rank().corr(both.iloc[:, 1].rank()))


def _judge(done: pd.DataFrame, criterion: str) -> dict:
    """A criterion's columns of the selection table (without the oracle and median)."""
    values = _oriented(done, criterion).dropna()
    tied = values.index[values == values.max()]  # none when no trial has a value
    chosen = tied[0] if len(tied) else None
    row = {"trials": len(values)}
    for short, score in SELECTION_SCORES.items():
        row[f"spearman_{short}"] = spearman(values, _numbers(done, score))
    for short, score in SELECTION_SCORES.items():
        picked = _numbers(done, score)[tied]
        row[f"selected_{short}"] = float(picked.mean()) if picked.notna().any() else math.nan
    row["selected_cell"] = None if chosen is None else done.at[chosen, "cell"]
    row["selected_trial"] = None if chosen is None else int(done.at[chosen, "trial_number"])
    row["tied"] = len(tied)
    return row


def _reference(done: pd.DataFrame) -> dict:
    """oracle_<score> (of the trial with the best Hungarian accuracy) and median_<score>."""
    accuracy = _numbers(done, SELECTION_SCORES[ORACLE_SCORE]).dropna()
    oracle = accuracy.idxmax() if len(accuracy) else None
    row = {}
    for short, score in SELECTION_SCORES.items():
        values = _numbers(done, score)
        row[f"oracle_{short}"] = math.nan if oracle is None else values[oracle]
        row[f"median_{short}"] = float(values.median()) if values.notna().any() else math.nan
    return row


def selection_metrics(selection: pd.DataFrame) -> dict[str, float]:
    """The selection table as MLflow metrics of the dataset run: `spearman_<score>.<criterion>`
    and `selected_<score>.<criterion>` per criterion, `oracle_<score>` and `median_<score>` once;
    NaN (not computable) left out."""
    metrics = {}
    for row in selection.itertuples(index=False):
        for short in SELECTION_SCORES:
            metrics[f"spearman_{short}.{row.criterion}"] = getattr(row, f"spearman_{short}")
            metrics[f"selected_{short}.{row.criterion}"] = getattr(row, f"selected_{short}")
    for short in SELECTION_SCORES:
        for kind in ("oracle", "median"):
            column = f"{kind}_{short}"
            metrics[column] = selection[column].iloc[0] if len(selection) else math.nan
    return {key: float(value) for key, value in metrics.items() if pd.notna(value)}


def by_accuracy_table(trials: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Each cell's best complete trial by Hungarian accuracy (chosen with the labels; the first
    on ties), one row per cell that has one, shape (cells, len(by_accuracy_columns(parts))):
    the cell's parts, objective, complete trials, the trial's number, the trial the cell's own
    objective chose (`best_trial` of `cells`, the comparison table), its k and metric columns."""
    parts = cell_parts(cells)
    columns = by_accuracy_columns(parts)
    done = _complete(trials)
    accuracy = _numbers(done, SELECTION_SCORES[ORACLE_SCORE])
    scored = done[accuracy.notna()]
    if scored.empty:
        return pd.DataFrame(columns=columns)
    best = scored.loc[accuracy[scored.index].groupby(scored["cell_run_id"], sort=False).idxmax()]
    chosen = cells.set_index("run_id")["best_trial"]
    table = best.assign(
        trials=best["cell_run_id"].map(done.groupby("cell_run_id").size()),
        objective_trial=best["cell_run_id"].map(chosen),
    )
    for column in ("trial_number", "objective_trial", "n_clusters"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    return table[columns].sort_values(parts, ignore_index=True)
