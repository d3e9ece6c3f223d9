"""Assertions shared by the contract tests of every registry with a search space (extractors,
reducers, clusterers): the defaults and presets lie inside the declared space, and Optuna can
enqueue them and give them back unchanged."""

import optuna
from optuna.distributions import CategoricalDistribution


def in_distribution(distribution, value) -> bool:
    """Whether `value` is one Optuna `distribution` can propose."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


def assert_params_in_space(cls, **context) -> None:
    """The default configuration and every preset: prefixed names, each value inside its
    declared range, and exactly the parameters the space asks for with them."""
    for params in cls.known_params(**context):
        assert all(key.startswith(f"{cls.name}.") for key in params)
        trial = optuna.trial.FixedTrial(params)
        cls(**cls.search_space(trial, **context))
        assert set(trial.params) == set(params)
        for key, value in params.items():
            assert in_distribution(trial.distributions[key], value), (key, value)


def assert_known_params_enqueue(cls, **context) -> None:
    """Every known configuration, enqueued in a study, comes back as the next trials' params."""
    known = cls.known_params(**context)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for params in known:
        study.enqueue_trial(params)
    for params in known:
        trial = study.ask()
        cls(**cls.search_space(trial, **context))
        assert trial.params == params
        study.tell(trial, 0.0)
