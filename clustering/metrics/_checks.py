"""Input checks shared by the metrics: each validates one argument and raises BenchError naming the
bad value and the fix; the metrics' private cores then assume valid input."""

import numpy as np
from sklearn.utils import check_random_state

from clustering.checks import check_int
from clustering.errors import BenchError


def check_X(X) -> np.ndarray:
    """X as a 2-D array of finite real numbers with at least one sample and feature."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise BenchError(
            f"X must be 2-D (n_samples, n_features), got shape {X.shape}; "
            "flatten images first, e.g. X.reshape(len(X), -1)"
        )
    if X.dtype.kind not in "biuf":
        raise BenchError(f"X must hold real numbers, got dtype {X.dtype}; convert it to float")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise BenchError(f"X is empty (shape {X.shape}); pass at least one sample and feature")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise BenchError("X contains NaN or infinity; remove or impute those rows first")
    return X


def check_labels(labels, n_samples: int, name: str = "labels") -> np.ndarray:
    """labels as a 1-D array of n_samples entries."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise BenchError(f"{name} must be 1-D (n_samples,), got shape {labels.shape}; ravel it")
    if len(labels) != n_samples:
        raise BenchError(
            f"{name} has {len(labels)} entries but there are {n_samples} samples; "
            "pass one label per row of X"
        )
    return labels


def check_pair(y_true, labels) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, labels) as 1-D arrays of equal, non-zero length."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise BenchError(f"labels must be 1-D and non-empty, got shape {labels.shape}")
    return check_labels(y_true, len(labels), name="y_true"), labels


def check_chunk_size(chunk_size) -> None:
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", low=1)


def sample_index(n_samples: int, sample_size, random_state) -> np.ndarray:
    """Rows drawn exactly as sklearn's silhouette_score: permutation(n)[:sample_size]."""
    check_int(sample_size, "sample_size", low=1)
    return check_random_state(random_state).permutation(n_samples)[:sample_size]
