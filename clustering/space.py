"""Search spaces declared once: the same declaration samples an Optuna trial and gives the
default configuration (and any named preset), so the two cannot drift apart.

A registered class declares its space in `declare(space, ...)` with `space.int`, `space.float`
and `space.categorical`, each with its `default`; names are prefixed by the registry name
(`"vae.latent_dim"`). With an Optuna trial behind it, `Space` samples; without one, it returns the
defaults (or a preset's values) and records them as the Optuna parameters to enqueue.
"""

from collections.abc import Sequence

from clustering.errors import BenchError


class Space:
    """Parameters of one trial (`trial` given) or of the defaults (`trial` None).

    `preset`: values (unprefixed names) that replace the defaults when `trial` is None.
    After `declare` ran, `params` holds the prefixed Optuna parameters that were used.
    """

    def __init__(self, prefix: str, trial=None, preset: dict | None = None):
        self.prefix = prefix
        self.trial = trial
        self.preset = dict(preset or {})
        self.params: dict = {}

    def int(self, name: str, low: int, high: int, *, default: int, log: bool = False) -> int:
        """An integer in [low, high] (log-uniform when `log`)."""
        key = self._key(name)
        if self.trial is not None:
            return self._record(key, self.trial.suggest_int(key, low, high, log=log))
        value = self._fixed(name, default)
        if not (isinstance(value, int) and low <= value <= high):
            raise BenchError(f"{key}={value!r} is outside its space [{low}, {high}]")
        return self._record(key, value)

    def float(
        self, name: str, low: float, high: float, *, default: float, log: bool = False
    ) -> float:
        """A float in [low, high] (log-uniform when `log`)."""
        key = self._key(name)
        if self.trial is not None:
            return self._record(key, self.trial.suggest_float(key, low, high, log=log))
        value = self._fixed(name, default)
        if not low <= value <= high:
            raise BenchError(f"{key}={value!r} is outside its space [{low}, {high}]")
        return self._record(key, float(value))

    def categorical(self, name: str, choices: Sequence, *, default):
        """One of `choices` (None, bool, int, float or str values)."""
        key = self._key(name)
        if self.trial is not None:
            return self._record(key, self.trial.suggest_categorical(key, list(choices)))
        value = self._fixed(name, default)
        if value not in choices:
            raise BenchError(f"{key}={value!r} is not one of {list(choices)}")
        return self._record(key, value)

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def _fixed(self, name: str, default):
        return self.preset.get(name, default)

    def _record(self, key: str, value):
        self.params[key] = value
        return value


class Searchable:
    """Mixin of every registered class with a search space: `declare` once, derive the rest.

    Subclasses set `name` (the registry does) and `presets` (named known-good configurations,
    unprefixed parameter values that override the defaults), and implement `declare`.
    """

    name: str = ""
    presets: dict[str, dict] = {}

    @classmethod
    def declare(cls, space: Space, **context) -> dict:
        """The `__init__` keyword arguments, drawn from `space`; `context` as the kind defines
        (clusterers and reducers get `n_clusters`)."""
        return {}

    @classmethod
    def search_space(cls, trial, **context) -> dict:
        """`__init__` keyword arguments for one Optuna trial (or a FixedTrial)."""
        return cls.declare(Space(cls.name, trial), **context)

    @classmethod
    def default_params(cls, preset: str | None = None, **context) -> dict:
        """The Optuna parameters (prefixed names) of the default configuration, or of a named
        preset, to enqueue before sampling."""
        space = Space(cls.name, preset=cls.presets[preset] if preset else None)
        cls.declare(space, **context)
        return space.params

    @classmethod
    def known_params(cls, **context) -> list[dict]:
        """The default configuration first, then each preset's, as Optuna parameters."""
        return [cls.default_params(**context)] + [
            cls.default_params(preset, **context) for preset in cls.presets
        ]
