"""The dependency direction, enforced: `pipeline/` is a library that imports nothing of ours but
itself, and the app never imports the packages that run it (`runs`, `scheduler`).

An AST walk over the source files, not an import of them: it sees every import statement wherever
it stands (module level, inside a function, under `if TYPE_CHECKING:`), plus `importlib.import_module`
and `__import__` calls with a literal name, and names the file and line of each offence. "Ours"
is every top-level package the project installs (pyproject's setuptools `include`) and the
repository's other code folders, so a package added later is covered without editing this test.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Code folders that are not installed but are still ours (nothing in the product may import them).
UNINSTALLED_CODE = frozenset({"tests", "bench", "scripts"})


def our_packages() -> frozenset[str]:
    """Top-level package names of this project, read from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return frozenset(pattern.rstrip("*") for pattern in patterns) | UNINSTALLED_CODE


def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`; relative imports are resolved
    against the file's own package (its folder below `root`)."""
    package = list(path.relative_to(root).parts[:-1])
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def offences(folder: str, forbidden: frozenset[str]) -> list[str]:
    """`file:line imports module` for every import under `folder` whose top-level package is in
    `forbidden`."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_the_pipeline_library_imports_nothing_of_ours_but_itself():
    forbidden = our_packages() - {"pipeline"}
    assert offences("pipeline", forbidden) == []


def test_the_app_never_imports_the_packages_that_run_the_pipeline():
    assert offences("app", frozenset({"runs", "scheduler"})) == []


# Which of our packages each package may import: scheduler -> runs -> app -> database -> pipeline,
# no way back. (The migrator builds the app to run `flask db upgrade`.)
LAYERS: dict[str, frozenset[str]] = {
    "pipeline": frozenset(),
    "database": frozenset({"pipeline"}),
    "app": frozenset({"database", "pipeline"}),
    "runs": frozenset({"app", "database", "pipeline"}),
    "scheduler": frozenset({"runs", "app", "database", "pipeline"}),
    "migrator": frozenset({"app", "database"}),
}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_dependencies_point_one_way(package):
    forbidden = our_packages() - LAYERS[package] - {package}
    assert offences(package, forbidden) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import app.services.stops\n", ["app.services.stops"]),
        ("def f():\n    from database import db\n", ["database"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from runs.guard import WorkFn\n",
            ["runs.guard"],
        ),
        ("import importlib\nimportlib.import_module('app.config')\n", ["app.config"]),
        ("from .geo import load_boundary\n", ["pipeline.geo"]),
    ],
)
def test_the_import_walk_sees_function_level_type_checking_dynamic_and_relative_imports(
    tmp_path, source, expected
):
    """The rule is only as good as the walk: every way of importing is seen (a function-level
    import is not a way around a cycle)."""
    module = tmp_path / "pipeline" / "probe.py"
    module.parent.mkdir()
    module.write_text(source)
    seen = [name for _, name in imported_modules(module, root=tmp_path)]
    ours = {"app", "database", "runs", "pipeline"}
    assert [name for name in seen if name.split(".")[0] in ours] == expected


def pipeline_run_writes(folders: tuple[str, ...]) -> list[str]:
    """`file:line` of every `PipelineRun(...)` construction and `update(PipelineRun)` statement."""
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                target = node.args[0] if node.args else None
                if name == "PipelineRun" or (
                    name == "update" and getattr(target, "id", None) == "PipelineRun"
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_a_runs_row_has_one_writer_runs_record():
    """Only `runs/record.py` inserts or updates `pipeline_runs` rows (the app reads them)."""
    writes = pipeline_run_writes(("app", "runs", "scheduler", "pipeline", "migrator"))
    assert writes, "the walk found no writer at all: it is broken"
    assert {entry.split(":")[0] for entry in writes} == {"runs/record.py"}


def pipeline_run_serialisations(folders: tuple[str, ...]) -> list[str]:
    """`file:line` of every dict literal shaped like a run row (status, started_at, finished_at)."""
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Dict):
                    keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
                    if {"status", "started_at", "finished_at"} <= keys:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_a_runs_row_has_one_serialiser_run_history():
    """Only `app/services/run_history.py` turns a `pipeline_runs` row into JSON; other resources
    (a problem change's run) take a subset of it (`run_reference`)."""
    found = pipeline_run_serialisations(("app", "runs", "scheduler", "pipeline", "database"))
    assert found, "the walk found no serialiser at all: it is broken"
    assert {entry.split(":")[0] for entry in found} == {"app/services/run_history.py"}
