"""The report's figures as matplotlib objects (Agg backend, never shown), drawn only from the
tidy trials table (one row per trial run: the cell's parts, cell, objective, trial_number, state,
value, n_clusters and every metric): metric bars per cell, ASC against Hungarian accuracy, the
optimisation history, metrics against k, a multi-objective cell's Pareto front."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from clustering.report.columns import (  # noqa: E402
    LOWER_IS_BETTER,
    cell_parts,
    primary_objective,
)

MARKERS = "osD^vP*X"


def close(figure) -> None:
    plt.close(figure)


def complete_trials(trials):
    """The rows of COMPLETE trials."""
    return trials[trials["state"] == "COMPLETE"]


def best_trials(trials):
    """One row per cell: its complete trial with the best objective value (the highest, or the
    lowest for a lower-is-better objective; first on ties)."""
    done = complete_trials(trials).dropna(subset=["value"])
    signed = done["value"] * [_sign(objective) for objective in done["objective"]]
    index = signed.groupby(done["cell"], sort=False).idxmax()
    return done.loc[index].sort_values(cell_parts(trials), ignore_index=True)


def _sign(objective: str) -> float:
    """+1 when the (first) objective is better higher, -1 when lower."""
    return -1.0 if primary_objective(objective) in LOWER_IS_BETTER else 1.0


def searched_cells(trials) -> list[str]:
    """The cells whose complete trials cover more than one n_clusters (k was searched)."""
    counts = complete_trials(trials).groupby("cell")["n_clusters"].nunique()
    return sorted(counts[counts > 1].index)


def _styles(trials) -> tuple[dict, dict]:
    """A colour per extractor and a marker per clusterer, stable for a table."""
    colours = plt.get_cmap("tab10").colors
    extractors = sorted(trials["extractor"].unique())
    clusterers = sorted(trials["clusterer"].unique())
    return (
        {name: colours[i % len(colours)] for i, name in enumerate(extractors)},
        {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(clusterers)},
    )


def metric_bars(trials, metric: str, spread=None):
    """Bars: the best trial's `metric` per cell (best cell outlined); dots: every trial. With
    `spread` (a frame indexed by cell label with columns mean and std, from the repeats), a
    repeated cell's bar is the mean over its repeats with an error bar of ± one std."""
    best = best_trials(trials)
    done = complete_trials(trials)
    colours, _ = _styles(trials)
    positions = np.arange(len(best))
    figure, axis = plt.subplots(figsize=(max(4.0, 0.55 * len(best) + 1.5), 3.2))
    values, errors = _bar_values(best, metric, spread)
    bars = axis.bar(
        positions,
        values,
        color=[colours[e] for e in best["extractor"]],
        alpha=0.8,
        edgecolor="black",
        linewidth=0.5,
    )
    if errors is not None:
        axis.errorbar(positions, values, yerr=errors, fmt="none", ecolor="black", capsize=3)
    for position, cell in zip(positions, best["cell"], strict=True):
        points = done.loc[done["cell"] == cell, metric].dropna().to_numpy(dtype=float)
        jitter = np.linspace(-0.15, 0.15, len(points)) if len(points) > 1 else np.zeros(1)
        axis.scatter(position + jitter[: len(points)], points, s=8, color="black", zorder=3)
    if np.isfinite(values).any():
        pick = np.nanargmin if metric in LOWER_IS_BETTER else np.nanargmax
        winner = bars[int(pick(values))]
        winner.set_linewidth(2.0)
        winner.set_edgecolor("crimson")
    _annotate(axis, bars, values, metric, errors)
    labels = ["\n".join(cell.split(" x ")) for cell in best["cell"]]
    axis.set_xticks(positions, labels, fontsize=7, rotation=45, ha="right")
    axis.set_ylabel(metric)
    what = "best trial per cell" if errors is None else "mean ± std over repeats per cell"
    axis.set_title(f"{metric}: {what} (bars), every trial (dots)", fontsize=9)
    return figure


def _bar_values(best, metric: str, spread) -> tuple[np.ndarray, np.ndarray | None]:
    """Each cell's bar height (its repeats' mean where `spread` has it, else its best trial's
    `metric`) and error (the repeats' std, 0 elsewhere; None without `spread`)."""
    values = best[metric].to_numpy(dtype=float)
    if spread is None:
        return values, None
    means = best["cell"].map(spread["mean"]).to_numpy(dtype=float)
    errors = best["cell"].map(spread["std"]).to_numpy(dtype=float)
    repeated = np.isfinite(means)
    return np.where(repeated, means, values), np.where(repeated, np.nan_to_num(errors), 0.0)


