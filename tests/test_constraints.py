"""constraints.txt pins one version of every package pyproject.toml requires (the dev extra
included), each inside pyproject's range, so the README's install command is reproducible."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    lines = (REPO_ROOT / "constraints.txt").read_text().splitlines()
    pinned = [line.split("==") for line in lines if line and not line.startswith("#")]
    assert all(len(pin) == 2 for pin in pinned)
    return {canonicalize_name(name): found for name, found in pinned}


def test_every_requirement_is_pinned_inside_its_range():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    required = project["dependencies"] + project["optional-dependencies"]["dev"]
    pinned = pins()
    for text in required:
        requirement = Requirement(text)
        found = pinned.get(canonicalize_name(requirement.name))
        assert found is not None, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(found), f"{requirement.name}=={found}: {text}"
    assert {"numba", "llvmlite", "pynndescent", "scipy"} <= set(pinned)  # UMAP's numbers
