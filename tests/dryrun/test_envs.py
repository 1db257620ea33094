"""The conda environments of ``--sdm conda`` (envs/*.yaml), checked without building any of them.

1. Every rule with an action has a ``conda:`` env and the file exists (rules read with snakemake's own parser).
2. Each rule's env holds every third-party distribution its script can import, following imports statically
   (``ast``) from the script through the codecbench modules it reaches, transitively.
3. Every pin equals requirements.lock's (requirements-paddle.lock for envs/paddleocr.yaml), and each env pins the
   whole dependency closure of what it lists, so pip resolves nothing on its own.

Lazy imports (policy). Module-level imports of every reached module always count: they run on import. Function-
level imports count too, everywhere (a sound over-approximation: reached code may call them), except the lazy
import sites named in :data:`LAZY_EXCLUSIONS` for a rule, each with the reason it cannot run in that rule. An
excluded site is cut from the import graph (neither its package nor the codecbench modules it imports are
followed). An exclusion that no longer matches anything fails the test, so the table cannot go stale.

codecbench itself is not installed into the envs: snakemake's script preamble extends ``sys.path`` with its own
``sys.path``, into which it inserted the workflow's base directory (the Snakefile's folder) when it parsed the
Snakefile; the jobs of a cluster run re-parse the shared workflow folder, so the job's env finds the same source
tree. ``pip: [-e ..]`` would not work: snakemake copies the env file into the conda prefix (.snakemake/conda/
or --conda-prefix) and conda resolves pip's relative paths from there; a non-editable install would go stale,
the env hash covering only the yaml. :func:`test_codecbench_reaches_the_envs_through_the_script_preamble`
checks that mechanism.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from snakemake_project import PROJECT

ENVS = PROJECT / "envs"
PADDLE_ENV = ENVS / "paddleocr.yaml"

# Import name -> distribution where the .venv cannot say (packages only in the paddle env) or says it differently.
IMPORT_TO_DIST = {
    "cv2": "opencv-python",
    "PIL": "pillow",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "paddleocr": "paddleocr",
    "paddle": "paddlepaddle",
    "paddlex": "paddlex",
}
# Distributions that provide the same import package (the paddle env's cv2 comes from opencv-contrib-python).
EQUIVALENT = {"opencv-python": {"opencv-python", "opencv-contrib-python"}}
# Conda package name -> pip distribution name, for entries outside the pip section.
CONDA_TO_PIP = {
    "pytorch": "torch",
    "py-opencv": "opencv-python",
    "pytorch-msssim": "pytorch-msssim",
    "imageio-ffmpeg": "imageio-ffmpeg",
    "rapidfuzz": "rapidfuzz",
}
CONDA_ONLY = {"python", "pip"}  # the interpreter and pip themselves, pinned by the env (python=3.11)

# Lazy import sites that cannot run in a rule: {rules: {"module:function" pattern: reason}}.
_TASK_RULES = ("train_task", "evaluate_task", "evaluate_task_shard")
_CODING_RULES = (
    "prepare_dataset", "compress_ladder", "compress_training_set", "compress_ladder_shard", "compress_target",
    "train_codec",
)  # fmt: skip
_READING_RULES = ("dataset_figures", "task_figures")  # figures of stored points: their codecs decode them
_TABLE_RULES = (
    "compress_ladder_merge",
    "compress_training_set_merge",
    "evaluate_task_merge",
    "quality_table",
    "summary",
    "bd_rate",
    "equal_rate_table",
    "provenance",
)
_TABLE_RULES += ("video_figures", "task_tables", "task_kbps_figure", "metric_agreement")
_TABLE_RULES += ("stage_costs", "findings", "machines_summary", "machines_figure")
LAZY_EXCLUSIONS: dict[tuple[str, ...], dict[str, str]] = {
    _CODING_RULES + _READING_RULES + _TABLE_RULES: {
        "codecbench.tasks.*:*": "task models (torchvision, ultralytics, rapidocr, OpenCV) run in train_task and "
        "evaluate_task only; other rules read a task class's score names and labels",
        "codecbench.config.*:*": "config checks, completion and planning run in the Snakefile; jobs get settings as "
        "params",
        "codecbench.masks.gradcam:*": "Grad-CAM masks (captum) are made by make_masks only; other jobs read the "
        "stored masks",
    },
    _READING_RULES + _TABLE_RULES: {
        "codecbench.datasets.video:*": "dataset sources are read by prepare_dataset only",
        "codecbench.datasets.bsds:*": "dataset sources are read by prepare_dataset only",
        "codecbench.datasets.ilsvrc:*": "dataset sources are read by prepare_dataset only",
        "codecbench.datasets:prepare_dataset": "dataset preparation is prepare_dataset's",
        "codecbench.datasets.builtin:*": "built-in datasets are generated by prepare_dataset only",
        "codecbench.datasets.synthetic:*": "synthetic datasets are drawn by prepare_dataset only",
        "codecbench.io:read_torch_payload": "reads .pt checkpoints (codecs, task models, training state)",
        "codecbench.metrics:*": "metrics are computed by the compress rules; the tables and figures read only the "
        "registry's facts (labels, CompressAI keys)",
    },
    _TABLE_RULES: {
        "codecbench.codecs.learned*:*": "learned codecs code and decode in the compress rules (models in "
        "train_codec); the tables read rate rows",
        "codecbench.codecs.imagecodecs_codecs:*": "JPEG XL codes in the compress rules (its version: provenance's "
        "env); the tables read rate rows",
        "codecbench.codecs.ffmpeg:*": "ffmpeg codes in the compress rules (its version: provenance's env)",
    },
    _READING_RULES: {
        "codecbench.stats.bd:_bjontegaard": "BD-rates are computed by bd_rate and task_tables; figures draw them",
    },
    _CODING_RULES: {
        "codecbench.stages.aggregate:write_summary": "compress rules write a codec's JSON only: bootstrap CIs are "
        "summary's",
        "codecbench.stages.aggregate:write_bd_table": "BD-rates are bd_rate's",
        "codecbench.stages.aggregate:write_equal_rate_tables": "equal-rate tables are equal_rate_table's",
    },
}


# ---- the rules, read by snakemake ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules():
    """Every rule as (name, rule file, conda env as written, script or None, shell/run action, no action)."""
    from snakemake.api import SnakemakeApi
    from snakemake.common import get_snakemake_searchpaths
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[PROJECT / "config.yaml"]),
            snakefile=PROJECT / "Snakefile",
            workdir=PROJECT,
        )
        workflow = workflow_api._workflow
        found = [
            (
                rule.name,
                Path(rule.snakefile),
                rule.conda_env,
                rule.script,
                bool(rule.shellcmd) or bool(getattr(rule, "run_func", None) and not rule.script),
                bool(rule.norun),
            )
            for rule in workflow.rules
        ]
        searchpaths = get_snakemake_searchpaths()
    return {"rules": found, "searchpaths": searchpaths}


def rule_env(rule_file: Path, conda_env) -> Path | None:
    if not isinstance(conda_env, str):
        return None
    return (rule_file.parent / conda_env).resolve()


# ---- env files ----------------------------------------------------------------------------------------------


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


@cache
def lock_for(env: Path) -> dict[str, str]:
    return read_lock(PROJECT / ("requirements-paddle.lock" if env == PADDLE_ENV else "requirements.lock"))


@cache
def env_entries(env: Path) -> tuple[list[tuple[str, str | None, str]], list[str]]:
    """([(pip distribution, pinned version or None, entry as written)], [non-pin pip lines]) of an env file."""
    spec = yaml.safe_load(env.read_text())
    entries, odd = [], []
    for dep in spec.get("dependencies", []):
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line.strip())
                if match:
                    entries.append((canonicalize_name(match[1]), match[2], line))
                else:
                    odd.append(line)
        else:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:==?\s*([^\s=]+))?", str(dep).strip())
            name = match[1] if match else str(dep)
            if name in CONDA_ONLY:
                continue
            entries.append((canonicalize_name(CONDA_TO_PIP.get(name, name)), match[2] if match else None, str(dep)))
    return entries, odd


def env_dists(env: Path) -> set[str]:
    return {name for name, _, _ in env_entries(env)[0]}


ENV_FILES = sorted(ENVS.glob("*.yaml"))


# ---- static imports -----------------------------------------------------------------------------------------


def module_file(name: str) -> Path | None:
    path = PROJECT.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def imports_of(path: Path) -> tuple[tuple[str, str | None, int], ...]:
    """(imported module, enclosing function/class qualname or None at module level, line) of every import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me, is_package = module_name(path), path.name == "__init__.py"
    found = []

    def visit(node: ast.AST, site: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = site
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{site}.{child.name}" if site else child.name
            if isinstance(child, ast.Import):
                found.extend((alias.name, site, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    base = me.split(".") if is_package else me.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                found.append((module, site, child.lineno))
                for alias in child.names:  # `from package import submodule`
                    if module_file(f"{module}.{alias.name}"):
                        found.append((f"{module}.{alias.name}", site, child.lineno))
            visit(child, inner)

    visit(tree, None)
    return tuple(found)


def reachable_imports(script: Path, excluded: dict[str, str], used: set[str]) -> dict[str, str]:
    """Top-level third-party import name -> 'file:line' of one import of it, from ``script`` through codecbench."""
    third_party: dict[str, str] = {}
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        module = module_name(path)
        for name, site, line in imports_of(path):
            if site is not None and module.startswith("codecbench"):
                hits = [p for p in excluded if fnmatch.fnmatchcase(f"{module}:{site}", p)]
                if hits:
                    used.update(hits)
                    continue
            top = name.split(".")[0]
            if top == "codecbench":
                parts = name.split(".")  # importing a.b.c runs a, a.b and a.b.c
                todo.extend(f for i in range(1, len(parts) + 1) if (f := module_file(".".join(parts[:i]))))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                third_party.setdefault(top, f"{path.relative_to(PROJECT)}:{line}")
    return third_party


@cache
def import_to_dists() -> dict[str, set[str]]:
    table = {k: {canonicalize_name(d) for d in v} for k, v in importlib.metadata.packages_distributions().items()}
    table.update({k: {canonicalize_name(v)} for k, v in IMPORT_TO_DIST.items()})
    return table


def distribution_of(import_name: str) -> str:
    dists = import_to_dists().get(import_name)
    assert dists, (
        f"import '{import_name}': no distribution known; add it to IMPORT_TO_DIST in tests/dryrun/test_envs.py"
    )
    assert len(dists) == 1, f"import '{import_name}' comes from several distributions {sorted(dists)}"
    return next(iter(dists))


def exclusions_for(rule: str) -> dict[str, str]:
    return {p: r for rules_, table in LAZY_EXCLUSIONS.items() if rule in rules_ for p, r in table.items()}


# ---- 1. every rule has an env -------------------------------------------------------------------------------


def test_every_rule_with_an_action_has_an_existing_conda_env(rules):
    problems = []
    for name, rule_file, conda_env, script, other_action, norun in rules["rules"]:
        if norun:
            continue
        rel = rule_file.relative_to(PROJECT)
        env = rule_env(rule_file, conda_env)
        if env is None:
            problems.append(f"rule {name} ({rel}) has no conda: line")
        elif not env.is_file():
            problems.append(f"rule {name} ({rel}): conda env {conda_env} does not exist")
        elif env.parent != ENVS:
            problems.append(f"rule {name} ({rel}): conda env {conda_env} is not in envs/")
        if not script and not other_action:
            problems.append(f"rule {name} ({rel}) has neither script nor shell")
        if script and not (rule_file.parent / script).is_file():
            problems.append(f"rule {name} ({rel}): script {script} does not exist")
    assert not problems, "\n".join(problems)


# ---- 2. each env holds what its rules import -----------------------------------------------------------------


def _rule_scripts(rules) -> list[tuple[str, Path, Path]]:
    """(rule, script, env) for every rule with a script and an existing env, plus the paddle worker."""
    found = []
    for name, rule_file, conda_env, script, _, norun in rules["rules"]:
        env = rule_env(rule_file, conda_env)
        if not norun and script and env is not None and env.is_file():
            found.append((name, (rule_file.parent / script).resolve(), env))
    # The OCR task's paddleocr engine: codecbench/tasks/ocr.py runs this file in $CODECBENCH_PADDLE_PYTHON.
    found.append(
        ("<paddleocr worker of evaluate_task>", PROJECT / "codecbench" / "tasks" / "ocr_paddle_worker.py", PADDLE_ENV)
    )
    return found


def test_each_rules_env_holds_every_distribution_its_script_imports(rules):
    problems, used = [], set()
    for rule, script, env in _rule_scripts(rules):
        have = env_dists(env)
        for top, where in sorted(reachable_imports(script, exclusions_for(rule), used).items()):
            dist = distribution_of(top)
            if not EQUIVALENT.get(dist, {dist}) & have:
                problems.append(
                    f"rule {rule}: envs/{env.name} lacks '{dist}' (import {top}, {where}, "
                    f"reached from {script.relative_to(PROJECT)})"
                )
    assert not problems, "\n".join(problems)
    stale = {p for table in LAZY_EXCLUSIONS.values() for p in table} - used
    assert not stale, f"LAZY_EXCLUSIONS patterns that exclude nothing any more: {sorted(stale)}"


def test_lazy_exclusions_name_existing_rules_and_only_lazy_sites(rules):
    names = {name for name, *_ in rules["rules"]}
    for rules_, table in LAZY_EXCLUSIONS.items():
        assert set(rules_) <= names, f"LAZY_EXCLUSIONS names unknown rules {sorted(set(rules_) - names)}"
        for pattern, reason in table.items():
            assert ":" in pattern and not pattern.endswith(":"), f"{pattern}: give module:function"
            assert reason.strip(), f"{pattern}: give the reason it cannot run in {rules_}"


def test_the_import_follower_sees_lazy_imports_through_codecbench():
    # Guards the analysis itself: the learned codecs import torch inside functions, and compress reaches them.
    found = reachable_imports(PROJECT / "scripts" / "compress_ladder.py", {}, set())
    assert {"torch", "compressai", "imagecodecs", "imageio_ffmpeg", "PIL", "numpy"} <= set(found)
    assert "codecbench" not in found and "os" not in found


# ---- 3. pins ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_equal_the_lock(env):
    spec = yaml.safe_load(env.read_text())
    assert spec.get("channels") == ["conda-forge", "nodefaults"], f"envs/{env.name}: channels"
    conda = [d for d in spec["dependencies"] if not isinstance(d, dict)]
    assert "python=3.11" in conda, f"envs/{env.name}: python=3.11 (the .venv's, and the lock's) is not pinned"
    entries, odd = env_entries(env)
    assert not odd, f"envs/{env.name}: pip lines that are not name==version pins: {odd}"
    lock, problems = lock_for(env), []
    names = [name for name, _, _ in entries]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"envs/{env.name} lists {sorted(dupes)} twice"
    for name, version, written in entries:
        if name == "codecbench":
            problems.append(
                f"envs/{env.name}: '{written}': codecbench comes from the workflow folder, see the docstring"
            )
        elif name not in lock:
            problems.append(f"envs/{env.name}: '{written}' is not in its lock file")
        elif version != lock[name]:
            problems.append(f"envs/{env.name}: '{written}' but the lock pins {name}=={lock[name]}")
    assert not problems, "\n".join(problems)


@cache
def _requires(dist: str) -> list[str]:
    try:
        return importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return []


def _marker_env(extra: str = "") -> dict[str, str]:
    """The cluster's platform: Linux x86_64, Python 3.11 (the envs' python=3.11)."""
    marker_env = default_environment() | {"sys_platform": "linux", "platform_system": "Linux", "extra": extra}
    return marker_env | {"platform_machine": "x86_64", "python_version": "3.11", "python_full_version": "3.11.0"}


def dependencies(dist: str, extras: frozenset[str] = frozenset()) -> list[tuple[str, frozenset[str]]]:
    """(name, extras) that pip installs for ``dist[extras]`` on the cluster's platform, from the .venv's metadata."""
    found = []
    for line in _requires(dist):
        requirement = Requirement(line)
        if requirement.marker and not any(requirement.marker.evaluate(_marker_env(e)) for e in {"", *extras}):
            continue
        found.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def dependency_closure(dists: set[str], lock: dict[str, str]) -> dict[str, str]:
    """Every lock distribution pip installs for ``dists`` -> the one that first needs it."""
    needed: dict[str, str] = {}
    todo = [(d, frozenset(), d) for d in sorted(dists)]
    seen = set()
    while todo:
        dist, extras, why = todo.pop()
        if (dist, extras) in seen:
            continue
        seen.add((dist, extras))
        needed.setdefault(dist, why)
        todo.extend((name, ex, dist) for name, ex in dependencies(dist, extras) if name in lock)
    return needed


@pytest.mark.parametrize("env", [e for e in ENV_FILES if e != PADDLE_ENV], ids=lambda p: p.name)
def test_env_pins_the_dependency_closure_of_what_it_lists(env):
    """pip then installs exactly the lock's versions (read from the .venv, which requirements.lock made)."""
    have, lock = env_dists(env), lock_for(env)
    missing = [
        f"{n}=={lock[n]} (needed by {why})" for n, why in dependency_closure(have, lock).items() if n not in have
    ]
    assert not missing, f"envs/{env.name} leaves to pip: " + ", ".join(sorted(missing))


# ---- codecbench inside the envs -----------------------------------------------------------------------------


def test_codecbench_reaches_the_envs_through_the_script_preamble(rules):
    # snakemake's python-script preamble runs sys.path.extend(get_snakemake_searchpaths()) in the env's python;
    # those include the workflow folder that parsing the Snakefile put on snakemake's sys.path.
    import inspect

    from snakemake.script import PythonScript

    assert "get_snakemake_searchpaths()" in inspect.getsource(PythonScript.generate_preamble)
    assert str(PROJECT) in rules["searchpaths"]
    assert module_file("codecbench") == PROJECT / "codecbench" / "__init__.py"