def _annotate(axis, bars, values: np.ndarray, metric: str, errors=None) -> None:
    """Each bar's value above it and its error bar (seconds with 1 decimal, others with 3)."""
    above = np.zeros(len(values)) if errors is None else errors
    for bar, value, error in zip(bars, values, above, strict=True):
        if np.isfinite(value):
            text = f"{value:.1f}" if metric.endswith("seconds") else f"{value:.3f}"
            axis.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height() + error),
                ha="center",
                va="bottom",
                fontsize=6,
            )


def asc_vs_hungarian(trials):
    """Every complete trial: ASC (x) against Hungarian accuracy (y); colour = extractor,
    marker = clusterer."""
    done = complete_trials(trials)
    colours, markers = _styles(trials)
    figure, axis = plt.subplots(figsize=(5.5, 4.0))
    for _, rows in done.groupby(cell_parts(trials)):
        first = rows.iloc[0]
        axis.scatter(
            rows["asc"],
            rows["hungarian_accuracy"],
            color=colours[first["extractor"]],
            marker=markers[first["clusterer"]],
            s=28,
            alpha=0.8,
            edgecolor="black",
            linewidth=0.4,
            label=first["cell"],
        )
    axis.set_xlabel("ASC (average silhouette coefficient)")
    axis.set_ylabel("Hungarian accuracy")
    axis.set_title("every trial: ASC against Hungarian accuracy", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return figure


def optimisation_history(trials):
    """One panel per cell: each complete trial's objective value by trial number and the best
    value so far."""
    cells = best_trials(trials)[["cell", "objective"]].to_numpy()
    done = complete_trials(trials)
    columns = min(4, max(1, len(cells)))
    rows = max(1, math.ceil(len(cells) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 2.8, rows * 2.3), squeeze=False)
    for axis, (cell, objective) in zip(axes.flat, cells, strict=False):
        history = done[done["cell"] == cell].sort_values("trial_number")
        numbers = history["trial_number"].to_numpy()
        values = history["value"].to_numpy(dtype=float)
        axis.plot(numbers, values, "o", markersize=3, color="tab:blue", label="trial")
        axis.step(
            numbers,
            (np.maximum if _sign(objective) > 0 else np.minimum).accumulate(values),
            where="post",
            color="crimson",
            linewidth=1.2,
            label="best so far",
        )
        axis.set_title(cell, fontsize=8)
        axis.set_xlabel("trial", fontsize=7)
        axis.set_ylabel(primary_objective(objective), fontsize=7)
        axis.tick_params(labelsize=6)
        axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in list(axes.flat)[len(cells) :]:
        axis.set_axis_off()
    axes.flat[0].legend(fontsize=6)
    figure.suptitle("optimisation history per cell", fontsize=9)
    figure.tight_layout()
    return figure


def k_sweep(trials, metric: str):
    """For the cells where k was searched: `metric` of every complete trial against
    n_clusters (dots) and its mean at each k (line); log scale for inertia."""
    done = complete_trials(trials)
    colours, markers = _styles(trials)
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for cell in searched_cells(trials):
        rows = done[done["cell"] == cell].dropna(subset=[metric, "n_clusters"])
        extractor, clusterer = rows["extractor"].iloc[0], rows["clusterer"].iloc[0]
        means = rows.groupby("n_clusters")[metric].mean()
        axis.plot(
            means.index,
            means.to_numpy(),
            color=colours[extractor],
            marker=markers[clusterer],
            markersize=4,
            linewidth=1,
            label=cell,
        )
        axis.scatter(rows["n_clusters"], rows[metric], color=colours[extractor], s=10, alpha=0.5)
    if metric == "inertia":
        axis.set_yscale("log")
    axis.set_xlabel("n_clusters (k)")
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} against k (line: mean over trials at each k)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return figure


def pareto_front(trials, cell: str, objectives: list[str], pareto: set[int]):
    """One multi-objective cell's complete trials by its first two objectives (x, y): every
    trial a grey dot, the Pareto-optimal ones (trial numbers in `pareto`) red and numbered."""
    x, y = objectives[:2]
    done = complete_trials(trials)
    rows = done[done["cell"] == cell].dropna(subset=[x, y])
    front = rows["trial_number"].isin(pareto)
    figure, axis = plt.subplots(figsize=(4.8, 3.8))
    axis.scatter(
        rows.loc[~front, x], rows.loc[~front, y], s=16, color="grey", alpha=0.6, label="trial"
    )
    best = rows[front].sort_values(x)
    axis.plot(
        best[x], best[y], "o-", color="crimson", markersize=5, linewidth=0.8, label="Pareto trial"
    )
    for _, row in best.iterrows():
        axis.annotate(
            str(int(row["trial_number"])),
            (row[x], row[y]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    axis.set_xlabel(f"{x} ({_direction(x)})")
    axis.set_ylabel(f"{y} ({_direction(y)})")
    axis.set_title(f"{cell}: Pareto front of {x} and {y}", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6)
    return figure


def _direction(metric: str) -> str:
    return "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
