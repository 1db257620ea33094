"""A name -> class registry, one per kind of plug-in (codecs, tasks): register with a decorator, look up by name."""

from __future__ import annotations

import copy
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


class Registry(dict[str, type[T]]):
    """A dict of plug-in classes keyed by their ``name`` attribute; ``kind`` names them in error messages."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: add ``cls`` under ``cls.name``; a name registered twice is an error."""
        if cls.name in self:
            raise ValueError(f"{self.kind} {cls.name!r} registered twice")
        self[cls.name] = cls
        return cls

    def unregister(self, name: str) -> type[T]:
        """Remove the class registered as ``name`` and return it (a test's own plug-in, once it is done with it);
        KeyError listing the known names otherwise."""
        cls = self.get_class(name)
        del self[name]
        return cls

    def get_class(self, name: str) -> type[T]:
        """The class registered as ``name``; KeyError listing the known names otherwise."""
        try:
            return self[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r} (known: {', '.join(sorted(self))})") from None


class SettingsPlugin:
    """A plug-in chosen by one key of its config entry (``selector``, e.g. ``source`` for a mask source) whose other
    keys are its settings, each a JSON-schema fragment with a ``default`` in ``setting_schemas``; the schema's branch
    for it and its defaults are derived from them."""

    name: ClassVar[str]
    selector: ClassVar[str]
    setting_schemas: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {key: copy.deepcopy(spec["default"]) for key, spec in cls.setting_schemas.items()}

    @classmethod
    def schema_branch(cls) -> dict[str, Any]:
        """Its branch of the entry's schema: its settings, when the selector names it."""
        return {
            "if": {"properties": {cls.selector: {"const": cls.name}}},
            "then": {"properties": copy.deepcopy(cls.setting_schemas)},
        }
