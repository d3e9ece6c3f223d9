"""The one registry shape: short snake_case names -> entries (classes for extractors, reducers
and clusterers; a `DatasetSource` per dataset; a `Metric` per score), the choose-from error and
the comma-list parser. The datasets and metrics registries extend it."""

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from clustering.errors import BenchError

T = TypeVar("T")


def choose_from(kind: str, name: object, choices: list[str]) -> BenchError:
    """The error for a name that is not among `choices`: "unknown reducer 'x'; choose from: ..."."""
    return BenchError(f"unknown {kind} {name!r}; choose from: {', '.join(choices)}")


class Registry(Generic[T]):
    """Entries by name, in registration order; iterating gives the entries. `get` fails with
    the list of valid names. Subclasses add how their entries come in (`register`) and may
    narrow what a user may type (`choices`)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def insert(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; ValueError if the name is taken (a programming error)."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: `@EXTRACTORS.register("raw")`. Sets `cls.name = name`."""

        def decorate(cls: type) -> type:
            self.insert(name, cls)
            cls.name = name
            return cls

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: object) -> BenchError:
        """The choose-from error for `name`, listing `choices()`."""
        return choose_from(self.kind, name, self.choices())

    def names(self) -> list[str]:
        return list(self._entries)

    def choices(self) -> list[str]:
        """What a user may type, as listed in errors and help (the names, unless narrowed)."""
        return self.names()

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def parse(self, text: str) -> list[str]:
        """A comma list of names, or "all", validated: "raw,vae" -> ["raw", "vae"]."""
        if text.strip() == "all":
            return self.names()
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names:
            raise BenchError(f"no {self.kind} given; choose from: {', '.join(self.choices())}")
        for name in names:
            self.get(name)
        return names
