"""Which label-free criterion picks good clusterings: `python -m benchmarks.selection_criteria
--data-dir DIR` on the MNIST test images, printing Markdown tables.

Builds clusterings of varied quality (raw pixels, PCA, UMAP features; K-means, Gaussian mixtures,
single linkage; label noise; collapsed embeddings of tight blobs; random labels; k = 10), scores
each with every criterion (own-space asc, dunn, Calinski-Harabasz, Davies-Bouldin; asc and dunn
in two candidate reference spaces, PCA-50 of the pixels and PCA-50 + UMAP-10; the own-space asc
counted only where the space is trustworthy against the UMAP reference (faithful_asc);
stability; generalisation in the own and in the reference spaces) and with the true labels
(Hungarian accuracy, NMI), then reports each criterion's Spearman correlation with accuracy and
NMI and the clustering it would select.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.mixture import GaussianMixture

from clustering import data, reference
from clustering import metrics as m
from clustering.metrics import faithful_asc, generalisation, stability, trustworthiness
from clustering.metrics.internal import asc_and_dunn

K = 10


@dataclass
class Case:
    """One clustering: its name, the features it was found in, labels and how to re-fit it."""

    name: str
    space: str
    labels: np.ndarray
    refit: object  # refit(X_subset, seed) -> labels
    constructed: bool = False  # made by hand (noise, collapse), not a clustering algorithm


def kmeans(X, seed):
    return KMeans(K, n_init=1, random_state=seed).fit_predict(X)


def gmm(X, seed):
    return GaussianMixture(K, covariance_type="full", random_state=seed).fit_predict(X)


def single_linkage(X, seed):
    return AgglomerativeClustering(K, linkage="single").fit_predict(X)


def random_labels(X, seed):
    return np.random.default_rng(seed).integers(K, size=len(X))


def spaces(pixels: np.ndarray, seed: int, say) -> dict[str, np.ndarray]:
    """Every feature space a clustering is found in or scored in, by name."""
    out = {"raw": pixels}
    pca = PCA(50, random_state=seed).fit_transform(pixels).astype(np.float32)
    for dims in (2, 10, 30, 50):
        out[f"pca{dims}"] = pca[:, :dims]
    out["pca50w"] = pca / pca.std(axis=0)
    say("PCA done")
    import umap

    cell = umap.UMAP(n_components=K, n_neighbors=20, min_dist=0.0, random_state=seed + 1)
    out["umap"] = cell.fit_transform(pixels).astype(np.float32)  # N2D's cell, not the reference
    say("cell UMAP done")
    out["ref_pca"] = pca
    out["ref_umap"] = reference.reference_embedding(
        pixels.reshape(-1, 28, 28, 1), random_state=seed
    )
    say("reference UMAP done")
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(K, K)).astype(np.float32)
    out["blobs_random"] = _blobs(centres, rng.integers(K, size=len(pixels)), rng)
    out["blobs_kmeans"] = _blobs(centres, kmeans(pixels, seed), rng)
    return out


def _blobs(centres, ids, rng):
    return centres[ids] + rng.normal(scale=0.01, size=(len(ids), K)).astype(np.float32)


def cases(S: dict[str, np.ndarray], seed: int) -> list[Case]:
    """The clusterings compared; refit re-clusters with the clusterer that made them."""
    plan = [
        ("raw + kmeans (seed 0)", "raw", kmeans, seed),
        ("raw + kmeans (seed 1)", "raw", kmeans, seed + 1),
        ("pca2 + kmeans", "pca2", kmeans, seed),
        ("pca10 + kmeans", "pca10", kmeans, seed),
        ("pca30 + kmeans", "pca30", kmeans, seed),
        ("pca50 + kmeans", "pca50", kmeans, seed),
        ("pca50 whitened + kmeans", "pca50w", kmeans, seed),
        ("pca50 + gmm", "pca50", gmm, seed),
        ("pca50 + single linkage", "pca50", single_linkage, seed),
        ("umap + kmeans (seed 0)", "umap", kmeans, seed),
        ("umap + kmeans (seed 1)", "umap", kmeans, seed + 1),
        ("umap + gmm (seed 0)", "umap", gmm, seed),
        ("umap + gmm (seed 1)", "umap", gmm, seed + 1),
    ]
    out = [Case(name, space, fit(S[space], s), fit) for name, space, fit, s in plan]
    labels = random_labels(S["pca50"], seed)
    out.append(Case("pca50 + random labels", "pca50", labels, random_labels, True))
    best_umap = out[9].labels
    rng = np.random.default_rng(seed)
    for share in (0.25, 0.5):
        noisy = best_umap.copy()
        hit = rng.random(len(noisy)) < share
        noisy[hit] = rng.integers(K, size=hit.sum())
        out.append(Case(f"umap + kmeans, {share:.0%} relabelled", "umap", noisy, kmeans, True))
    blob_ids = {name: kmeans(S[name], seed) for name in ("blobs_random", "blobs_kmeans")}
    for space, groups in (("blobs_random", "random"), ("blobs_kmeans", "raw kmeans")):
        out.append(Case(f"collapsed, {groups} groups", space, blob_ids[space], kmeans, True))
    return out


CRITERIA = {  # name: (higher is better, function(spaces, case, seed))
    "asc": (True, lambda S, c, s: asc_and_dunn(S[c.space], c.labels)),
    "calinski_harabasz": (True, lambda S, c, s: calinski_harabasz_score(S[c.space], c.labels)),
    "davies_bouldin": (False, lambda S, c, s: davies_bouldin_score(S[c.space], c.labels)),
    "faithful_asc": (
        True,
        lambda S, c, s: faithful_asc(
            m.asc(S[c.space], c.labels), trustworthiness(S[c.space], S["ref_umap"], random_state=s)
        ),
    ),
    "ref_pca: asc": (True, lambda S, c, s: asc_and_dunn(S["ref_pca"], c.labels)),
    "ref_umap: asc": (True, lambda S, c, s: asc_and_dunn(S["ref_umap"], c.labels)),
    "stability": (True, lambda S, c, s: stability(S[c.space], c.labels, c.refit, random_state=s)),
    "generalisation": (True, lambda S, c, s: generalisation(S[c.space], c.labels, random_state=s)),
    "ref_pca: generalisation": (
        True,
        lambda S, c, s: generalisation(S["ref_pca"], c.labels, random_state=s),
    ),
    "ref_umap: generalisation": (
        True,
        lambda S, c, s: generalisation(S["ref_umap"], c.labels, random_state=s),
    ),
}

WITH_DUNN = ("asc", "ref_pca: asc", "ref_umap: asc")  # computed by asc_and_dunn, with their dunn


def score(S, case: Case, y_true, seed) -> tuple[dict, dict]:
    """(scores by column, seconds by criterion) of one clustering."""
    row = {
        "hungarian_accuracy": m.hungarian_accuracy(y_true, case.labels),
        "nmi": m.nmi(y_true, case.labels),
    }
    seconds = {}
    for name, (_, function) in CRITERIA.items():
        start = time.perf_counter()
        value = function(S, case, seed)
        seconds[name] = time.perf_counter() - start
        if name in WITH_DUNN:  # asc_and_dunn: one pass, two scores
            prefix = name.removesuffix("asc")
            row[f"{prefix}asc"], row[f"{prefix}dunn"] = value["asc"], value["dunn"]
            seconds[f"{prefix}dunn"] = seconds[name]
        else:
            row[name] = value
    return row, seconds


def directions() -> dict[str, bool]:
    out = {}
    for name, (higher, _) in CRITERIA.items():
        out[name] = higher
        if name in WITH_DUNN:
            out[name.removesuffix("asc") + "dunn"] = higher
    return out


def summary(rows: list[dict], clusterings: list[Case], seconds: dict[str, list]) -> list[dict]:
    """Per criterion: Spearman with accuracy and NMI (sign-adjusted so + means agreement) over
    all clusterings and over the algorithms' only, the clustering it selects (the first, and how
    many more share its value), the accuracy of what it selects (the mean over those tied, as
    the report's selection table counts them), and mean seconds per clustering."""
    acc = np.array([r["hungarian_accuracy"] for r in rows])
    nmi = np.array([r["nmi"] for r in rows])
    real = np.array([not case.constructed for case in clusterings])
    names = [case.name for case in clusterings]
    out = []
    for criterion, higher in directions().items():
        values = np.array([r[criterion] for r in rows]) * (1 if higher else -1)
        tied = np.flatnonzero(values == values.max())
        pick = int(tied[0])
        out.append(
            {
                "criterion": criterion + ("" if higher else " (lower better)"),
                "spearman acc": spearmanr(values, acc).statistic,
                "spearman nmi": spearmanr(values, nmi).statistic,
                "spearman acc, algorithms": spearmanr(values[real], acc[real]).statistic,
                "selects": names[pick] + (f" (+{len(tied) - 1} tied)" if len(tied) > 1 else ""),
                "its acc": float(acc[tied].mean()),
                "best acc": acc.max(),
                "seconds": float(np.mean(seconds[criterion])),
            }
        )
    return out


def markdown(table: list[dict], first: str) -> str:
    columns = list(table[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c == first else "---:" for c in columns) + "|",
    ]
    for row in table:
        cells = [_number(v) if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 1e5 else f"{value:.2e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.selection_criteria", description=__doc__
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of MNIST's IDX test files (default: Keras's cache folder)",
    )
    parser.add_argument("--limit", type=int, default=None, help="a stratified subset of images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def say(text):
        print(f"[{time.perf_counter() - started:6.1f} s] {text}", flush=True)

    dataset = data.load("mnist", data_dir=args.data_dir, limit=args.limit, seed=args.seed)
    pixels = data.preprocess(dataset.images).reshape(len(dataset), -1)
    S = spaces(pixels, args.seed, say)
    clusterings = cases(S, args.seed)
    say(f"{len(clusterings)} clusterings of {len(pixels)} images")
    rows, seconds = [], {}
    for case in clusterings:
        row, took = score(S, case, dataset.labels, args.seed)
        rows.append({"clustering": case.name, **row})
        for name, value in took.items():
            seconds.setdefault(name, []).append(value)
        say(f"{case.name}: acc {row['hungarian_accuracy']:.3f}")
    print(f"\n## Clusterings of {len(pixels)} MNIST test images (k = {K})\n")
    print(markdown(rows, "clustering"))
    print(f"\n## Criteria over {len(rows)} clusterings\n")
    print(markdown(summary(rows, clusterings, seconds), "criterion"))
    say("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
