"""Print constraints.txt: `name==version` for every package clustering-bench[dev] needs,
followed through their requirements, as installed in the running environment.

    python .ci/constraints.py > constraints.txt
"""

from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HEADER = """\
# The versions the README's install command uses (pip install -e ".[dev]" -c constraints.txt),
# which made results/: every package clustering-bench[dev] needs, as installed where they were
# made. pyproject.toml keeps the ranges a library user may install. Regenerate in a working
# environment with: python .ci/constraints.py > constraints.txt"""


def needed(name: str, extras: set[str]) -> list[tuple[str, set[str]]]:
    """The requirements of installed package `name` with `extras` whose markers hold here."""
    requirements = []
    for text in distribution(name).requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
            requirements.append((requirement.name, set(requirement.extras)))
    return requirements


def pinned(root: str = "clustering-bench", extras: frozenset = frozenset({"dev"})) -> list[str]:
    """`name==version` of everything `root[extras]` needs, sorted, `root` itself left out."""
    seen: dict[str, tuple[str, str]] = {}
    followed: set[tuple[str, frozenset]] = set()
    todo = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        key = canonicalize_name(dist.metadata["Name"])
        if (key, frozenset(wanted)) in followed:
            continue
        followed.add((key, frozenset(wanted)))
        seen[key] = (dist.metadata["Name"], dist.version)
        todo.extend(needed(name, wanted))
    seen.pop(canonicalize_name(root))
    return [f"{name}=={found}" for _, (name, found) in sorted(seen.items())]


if __name__ == "__main__":
    print(HEADER)
    print("\n".join(pinned()))
