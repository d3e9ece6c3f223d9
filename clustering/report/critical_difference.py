"""Cells compared across datasets (Demsar 2006, "Statistical comparisons of classifiers over
multiple data sets"): each cell's rank on each dataset, its average rank, the Friedman test of
"all cells are equal" and Nemenyi's critical difference, the least difference of average ranks
that is significant; drawn as a critical-difference diagram."""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import friedmanchisquare, rankdata, studentized_range

from clustering.report import figures

ALPHA = 0.05


@dataclass(frozen=True)
class RankTest:
    """ranks: datasets x cells, 1 the best (ties averaged); average_ranks: per cell, best
    first; statistic, p_value: the Friedman test's (NaN with fewer than 3 cells or 2
    datasets); critical_difference: Nemenyi's at `alpha`."""

    ranks: pd.DataFrame
    average_ranks: pd.Series
    statistic: float
    p_value: float
    critical_difference: float
    alpha: float = ALPHA


def rank_test(values: pd.DataFrame, alpha: float = ALPHA) -> RankTest:
    """`values`: datasets x cells, higher is better, cells with a value on every dataset only
    (others are dropped). Ranks by scipy's rankdata, the test by scipy's friedmanchisquare, the
    critical difference q_alpha * sqrt(k (k + 1) / (6 N)) for k cells and N datasets, q_alpha
    the studentized range's upper alpha point for k groups (infinite degrees of freedom) over
    sqrt(2)."""
    values = values.dropna(axis=1)
    n_datasets, k = values.shape
    ranks = values.apply(lambda row: pd.Series(rankdata(-row.to_numpy()), index=row.index), axis=1)
    average = ranks.mean().sort_values(kind="stable")
    statistic = p_value = critical = math.nan
    if k >= 3 and n_datasets >= 2:
        statistic, p_value = friedmanchisquare(*(values[cell].to_numpy() for cell in values))
    if k >= 2 and n_datasets >= 1:
        q_alpha = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
        critical = q_alpha * math.sqrt(k * (k + 1) / (6 * n_datasets))
    return RankTest(ranks, average, float(statistic), float(p_value), float(critical), alpha)


def cliques(average_ranks: pd.Series, critical_difference: float) -> list[tuple[int, int]]:
    """(first, last) positions in `average_ranks` (sorted, best first) of each maximal run of
    cells whose average ranks differ by less than the critical difference: not told apart."""
    values = average_ranks.to_numpy()
    runs = []
    for first in range(len(values)):
        last = first
        while last + 1 < len(values) and values[last + 1] - values[first] < critical_difference:
            last += 1
        if last > first and not any(a <= first and last <= b for a, b in runs):
            runs.append((first, last))
    return runs


def diagram(test: RankTest):
    """The critical-difference diagram: the average-rank axis (1, the best, on the left), each
    cell's name joined to its rank, a bar under the cells not told apart, and the critical
    difference's length above the axis."""
    average = test.average_ranks
    k = len(average)
    half = (k + 1) // 2  # the better half is named on the left, the other on the right
    figure, ax = figures.plt.subplots(figsize=(8, 1.2 + 0.3 * half))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-(half + 1), 1.5)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black")
    for tick in range(1, k + 1):
        ax.vlines(tick, 0, 0.15, color="black")
        ax.text(tick, 0.25, str(tick), ha="center", va="bottom", fontsize=8)
    for position, (cell, rank) in enumerate(average.items()):
        left = position < half
        y = -(position % half + 1) - 0.4 * (not left)
        edge = 0.6 if left else k + 0.4
        ax.plot([rank, rank, edge], [0, y, y], color="black", linewidth=0.8)
        ax.text(edge, y, f"{cell} ({rank:.2f})", ha="right" if left else "left", va="center",
                fontsize=8)  # fmt: skip
    for line, (first, last) in enumerate(cliques(average, test.critical_difference)):
        y = -0.3 - 0.15 * line
        ax.hlines(y, average.iloc[first] - 0.03, average.iloc[last] + 0.03, "black", linewidth=3)
    if math.isfinite(test.critical_difference):
        ax.hlines(1.1, 1, 1 + test.critical_difference, color="black", linewidth=1.5)
        ax.text(1, 1.25, f"CD = {test.critical_difference:.2f} (Nemenyi, alpha {test.alpha})",
                fontsize=8)  # fmt: skip
    ax.set_title(f"Friedman p = {test.p_value:.3g} over {len(test.ranks)} datasets", fontsize=9)
    return figure
