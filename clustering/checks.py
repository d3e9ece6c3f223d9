"""Checks of user-given numbers shared by every stage, so each kind of mistake reads the same."""

import numbers

from clustering.errors import BenchError

SEED_MAX = 2**32 - 1
"""The largest seed NumPy's RandomState and scikit-learn accept (seeds are 0..2**32 - 1)."""


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int if it is a whole number (not a bool) in low..high (either bound may be
    None); BenchError naming `name`, the value and the range otherwise."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if whole and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    raise BenchError(f"{name}={value!r} must be {_int_range(low, high)}")


def check_seed(value, name: str = "seed") -> int:
    """A seed in 0..2**32 - 1 as an int; BenchError naming `name` otherwise."""
    return check_int(value, name, 0, SEED_MAX)


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if low is not None:
        return f"a whole number of at least {low}"
    if high is not None:
        return f"a whole number of at most {high}"
    return "a whole number"
