"""Log a cell's best configuration as a pyfunc model on its cell run when its study ends: the
fitted stages (from the cache, else fitted again with the trial's seed), the clusterer fitted
again with the same seed, checked to give the trial's labels on the cell's images."""

import importlib.metadata
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from clustering.model.fitted import fitted_clusterer, fitted_stages, strip_extractor
from clustering.model.pyfunc import ENCODER_ARTIFACT, ClusterModel
from clustering.tracking import CELL_TAG, DATASET_TAG, MODEL_TAG, MODEL_URI_TAG, VERSION_TRIAL_TAG

logger = logging.getLogger(__name__)

N_EXAMPLE = 2  # images in the input example
REQUIREMENTS = ("clustering-bench", "mlflow", "numpy", "pandas", "scikit-learn", "umap-learn")
KERAS_REQUIREMENTS = ("tensorflow-cpu", "keras")


def build_model(cell_data, spec, params: dict, cache=None) -> tuple[ClusterModel, np.ndarray]:
    """(the model of `spec` on `cell_data` for `params` (keyword arguments by stage), its labels
    (n,) of the images: those of the trial's clusterer, kept or fitted again with the seed)."""
    extractor, reducer, reduction = fitted_stages(cell_data, spec, params, cache)
    labels, clusterer = fitted_clusterer(spec, params, reduction, cache)
    model = ClusterModel(
        extractor,
        reducer,
        clusterer,
        cell_data.images.shape[1:],
        cell_data.preprocessing["color"],
        cell_data.name,
    )
    return model, labels


def log_cell_model(
    cell_data, spec, params: dict, trial_number: int, tracker, cell_run_id: str, cache=None
):
    """Log the model of `params` (trial `trial_number`'s configuration of `spec` on `cell_data`)
    on the cell run, once per best trial (tag MODEL_TAG); a failure is logged as a warning,
    never raised."""
    if tracker.tags(cell_run_id).get(MODEL_TAG) == str(trial_number):
        return
    started = time.perf_counter()
    try:
        model, labels = build_model(cell_data, spec, params, cache)
        predicted = model.predict(None, cell_data.images)["cluster"].to_numpy()
        if not np.array_equal(predicted, labels):
            raise ValueError(
                f"the model gives {np.count_nonzero(predicted != labels)} of {len(labels)} "
                "training images another cluster than the trial"
            )
        info = _log(model, cell_data, spec, tracker, cell_run_id, trial_number)
    except Exception as error:
        logger.warning(
            "model of %s (trial %d) not logged: %s: %s",
            spec.label,
            trial_number,
            type(error).__name__,
            error,
        )
        return
    tracker.log(cell_run_id, tags={MODEL_TAG: trial_number, MODEL_URI_TAG: info.model_uri})
    logger.info(
        "[%s] model of trial %d logged in %.1f s: %s",
        spec.label,
        trial_number,
        time.perf_counter() - started,
        info.model_uri,
    )


def _log(model: ClusterModel, cell_data, spec, tracker, cell_run_id: str, trial_number: int):
    _, encoder = strip_extractor(model.extractor)
    described = _description(cell_data, spec, trial_number)
    with tempfile.TemporaryDirectory() as folder:
        artifacts = {}
        if encoder is not None:
            path = Path(folder) / "encoder.keras"
            path.write_bytes(encoder)
            artifacts[ENCODER_ARTIFACT] = str(path)
        return tracker.log_model(
            cell_run_id,
            model,
            spec.run_name,
            artifacts=artifacts,
            signature=model.signature(),
            input_example=np.ascontiguousarray(cell_data.images[:N_EXAMPLE]),
            pip_requirements=_requirements(encoder is not None),
            tags=described,
            metadata={**described, **model.metadata()},
        )


def _description(cell_data, spec, trial_number: int) -> dict:
    return {DATASET_TAG: cell_data.name, CELL_TAG: spec.label, VERSION_TRIAL_TAG: str(trial_number)}


def _requirements(keras: bool) -> list[str]:
    """The installed versions of what the model imports (pinned where installed)."""
    names = [*REQUIREMENTS, *(KERAS_REQUIREMENTS if keras else ())]
    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(name)
    return pinned
