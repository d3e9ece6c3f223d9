"""A cell's study: the configurations queued before sampling, and a start-up phase that scales
with the budget."""

import numpy as np
import optuna
from optuna.trial import TrialState

from clustering.clusterers import CLUSTERERS
from clustering.extractors import EXTRACTORS
from clustering.study.cell import Cell, open_study, sampler


def make_cell(extractor: str, reducer: str, clusterer: str, n_clusters=(10,)) -> Cell:
    X = np.zeros((20, 8, 8, 1), np.float32)
    return Cell("digits", "d1", {}, X, np.arange(20) % 2, extractor, reducer, clusterer,
                list(n_clusters), "reference_asc", 0)  # fmt: skip


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
