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


def requirements(project: dict) -> list[Requirement]:
    """The project's requirements with the dev extra's, an extra of the project itself (dev
    naming clustering-bench[pretrained]) replaced by that extra's requirements."""
    found = []
    for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
            for extra in requirement.extras:
                found += [Requirement(t) for t in project["optional-dependencies"][extra]]
        else:
            found.append(requirement)
    return found


def test_every_requirement_is_pinned_inside_its_range():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for requirement in requirements(project):
        text = str(requirement)
        found = pinned.get(canonicalize_name(requirement.name))
        assert found is not None, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(found), f"{requirement.name}=={found}: {text}"
    assert {"numba", "llvmlite", "pynndescent", "scipy"} <= set(pinned)  # UMAP's numbers
