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
