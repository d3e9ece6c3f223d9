"""Figures as matplotlib objects (Agg backend, never shown): image grids and reconstructions."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _show(axis, image: np.ndarray) -> None:
    """Draw one image (h, w, c) with values in [0, 1]; gray when c == 1."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axis.imshow(image, interpolation="nearest")
    axis.set_axis_off()


def image_grid(images: np.ndarray, columns: int | None = None, titles=None, cell_inches=0.9):
    """A grid of images (m, h, w, c) in [0, 1]; optional per-image titles."""
    count = len(images)
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(columns * cell_inches, rows * cell_inches), squeeze=False
    )
    for index, axis in enumerate(axes.flat):
        if index < count:
            _show(axis, images[index])
            if titles is not None:
                axis.set_title(str(titles[index]), fontsize=7)
        else:
            axis.set_axis_off()
    return figure


def reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray):
    """Originals (m, h, w, c) on the top row, their reconstructions below, both in [0, 1]."""
    count = len(originals)
    figure, axes = plt.subplots(2, count, figsize=(count * 0.8, 1.8), squeeze=False)
    for index in range(count):
        _show(axes[0, index], originals[index])
        _show(axes[1, index], reconstructions[index])
    axes[0, 0].set_title("original", fontsize=7, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=7, loc="left")
    return figure


def close(figure) -> None:
    plt.close(figure)


# --- per-cell pictures of one clustering (arrays in, figures out) ---


def centres_grid(images: np.ndarray, sizes, majority_labels):
    """Cluster centres as images (k, h, w, c) in [0, 1], titled `size / majority label`."""
    titles = [f"n={size} y={label}" for size, label in zip(sizes, majority_labels, strict=True)]
    columns = min(len(images), 10)
    figure = image_grid(images, columns=columns, titles=titles, cell_inches=1.0)
    figure.suptitle("cluster centres (n = size, y = majority label)", fontsize=8, y=1.0,
                    va="bottom")
    return figure


def montage(images: np.ndarray, rows: int, columns: int, pad: int = 1) -> np.ndarray:
    """Tile images (m, h, w, c) in [0, 1] row-major into one (rows, columns) picture with `pad`
    white pixels between tiles; missing tiles stay white. Returns (H, W, c)."""
    m, h, w, c = images.shape
    canvas = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), dtype=np.float32)
    for index in range(min(m, rows * columns)):
        top, left = pad + (index // columns) * (h + pad), pad + (index % columns) * (w + pad)
        canvas[top : top + h, left : left + w] = np.clip(images[index], 0.0, 1.0)
    return canvas


def cluster_samples_grid(X: np.ndarray, labels: np.ndarray, y_true: np.ndarray, *,
                         per_cluster: int = 10, max_clusters: int = 40, random_state: int = 0):
    """One row per cluster (largest first, at most `max_clusters`): `per_cluster` random member
    images (n, h, w, c) in [0, 1], each with its true label in the corner. One picture, drawn
    as a single image (fast for many clusters)."""
    rng = np.random.default_rng(random_state)
    clusters, sizes = np.unique(labels, return_counts=True)
    order = np.argsort(-sizes, kind="stable")[:max_clusters]
    h, w = X.shape[1:3]
    tiles = np.ones((len(order) * per_cluster, *X.shape[1:]), dtype=np.float32)
    names = np.full(len(tiles), "", dtype=object)
    for row, position in enumerate(order):
        members = np.flatnonzero(labels == clusters[position])
        chosen = rng.choice(members, size=min(per_cluster, len(members)), replace=False)
        tiles[row * per_cluster : row * per_cluster + len(chosen)] = X[chosen]
        names[row * per_cluster : row * per_cluster + len(chosen)] = y_true[chosen]
    picture = montage(tiles, len(order), per_cluster)
    scale = 0.55 if h <= 16 else 0.7
    figure, axis = plt.subplots(figsize=(per_cluster * scale + 1.0, len(order) * scale + 0.6))
    gray = picture.shape[-1] == 1
    axis.imshow(picture[..., 0] if gray else picture, cmap="gray" if gray else None,
                vmin=0.0, vmax=1.0, interpolation="nearest")
    for index, name in enumerate(names):
        if name != "":
            top, left = 1 + (index // per_cluster) * (h + 1), 1 + (index % per_cluster) * (w + 1)
            axis.text(left + 0.2, top + 0.2, str(name), fontsize=5, color="orange",
                      ha="left", va="top")
    axis.set_yticks([1 + row * (h + 1) + h / 2 for row in range(len(order))],
                    [f"c{clusters[p]} n={sizes[p]}" for p in order], fontsize=6)
    axis.set_xticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)
    shown = "" if len(order) == len(clusters) else f", {len(order)} largest of {len(clusters)}"
    axis.set_title(f"random members of each cluster (orange: true label{shown})", fontsize=8)
    return figure


def confusion_heatmap(labels: np.ndarray, y_true: np.ndarray):
    """Cluster x true-label counts; clusters sorted by majority label, then size."""
    clusters, cluster_index = np.unique(labels, return_inverse=True)
    classes, class_index = np.unique(y_true, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (cluster_index, class_index), 1)
    order = np.lexsort((-counts.sum(axis=1), counts.argmax(axis=1)))
    counts = counts[order]
    height = max(2.5, 0.22 * len(clusters) + 1.0)
    figure, axis = plt.subplots(figsize=(max(3.5, 0.4 * len(classes) + 1.5), height))
    shown = axis.imshow(counts, cmap="Blues", aspect="auto")
    figure.colorbar(shown, ax=axis, fraction=0.05)
    axis.set_xticks(range(len(classes)), [str(c) for c in classes], fontsize=7)
    axis.set_yticks(range(len(clusters)), [f"c{c}" for c in clusters[order]],
                    fontsize=6 if len(clusters) > 20 else 7)
    axis.set_xlabel("true label")
    axis.set_ylabel("cluster")
    if counts.size <= 400:
        threshold = counts.max() / 2
        for (row, column), count in np.ndenumerate(counts):
            if count:
                axis.text(column, row, str(count), ha="center", va="center", fontsize=5,
                          color="white" if count > threshold else "black")
    axis.set_title("cluster x label counts", fontsize=9)
    return figure


# --- report figures, drawn only from the tidy trials table (one row per trial run: extractor,
# clusterer, cell, objective, trial_number, state, value, n_clusters and every metric) ---

LOWER_IS_BETTER = ("fit_seconds", "metric_seconds", "inertia")
MARKERS = "osD^vP*X"


def complete_trials(trials):
    """The rows of COMPLETE trials."""
    return trials[trials["state"] == "COMPLETE"]


def best_trials(trials):
    """One row per cell: its complete trial with the highest objective value (first on ties)."""
    done = complete_trials(trials).dropna(subset=["value"])
    index = done.groupby("cell", sort=False)["value"].idxmax()
    return done.loc[index].sort_values(["extractor", "clusterer"], ignore_index=True)


def searched_cells(trials) -> list[str]:
    """The cells whose complete trials cover more than one n_clusters (k was searched)."""
    counts = complete_trials(trials).groupby("cell")["n_clusters"].nunique()
    return sorted(counts[counts > 1].index)


def _styles(trials) -> tuple[dict, dict]:
    """A colour per extractor and a marker per clusterer, stable for a table."""
    colours = plt.get_cmap("tab10").colors
    extractors = sorted(trials["extractor"].unique())
    clusterers = sorted(trials["clusterer"].unique())
    return ({name: colours[i % len(colours)] for i, name in enumerate(extractors)},
            {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(clusterers)})


def metric_bars(trials, metric: str):
    """Bars: the best trial's `metric` per cell (best cell outlined); dots: every trial."""
    best = best_trials(trials)
    done = complete_trials(trials)
    colours, _ = _styles(trials)
    positions = np.arange(len(best))
    figure, axis = plt.subplots(figsize=(max(4.0, 0.55 * len(best) + 1.5), 3.2))
    values = best[metric].to_numpy(dtype=float)
    bars = axis.bar(positions, values, color=[colours[e] for e in best["extractor"]],
                    alpha=0.8, edgecolor="black", linewidth=0.5)
    for position, cell in zip(positions, best["cell"], strict=True):
        points = done.loc[done["cell"] == cell, metric].dropna().to_numpy(dtype=float)
        jitter = np.linspace(-0.15, 0.15, len(points)) if len(points) > 1 else np.zeros(1)
        axis.scatter(position + jitter[: len(points)], points, s=8, color="black", zorder=3)
    if np.isfinite(values).any():
        pick = np.nanargmin if metric in LOWER_IS_BETTER else np.nanargmax
        winner = bars[int(pick(values))]
        winner.set_linewidth(2.0)
        winner.set_edgecolor("crimson")
    for bar, value in zip(bars, values, strict=True):
        if np.isfinite(value):
            text = f"{value:.1f}" if metric.endswith("seconds") else f"{value:.3f}"
            axis.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=6)
    axis.set_xticks(positions, [f"{e}\n{c}" for e, c in zip(best["extractor"],
                                                             best["clusterer"], strict=True)],
                    fontsize=7, rotation=45, ha="right")
    axis.set_ylabel(metric)
    axis.set_title(f"{metric}: best trial per cell (bars), every trial (dots)", fontsize=9)
    return figure


