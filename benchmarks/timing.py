"""Clocks and the machine: interleaved repeats, medians, and what the numbers were measured on.

Other processes share the machine, so a comparison never times all of A and then all of B: it
alternates A, B, A, B, ... within one process (order rotated every repeat) and compares medians.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
from threadpoolctl import threadpool_info


@dataclass
class Timing:
    """Wall-clock seconds of the repeats of one case, and what its last call returned."""

    name: str
    seconds: list[float] = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self) -> dict:
        return {
            "median_s": self.median,
            "min_s": min(self.seconds),
            "max_s": max(self.seconds),
            "repeats": len(self.seconds),
            "seconds": self.seconds,
        }


def interleave(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Time every case `repeats` times, alternating between cases (A, B, C, B, C, A, ...: the
    starting case rotates each round so no case always runs first); returns Timing by name."""
    timings = {name: Timing(name) for name in cases}
    names = list(cases)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            result = cases[name]()
            timings[name].seconds.append(time.perf_counter() - start)
            timings[name].result = result
            del result
    return timings


def relative_difference(ours: float, reference: float) -> float:
    """|ours - reference| / |reference| (0 when both are 0)."""
    if ours == reference:
        return 0.0
    return abs(ours - reference) / abs(reference) if reference else float("inf")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    """What the benchmark ran on: CPU, cores usable, memory, BLAS, library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    blas = [
        {key: info.get(key) for key in ("internal_api", "version", "num_threads", "architecture")}
        for info in threadpool_info()
        if info["user_api"] == "blas" and "numpy" in info.get("filepath", "")
    ]
    versions = {}
    for package in ("numpy", "scipy", "scikit-learn", "validclust", "threadpoolctl"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(_total_memory() / 2**30, 1) if _total_memory() else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy_blas": blas,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "versions": versions,
    }


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gemm_rate(dtype, size: int = 2048, depth: int = 1024, repeats: int = 3) -> float:
    """The machine's matrix-multiply speed in GFLOP/s: best of `repeats` products of two
    (size, depth) matrices of `dtype` with NumPy's BLAS, as many threads as it uses."""
    rng = np.random.default_rng(0)
    A, B = (rng.random((size, depth)).astype(dtype) for _ in range(2))
    out = np.empty((size, size), dtype=dtype)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.dot(A, B.T, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size * size * depth / best / 1e9


def floor_product(X: np.ndarray) -> Callable[[], float]:
    """The floor of a pairwise metric: one X @ X.T on the same data (NumPy computes it as a
    symmetric rank-k update, i.e. each pair once). Returns a case for `interleave`."""

    def case() -> float:
        return float((X @ X.T)[0, 0])

    return case
