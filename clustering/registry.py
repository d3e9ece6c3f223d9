"""A small name -> class registry for extractors and clusterers."""

from collections.abc import Callable

from clustering.errors import BenchError


class Registry:
    """Maps short snake_case names to classes; `get` fails with the list of valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: `@EXTRACTORS.register("raw")`. Sets `cls.name = name`."""

        def decorate(cls: type) -> type:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name
            self._entries[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> type:
        try:
            return self._entries[name]
        except KeyError:
            raise BenchError(
                f"unknown {self.kind} {name!r}; choose from: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def parse(self, text: str) -> list[str]:
        """A comma list of names, or "all", validated: "raw,vae" -> ["raw", "vae"]."""
        if text.strip() == "all":
            return self.names()
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names:
            raise BenchError(f"no {self.kind} given; choose from: {', '.join(self.names())}")
        for name in names:
            self.get(name)
        return names
