"""Read cnvrg library specs and blueprints, and apply cnvrg's naming rules.

Why a module of its own: every test that looks at a flow needs the same few rules (a
library's slug, the /input folder of a task, a task's params, the flow graph). Written
once here, two tests cannot disagree about them.

The rules (see /work/shared/DESIGN.md, "cnvrg conventions"):
- a library's slug is its title in lower case, spaces as hyphens;
- a task finds an upstream task's files under /input/<title, lower case, spaces and
  hyphens as _>/; every task upstream of it, not only its parents (cnvrg's own ADTS
  batch-predict library reads /input/preprocessing/ two steps up);
- a library's ``arguments`` become a blueprint task's ``params``: {key, type, values},
  the first value is the default, ``values: []`` means required, several values make
  cnvrg run one experiment per value (a grid).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_YAML = ROOT / "library.yaml"
ARGUMENT_TYPES = ("discrete", "float", "integer", "categorical")
FLOW_TAGS = ("training", "inference", "data")  # a library or blueprint names at least one
INPUT_ROOT = "/input/"

Task = Mapping[str, Any]
Blueprint = Mapping[str, Any]


def load_yaml(path: Path) -> Any:
    """The document in ``path``, parsed safely (no Python objects from tags)."""
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def blueprint_paths() -> list[Path]:
    """blueprint.yaml at the root, then blueprints/*.yaml, in a stable order."""
    return [ROOT / "blueprint.yaml", *sorted((ROOT / "blueprints").glob("*.yaml"))]


def slug(title: str) -> str:
    """A library's slug: ``InfluxDB Connector`` -> ``influxdb-connector``."""
    return title.strip().lower().replace(" ", "-")


def input_dir(task_title: str) -> str:
    """The folder under /input/ holding a task's files: ``Train-Valid Split`` -> ``train_valid_split``."""
    return re.sub(r"[ -]", "_", task_title.strip().lower())


def arguments(library: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A library's arguments by key."""
    return {arg["key"]: arg for arg in library.get("arguments") or []}


def params(task: Task) -> dict[str, Mapping[str, Any]]:
    """A blueprint task's params by key."""
    return {p["key"]: p for p in task.get("params") or []}


def default(entry: Mapping[str, Any]) -> str | None:
    """The first of an argument's or param's values; None when the list is empty (required)."""
    values = entry.get("values") or []
    return values[0] if values else None


def value(task: Task, key: str, library: Mapping[str, Any] | None = None) -> str | None:
    """What the task passes as ``--key``: its param's default, else the library's, else None."""
    entry = params(task).get(key)
    if entry is not None and default(entry) is not None:
        return default(entry)
    if library is not None and key in arguments(library):
        return default(arguments(library)[key])
    return None


def is_none(text: str | None) -> bool:
    """cnvrg's unset value: missing, or the string None in any case."""
    return text is None or text.strip().lower() == "none"


def tasks(blueprint: Blueprint) -> dict[str, Task]:
    """The blueprint's tasks by title."""
    return {t["title"]: t for t in blueprint.get("tasks") or []}


def parents(blueprint: Blueprint) -> dict[str, set[str]]:
    """For each task title, the titles of the tasks with a relation into it.

    Relations naming a task that does not exist are left out (a test reports them).
    """
    result: dict[str, set[str]] = {title: set() for title in tasks(blueprint)}
    for rel in blueprint.get("relations") or []:
        if rel.get("from") in result and rel.get("to") in result:
            result[rel["to"]].add(rel["from"])
    return result


def ancestors(blueprint: Blueprint, title: str) -> set[str]:
    """Every task upstream of ``title``, however far."""
    up = parents(blueprint)
    seen: set[str] = set()
    todo = list(up.get(title, ()))
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo.extend(up.get(t, ()))
    return seen


def find_cycle(blueprint: Blueprint) -> list[str] | None:
    """A list of titles that form a cycle (first == last), or None when the graph is a DAG."""
    down: dict[str, list[str]] = {}
    for rel in blueprint.get("relations") or []:
        down.setdefault(rel["from"], []).append(rel["to"])
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in down.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in down:
        if start not in state and (found := visit(start)):
            return found
    return None


def input_paths(task: Task) -> Iterator[tuple[str, str, str]]:
    """(param key, folder, file) for every value of the task's params under /input/."""
    for key, entry in params(task).items():
        for v in entry.get("values") or []:
            if isinstance(v, str) and v.startswith(INPUT_ROOT):
                folder, _, rest = v[len(INPUT_ROOT):].partition("/")
                yield key, folder, rest
