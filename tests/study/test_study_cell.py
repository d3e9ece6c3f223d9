"""A cell's study: the configurations queued before sampling, and a start-up phase that scales
with the budget."""

import dataclasses
import hashlib
import json

import numpy as np
import optuna
from optuna.trial import TrialState

from clustering.clusterers import CLUSTERERS
from clustering.extractors import EXTRACTORS
from clustering.study.cell import (
    CellData,
    CellSpec,
    open_study,
    sampler,
    set_metric_attrs,
    specs,
    trial_metrics,
)


def make_cell(extractor: str, reducer: str, clusterer: str, n_clusters=(10,)) -> CellSpec:
    return CellSpec("digits", "d1", {}, extractor, reducer, clusterer, tuple(n_clusters),
                    "reference_asc", 0)  # fmt: skip


def test_the_original_configuration_comes_first_then_every_preset():
    cell = make_cell("dense_ae", "umap", "kmeans")
    study = open_study(cell, None, 3)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    queued = [t.system_attrs["fixed_params"] for t in waiting]
    assert queued == cell.known_params()
    assert len(queued) == 1 + len(EXTRACTORS.get("dense_ae").presets) + len(
        CLUSTERERS.get("kmeans").presets
    )
    assert queued[0]["kmeans.init"] == "random" and queued[0]["kmeans.n_init"] == 1
    assert queued[0]["dense_ae.epochs"] == EXTRACTORS.get("dense_ae")().epochs
    assert queued[-1]["kmeans.init"] == "k-means++" and queued[-1]["kmeans.n_init"] == 10
    assert len({tuple(sorted(params.items())) for params in queued}) == len(queued)


def test_queued_configurations_run_first_and_lie_in_the_space():
    cell = make_cell("raw", "none", "kmeans", n_clusters=(10, 20))
    study = open_study(cell, None, 3)
    seen = []

    def objective(trial):
        params = {
            "n_clusters": trial.suggest_categorical("n_clusters", cell.n_clusters),
            **CLUSTERERS.get("kmeans").search_space(trial, n_clusters=10),
        }
        seen.append(params)
        return 0.0

    study.optimize(objective, n_trials=3)
    assert [t.params for t in study.trials[:2]] == cell.known_params()
    assert seen[1]["init"] == "k-means++" and seen[1]["n_clusters"] == 10


def test_the_random_start_up_phase_is_a_third_of_the_budget():
    def objective(trial):
        return (trial.suggest_float("x", 0.0, 1.0) - 0.3) ** 2

    for trials, startup in [(1, 1), (3, 1), (10, 3), (30, 10)]:
        study = optuna.create_study(sampler=sampler(trials, seed=0))
        study.optimize(objective, n_trials=startup + 1)
        drawn = [t.params["x"] for t in study.trials]
        random_draws = optuna.samplers.RandomSampler(seed=0)
        reference = optuna.create_study(sampler=random_draws)
        reference.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=startup + 1)
        random_xs = [t.params["x"] for t in reference.trials]
        assert drawn[:startup] == random_xs[:startup]  # the start-up phase: random draws
        assert drawn[startup] != random_xs[startup]  # then the model-based phase


def test_a_study_that_holds_stages_has_its_own_name_and_a_full_search_keeps_the_old_one():
    """Studies made before --search existed resume under the same name."""
    full = make_cell("dense_ae", "umap", "gmm")
    held = dataclasses.replace(full, search=("reducer", "clusterer"))
    assert full.study_name != held.study_name
    setup = [full.digest, full.preprocessing, list(full.n_clusters), full.objective, full.seed]
    key = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:8]
    assert full.study_name == f"digits.dense_ae.umap.gmm.{key}"


def test_held_parameters_are_the_held_stages_of_the_best_trial_else_of_the_first_queued():
    cell = make_cell("dense_ae", "umap", "kmeans")
    study = open_study(cell, None, 3)

    def extractor_part(params):
        return {k: v for k, v in params.items() if k.startswith("dense_ae.")}

    assert cell.held_params(study) == {}  # every stage searched: nothing held
    cell = dataclasses.replace(cell, search=("reducer", "clusterer"))
    first, n2d = cell.known_params()[:2]
    assert extractor_part(first) and cell.held_params(study) == extractor_part(first)

    def objective(trial):  # the queued n2d preset (trial 1) scores best
        cell.params_of(trial)
        return 1.0 if trial.number == 1 else 0.0

    study.optimize(objective, n_trials=2)
    assert cell.held_params(study) == extractor_part(n2d) != extractor_part(first)


def test_one_spec_per_cell_and_the_same_cell_over_seeds_and_data_is_a_loop_over_values():
    """specs() crosses the config's stages; a seed or a dataset is a value replaced, and the
    study name follows it (every other field kept)."""
    from clustering.config import RunConfig

    config = RunConfig(extractors=["raw"], reducers=["none", "pca"], clusterers=["kmeans"])
    X = np.zeros((20, 8, 8, 1), np.float32)
    one = CellData("digits", "d1", {"limit": 20}, X, np.arange(20) % 2)
    other = CellData("mnist", "d2", {"limit": 20}, X, np.arange(20) % 4)
    cells = specs(config, one)
    assert [cell.label for cell in cells] == ["raw x none x kmeans", "raw x pca x kmeans"]
    assert cells[0].n_clusters == (2,) and specs(config, other)[0].n_clusters == (4,)
    names = {
        dataclasses.replace(cell, seed=seed).study_name
        for cell_data in (one, other)
        for cell in specs(config, cell_data)
        for seed in range(3)
    }
    assert len(names) == 2 * 2 * 3


def test_trial_scores_are_numeric_user_attributes_and_old_stores_still_read():
    study = optuna.create_study(direction="maximize")
    new = study.ask()
    set_metric_attrs(new, {"asc": 0.5, "nmi": 0.25})
    study.tell(new, 0.5)
    old = study.ask()
    old.set_user_attr("metrics", {"asc": 0.75})  # how stores made before kept them
    study.tell(old, 0.75)
    first, second = study.trials
    assert first.user_attrs == {"metric.asc": 0.5, "metric.nmi": 0.25}
    assert trial_metrics(first) == {"asc": 0.5, "nmi": 0.25}
    assert trial_metrics(second) == {"asc": 0.75}
