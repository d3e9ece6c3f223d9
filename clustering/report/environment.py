"""The versions and the machine a report was made with, written beside its tables as
environment.md and summed up on report.html: the numbers of a seeded run depend on them (the
UMAP cells on numba's CPU target, see clustering/reducers/portable.py)."""

import os
import platform
from importlib.metadata import PackageNotFoundError, version

from clustering.reducers.portable import PORTABLE_CPU

# the packages whose versions decide the numbers (constraints.txt pins them all)
PACKAGES = (
    "clustering-bench",
    "tensorflow-cpu",
    "keras",
    "mlflow",
    "optuna",
    "scikit-learn",
    "umap-learn",
    "pynndescent",
    "numba",
    "llvmlite",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "threadpoolctl",
)


def versions() -> dict[str, str]:
    """{"python": "3.11.7", package: version or "not installed"} for PACKAGES."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def machine() -> dict[str, str]:
    """The system, the CPU (its model, LLVM's name for it, the numba target used), the cores,
    the memory and the BLAS library's kernel."""
    import numba
    import threadpoolctl
    from llvmlite import binding

    blas = [
        f"{pool['internal_api']} {pool['version']} ({pool.get('architecture') or '?'})"
        for pool in threadpoolctl.threadpool_info()
        if pool["user_api"] == "blas"
    ]
    return {
        "system": platform.platform(),
        "cpu": _cpu_model(),
        "llvm cpu": binding.get_host_cpu_name(),
        "numba target": numba.config.CPU_NAME or PORTABLE_CPU,  # as compile_for_any_cpu sets
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "blas": ", ".join(dict.fromkeys(blas)) or "none loaded",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return "unknown"
    return f"{total / 2**30:.1f} GiB"


def environment_markdown(found_versions: dict, found_machine: dict) -> str:
    """environment.md's text: two tables, the versions and the machine."""
    lines = ["# Environment", "", "The versions and the machine this report was made with.", ""]
    lines += ["| package | version |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in found_versions.items()]
    lines += ["", "| machine | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in found_machine.items()]
    return "\n".join(lines) + "\n"


def environment_line(found_versions: dict, found_machine: dict) -> str:
    """One line for report.html: the versions, then the machine."""
    packages = ", ".join(f"{name} {value}" for name, value in found_versions.items())
    where = (
        f"{found_machine['system']}, {found_machine['cores']} cores ({found_machine['cpu']}, "
        f"LLVM {found_machine['llvm cpu']}, numba target {found_machine['numba target']}), "
        f"{found_machine['memory']}, BLAS {found_machine['blas']}"
    )
    return f"Made with {packages}; on {where} (environment.md)."
