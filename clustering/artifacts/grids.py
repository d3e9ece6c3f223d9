"""Pictures of images as matplotlib figures (Agg backend, never shown): image grids, originals
over reconstructions, cluster centres, members of each cluster and the cluster x label counts of
one clustering. Arrays in, figures out; the cell pictures are drawn with these."""

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


def centres_grid(images: np.ndarray, sizes, majority_labels):
    """Cluster centres as images (k, h, w, c) in [0, 1], titled `size / majority label`."""
    titles = [f"n={size} y={label}" for size, label in zip(sizes, majority_labels, strict=True)]
    columns = min(len(images), 10)
    figure = image_grid(images, columns=columns, titles=titles, cell_inches=1.0)
    figure.suptitle(
        "cluster centres (n = size, y = majority label)", fontsize=8, y=1.0, va="bottom"
    )
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


def cluster_samples_grid(
    X: np.ndarray,
    labels: np.ndarray,
    y_true: np.ndarray,
    *,
    per_cluster: int = 10,
    max_clusters: int = 40,
    random_state: int = 0,
):
    """One row per cluster (largest first, at most `max_clusters`): `per_cluster` random member
    images (n, h, w, c) in [0, 1], each with its true label in the corner. One picture, drawn
    as a single image (fast for many clusters)."""
    clusters, sizes = np.unique(labels, return_counts=True)
    order = np.argsort(-sizes, kind="stable")[:max_clusters]
    h, w = X.shape[1:3]
    tiles, names = _sample_members(X, labels, y_true, clusters[order], per_cluster, random_state)
    picture = montage(tiles, len(order), per_cluster)
    scale = 0.55 if h <= 16 else 0.7
    figure, axis = plt.subplots(figsize=(per_cluster * scale + 1.0, len(order) * scale + 0.6))
    gray = picture.shape[-1] == 1
    axis.imshow(
        picture[..., 0] if gray else picture,
        cmap="gray" if gray else None,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    for index, name in enumerate(names):
        if name != "":
            top, left = 1 + (index // per_cluster) * (h + 1), 1 + (index % per_cluster) * (w + 1)
            axis.text(
                left + 0.2, top + 0.2, str(name), fontsize=5, color="orange", ha="left", va="top"
            )
    axis.set_yticks(
        [1 + row * (h + 1) + h / 2 for row in range(len(order))],
        [f"c{clusters[p]} n={sizes[p]}" for p in order],
        fontsize=6,
    )
    axis.set_xticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)
    shown = "" if len(order) == len(clusters) else f", {len(order)} largest of {len(clusters)}"
    axis.set_title(f"random members of each cluster (orange: true label{shown})", fontsize=8)
    return figure


def _sample_members(X, labels, y_true, clusters, per_cluster: int, random_state: int):
    """`per_cluster` random members of each of `clusters` in turn, as tiles (white where a
    cluster has fewer) and their true labels ("" for white tiles)."""
    rng = np.random.default_rng(random_state)
    tiles = np.ones((len(clusters) * per_cluster, *X.shape[1:]), dtype=np.float32)
    names = np.full(len(tiles), "", dtype=object)
    for row, cluster in enumerate(clusters):
        members = np.flatnonzero(labels == cluster)
        chosen = rng.choice(members, size=min(per_cluster, len(members)), replace=False)
        tiles[row * per_cluster : row * per_cluster + len(chosen)] = X[chosen]
        names[row * per_cluster : row * per_cluster + len(chosen)] = y_true[chosen]
    return tiles, names


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
    axis.set_yticks(
        range(len(clusters)),
        [f"c{c}" for c in clusters[order]],
        fontsize=6 if len(clusters) > 20 else 7,
    )
    axis.set_xlabel("true label")
    axis.set_ylabel("cluster")
    if counts.size <= 400:
        threshold = counts.max() / 2
        for (row, column), count in np.ndenumerate(counts):
            if count:
                axis.text(
                    column,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if count > threshold else "black",
                )
    axis.set_title("cluster x label counts", fontsize=9)
    return figure


def close(figure) -> None:
    """Free a figure once it is saved."""
    plt.close(figure)
