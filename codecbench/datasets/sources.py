"""The registry of dataset sources: what a dataset config entry's ``source`` names.

A source is a :class:`DatasetSource` registered with :func:`register_source`, declared beside the code that reads
it: ``builtin``, ``local`` and ``url`` in :mod:`codecbench.datasets`, the others in its reader modules
(:mod:`.labelled`, :mod:`.annotated`, :mod:`.video`, :mod:`.bsds`, :mod:`.ilsvrc`), which the package imports in this
order, so the registry lists the package's sources in that order and then those registered from elsewhere. From a
config entry alone (nothing is read or fetched) a source tells what its images are annotated with, whether they are
video and whether they have a train split; it checks the entry for what the schema cannot express, and it reads the
images.

The config schema's list of sources is the registry's (:func:`fill_schema`): a source registered before a config
is validated, by the package or by a user's module, is accepted like the package's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .builtin import ANNOTATION_KINDS

if TYPE_CHECKING:
    from . import SourceSet

Entry = dict[str, Any]  # a dataset config entry: its source and options


@dataclass(frozen=True)
class DatasetSource:
    """One dataset source and the facts its config entries have.

    * ``name``: what an entry's ``source`` says; ``description``: one line on what it gives.
    * ``read(dataset, entry, downloads_dir)``: the entry's :class:`~codecbench.datasets.SourceSet`, its images in id
      order within each split, not yet read, with the class names in index order for sources annotated with objects.
      Downloads go below ``downloads_dir``; problems raise :class:`~codecbench.datasets.DatasetError` naming the
      dataset, the culprit and the fix.
    * ``annotations``: the annotation kinds (of ``ANNOTATION_KINDS``) an entry's images have, the primary one first
      (the one the manifest's ``label`` holds); empty for unlabelled images. A tuple, or a function (entry, dataset id)
      -> tuple for a source whose kinds depend on the entry.
    * ``video``: its images are frames of clips; ``train_split``: it has train images (what a task that trains
      needs). Each a bool, or a function (entry, dataset id) -> bool.
    * ``check(dataset, entry)``: what is wrong with an entry that the schema cannot express (a path that is no
      folder, a missing checksum), each a message naming the key ("datasets.<id>.path: ...") and the fix.
    * ``offers``: kind -> which of the source's entries give it, in words for error messages ("source folder with
      labels_file"); a mapping, or a function returning one for a source whose sets are registered later (builtin).
      By default "source <name>" for each of a tuple of ``annotations``.
    * ``options``: entry keys of the source's own, each a JSON-schema fragment (with its ``description``), added to
      the schema's dataset entry (which takes no unknown keys): what a source from outside the package needs.
    * ``notes``: optional Markdown for docs/datasets.md beyond the one-line ``description``: which entry keys it
      reads, what it gives, how it treats its files.
    """

    name: str
    description: str
    read: Callable[[str, Entry, Path], SourceSet]
    annotations: tuple[str, ...] | Callable[[Entry, str], tuple[str, ...]] = ()
    video: bool | Callable[[Entry, str], bool] = False
    train_split: bool | Callable[[Entry, str], bool] = False
    check: Callable[[str, Entry], list[str]] | None = None
    offers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None
    options: Mapping[str, dict] = field(default_factory=dict)
    notes: str = ""

    def annotation_kinds(self, entry: Entry, dataset_id: str) -> tuple[str, ...]:
        """The annotation kinds of an entry's images, the primary one first."""
        return tuple(self.annotations(entry, dataset_id) if callable(self.annotations) else self.annotations)

    def is_video(self, entry: Entry, dataset_id: str) -> bool:
        return bool(self.video(entry, dataset_id) if callable(self.video) else self.video)

    def has_train_split(self, entry: Entry, dataset_id: str) -> bool:
        return bool(self.train_split(entry, dataset_id) if callable(self.train_split) else self.train_split)

    def problems(self, dataset_id: str, entry: Entry) -> list[str]:
        """What :attr:`check` finds wrong with an entry (nothing when the source has no check)."""
        return list(self.check(dataset_id, entry)) if self.check is not None else []

    def offered_kinds(self) -> dict[str, str]:
        """Kind -> which of the source's entries give it, in words (see :attr:`offers`)."""
        if self.offers is None:
            kinds = () if callable(self.annotations) else self.annotations
            return {kind: f"source {self.name}" for kind in kinds}
        return dict(self.offers() if callable(self.offers) else self.offers)


_REGISTRY: dict[str, DatasetSource] = {}  # in registration order


def register_source(source: DatasetSource) -> DatasetSource:
    """Add ``source`` to the registry and return it; a name already registered is an error naming it."""
    if not isinstance(source, DatasetSource):
        raise TypeError(f"register_source takes a DatasetSource, not {type(source).__name__}")
    if source.name in _REGISTRY:
        raise ValueError(f"dataset source {source.name!r} is already registered; choose another name")
    if not callable(source.annotations):
        unknown = [kind for kind in source.annotations if kind not in ANNOTATION_KINDS]
        if unknown:
            raise ValueError(
                f"dataset source {source.name!r}: annotation kinds {unknown} are not among {tuple(ANNOTATION_KINDS)}"
            )
    _REGISTRY[source.name] = source
    return source


def unregister_source(name: str) -> DatasetSource:
    """Remove the source ``name`` from the registry and return it (tests register sources of their own)."""
    source = get_source(name)
    del _REGISTRY[name]
    return source


@contextlib.contextmanager
def registered_source(source: DatasetSource) -> Iterator[DatasetSource]:
    """Register ``source`` for the duration of a ``with`` block, then unregister it."""
    register_source(source)
    try:
        yield source
    finally:
        unregister_source(source.name)


def source_names() -> tuple[str, ...]:
    """The registered sources' names, in registration order."""
    return tuple(_REGISTRY)


def find_source(name: str) -> DatasetSource | None:
    """The source registered as ``name``, None when there is none."""
    return _REGISTRY.get(name)


def get_source(name: str) -> DatasetSource:
    """The source registered as ``name``; KeyError naming the known ones when there is none."""
    source = _REGISTRY.get(name)
    if source is None:
        raise KeyError(f"unknown dataset source {name!r} (known: {', '.join(_REGISTRY)})")
    return source


def offering(kind: str) -> list[str]:
    """Which registered sources give annotation ``kind``, in words, in registration order (for error messages)."""
    return [words for source in _REGISTRY.values() if (words := source.offered_kinds().get(kind))]


def fill_schema(schema: dict) -> dict:
    """The registry's part of the config schema: the ``datasets.*.source`` names, and the entry keys that sources
    declare in their ``options`` (a key the schema has already must be declared identically). Returns the schema."""
    properties = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    properties["source"]["enum"] = list(_REGISTRY)
    for source in _REGISTRY.values():
        for key, fragment in source.options.items():
            if properties.setdefault(key, fragment) != fragment:
                raise ValueError(
                    f"dataset source {source.name!r}: option {key!r} is already in the schema, defined otherwise; "
                    "rename it"
                )
    return schema


# ---- checks several sources share -----------------------------------------------------------------------------


def check_path_is_folder(dataset: str, entry: Entry) -> list[str]:
    """An entry's ``path`` must be an existing folder."""
    if Path(entry["path"]).expanduser().is_dir():
        return []
    return [f"datasets.{dataset}.path: folder {entry['path']!r} does not exist (or is not a folder)"]


def check_sha256_or_path(dataset: str, entry: Entry) -> list[str]:
    """An archive without a published checksum needs the user's ``sha256`` or a local copy (``path``)."""
    if entry.get("sha256") or entry.get("path"):
        return []
    return [
        f"datasets.{dataset}: source {entry['source']} needs sha256 (its publishers give no checksum: take the "
        "sha256sum of the archive you trust) or path (a local copy of the archive)"
    ]


__all__ = [
    "DatasetSource",
    "check_path_is_folder",
    "check_sha256_or_path",
    "fill_schema",
    "find_source",
    "get_source",
    "offering",
    "register_source",
    "registered_source",
    "source_names",
    "unregister_source",
]