def asc_vs_hungarian(trials):
    """Every complete trial: ASC (x) against Hungarian accuracy (y); colour = extractor,
    marker = clusterer."""
    done = complete_trials(trials)
    colours, markers = _styles(trials)
    figure, axis = plt.subplots(figsize=(5.5, 4.0))
    for (extractor, clusterer), rows in done.groupby(["extractor", "clusterer"]):
        axis.scatter(rows["asc"], rows["hungarian_accuracy"], color=colours[extractor],
                     marker=markers[clusterer], s=28, alpha=0.8, edgecolor="black",
                     linewidth=0.4, label=f"{extractor} x {clusterer}")
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
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 2.8, rows * 2.3),
                                squeeze=False)
    for axis, (cell, objective) in zip(axes.flat, cells, strict=False):
        history = done[done["cell"] == cell].sort_values("trial_number")
        numbers = history["trial_number"].to_numpy()
        values = history["value"].to_numpy(dtype=float)
        axis.plot(numbers, values, "o", markersize=3, color="tab:blue", label="trial")
        axis.step(numbers, np.maximum.accumulate(values), where="post", color="crimson",
                  linewidth=1.2, label="best so far")
        axis.set_title(cell, fontsize=8)
        axis.set_xlabel("trial", fontsize=7)
        axis.set_ylabel(objective, fontsize=7)
        axis.tick_params(labelsize=6)
        axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in list(axes.flat)[len(cells):]:
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
        axis.plot(means.index, means.to_numpy(), color=colours[extractor],
                  marker=markers[clusterer], markersize=4, linewidth=1, label=cell)
        axis.scatter(rows["n_clusters"], rows[metric], color=colours[extractor], s=10,
                     alpha=0.5)
    if metric == "inertia":
        axis.set_yscale("log")
    axis.set_xlabel("n_clusters (k)")
    axis.set_ylabel(metric)
    axis.set_title(f"{metric} against k (line: mean over trials at each k)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return figure
