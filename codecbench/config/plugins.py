"""A user's own plug-ins: Python modules named under ``plugins`` in the config. The workflow imports them before it
validates the config, and every job imports them before its work, so that what they register (a metric, a dataset
source, a codec, a task) is known to the schema, the planning and the jobs alike.

An entry is a path to a ``.py`` file (relative to the working directory) or the dotted name of an importable
module (an installed package, or one on ``PYTHONPATH``). A plug-in runs with the pipeline's rights, like the
Snakefile and the config itself: name only modules you trust.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PLUGIN_PACKAGE = "codecbench_plugins"  # the namespace that plug-in files are imported under


class PluginError(ImportError):
    """A plug-in could not be imported; the message names the entry and why."""


def load_plugins(entries: Sequence[str]) -> list[ModuleType]:
    """Import every plug-in once per process (importing it again returns the module already loaded, so nothing
    registers twice)."""
    return [_load(entry) for entry in entries]


def _load(entry: str) -> ModuleType:
    if entry.endswith(".py"):
        path = Path(entry).expanduser().resolve()
        if not path.is_file():
            raise PluginError(f"plugins: {entry!r} is not a file (a .py path is relative to the working directory)")
        name = f"{PLUGIN_PACKAGE}.{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise PluginError(f"plugins: {entry!r} failed on import: {type(error).__name__}: {error}") from error
        return module
    try:
        return importlib.import_module(entry)
    except ImportError as error:
        raise PluginError(
            f"plugins: cannot import {entry!r} ({error}); give a module importable here (an installed package, "
            "or one on PYTHONPATH) or a path to a .py file"
        ) from error
    except Exception as error:
        raise PluginError(f"plugins: {entry!r} failed on import: {type(error).__name__}: {error}") from error


def plugin_fingerprint(entries: Sequence[str]) -> dict[str, str]:
    """Entry -> sha256 of its source file (a module name's own file; for a package, its ``__init__``): a param of
    the jobs that run plug-in code, so that editing a plug-in reruns them (Snakemake tracks a rule's script, not
    what it imports)."""
    fingerprint = {}
    for entry in entries:
        if entry.endswith(".py"):
            path = Path(entry).expanduser()
        else:
            spec = importlib.util.find_spec(entry)
            path = Path(spec.origin) if spec is not None and spec.origin else None
        if path is None or not path.is_file():
            raise PluginError(f"plugins: cannot find the source file of {entry!r}")
        fingerprint[entry] = hashlib.sha256(path.read_bytes()).hexdigest()
    return fingerprint
