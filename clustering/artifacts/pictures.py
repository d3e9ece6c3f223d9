"""Pictures of one cell's best configuration: cluster centres as images, members of each
cluster, the cluster x label counts, and the extractor's reconstructions (and samples).

Arrays in, matplotlib figures out: the study re-runs the best trial's configuration once per
cell (the feature cache answers) with the cluster labels its trial run kept, so nothing is
re-fitted (without them the clusterer is re-fitted with the trial's seed), and logs the figures
onto the cell run.
"""

import logging

import numpy as np

from clustering import pipeline
from clustering.artifacts import grids
from clustering.extractors import EXTRACTORS, PatchKMeans
from clustering.model.fitted import kept_extractor

logger = logging.getLogger(__name__)

N_GENERATED = 16


def draw(cell_data, spec, params: dict, cache=None, labels=None) -> dict:
    """Figures by file name for `spec` (a study.cell.CellSpec) on `cell_data` (its CellData) in
    one configuration, `params` the `__init__` keyword arguments by stage ("extractor",
    "reducer", "clusterer"):
    `centres.png` (each cluster's mean code as pixels: raw, or decoded when the extractor has
    a decoder), `cluster_samples.png`, `confusion.png`, `reconstructions.png` (autoencoders)
    `generated.png` (extractors that can sample, i.e. the VAE) and `atoms.png` (the dictionary
    of `patch_kmeans`). `labels` (n,): the configuration's cluster labels where they are known
    (a trial's), else the clusterer is fitted with `spec.seed`."""
    X, y_true = cell_data.X, cell_data.y_true
    extraction, reduction = pipeline.embed(cell_data, spec, params, cache)
    if labels is None:
        labels, _ = pipeline.cluster(
            reduction.embedding, spec.clusterer, params["clusterer"], seed=spec.seed
        )
    figures = {}
    n_clusters = int(labels.max()) + 1
    centres = centre_images(
        spec.extractor, extraction, mean_codes(extraction.features, labels), X.shape[1:]
    )
    if centres is not None:
        sizes = np.bincount(labels, minlength=n_clusters)
        majority = majority_labels(labels, y_true, n_clusters)
        figures["centres.png"] = grids.centres_grid(centres, sizes, majority)
    figures["cluster_samples.png"] = grids.cluster_samples_grid(
        X, labels, y_true, random_state=spec.seed
    )
    figures["confusion.png"] = grids.confusion_heatmap(labels, y_true)
    if extraction.reconstructions is not None:
        originals = X[: len(extraction.reconstructions)]
        figures["reconstructions.png"] = grids.reconstruction_grid(
            originals, extraction.reconstructions
        )
    atoms = dictionary_atoms(spec.extractor, extraction, cache)
    if atoms is not None:
        figures["atoms.png"] = grids.image_grid(atoms, cell_inches=0.5)
    generated = generated_images(spec.extractor, extraction, spec.seed)
    if generated is not None:
        figures["generated.png"] = grids.image_grid(generated)
    return figures


def mean_codes(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each cluster's mean feature vector (k, d), k = labels.max() + 1 (zeros for an empty
    cluster): the centre in the extractor's space whatever space the clusterer worked in."""
    n_clusters = int(labels.max()) + 1
    sums = np.zeros((n_clusters, features.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, features)
    counts = np.bincount(labels, minlength=n_clusters)[:, np.newaxis]
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def centre_images(extractor_name: str, extraction, centres: np.ndarray, image_shape):
    """Centres (k, d) in the extractor's feature space as images (k, h, w, c) in [0, 1],
    decoded by the extractor (reshaped pixels for `raw`, the decoder for autoencoders); None
    where features do not map back to pixels (U-Net)."""
    decode = extraction.decode_function()
    if decode is None:
        logger.info("%s has no decoder: its cluster centres are not drawn", extractor_name)
        return None
    images = np.asarray(decode(np.asarray(centres, dtype=np.float32)), dtype=np.float32)
    return np.clip(images.reshape(len(centres), *image_shape), 0.0, 1.0)


def generated_images(extractor_name: str, extraction, seed: int):
    """N_GENERATED images decoded from z ~ N(0, I) for extractors that sample (the VAE)."""
    if not EXTRACTORS.get(extractor_name).samples:
        return None
    if extraction.extractor is not None:
        return extraction.extractor.sample(N_GENERATED, random_state=seed)
    decode = extraction.decode_function()
    if decode is None:
        return None
    latent_dim = extraction.features.shape[1]
    z = np.random.default_rng(seed).standard_normal((N_GENERATED, latent_dim))
    return decode(z.astype(np.float32))


def dictionary_atoms(extractor_name: str, extraction, cache=None):
    """The first 100 dictionary atoms (m, p, p, c) in [0, 1] of a `patch_kmeans` extraction
    (its fitted extractor, else the one kept beside the cache); None for other extractors."""
    if not issubclass(EXTRACTORS.get(extractor_name), PatchKMeans):
        return None
    extractor = extraction.extractor or kept_extractor(cache, extraction.key)
    return None if extractor is None else extractor.atom_images(100)


def majority_labels(labels: np.ndarray, y_true: np.ndarray, n_clusters: int) -> list:
    """The most frequent true label of each cluster 0..n_clusters-1 ('-' when empty)."""
    result = []
    for cluster in range(n_clusters):
        members = y_true[labels == cluster]
        if len(members):
            values, counts = np.unique(members, return_counts=True)
            result.append(values[np.argmax(counts)])
        else:
            result.append("-")
    return result
