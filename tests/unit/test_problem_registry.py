"""One list of problem types: `pipeline.problems.registry`. The detection, the API vocabulary and the
page labels read it; nothing else in the code spells the list out again."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from app.pages import catalog
from app.services import vocabulary
from pipeline.problems import registry

ROOT = Path(__file__).resolve().parents[2]
# The package's own machinery; every other module of pipeline/problems/ is one problem type.
INFRASTRUCTURE = {"__init__", "base", "detect", "registry"}


def test_every_problem_type_module_is_registered_under_its_own_name():
    modules = sorted(
        path.stem for path in (ROOT / "pipeline" / "problems").glob("*.py") if path.stem not in INFRASTRUCTURE
    )
    registered = [problem_type.code for problem_type in registry.PROBLEM_TYPES]
    assert sorted(registered) == modules
    assert len(set(registered)) == len(registered)
    for name in modules:
        module = importlib.import_module(f"pipeline.problems.{name}")
        assert module.TYPE is registry.by_code(name)
        assert all((module.TYPE.label, module.TYPE.description, module.TYPE.priority_rule))


def test_the_api_vocabulary_and_the_page_labels_derive_from_the_registry():
    assert registry.codes() == vocabulary.PROBLEM_TYPES
    assert registry.pair_codes() == vocabulary.PAIR_PROBLEM_TYPES
    assert [(label.code, label.label, label.hint) for label in catalog.PROBLEM_TYPES] == [
        (t.code, t.label, t.description) for t in registry.PROBLEM_TYPES
    ]


def _string_collections(path: Path) -> list[tuple[int, set[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            found.append((node.lineno, values))
    return found


def test_no_second_list_of_problem_types_anywhere_in_the_code():
    """A tuple, list or set literal naming three or more problem types is a second list that would
    drift from the registry (as the vocabulary's and the pages' own lists once did)."""
    codes = set(registry.codes())
    lists = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("app", "pipeline", "runs", "scheduler", "database")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, values in _string_collections(path)
        if len(values & codes) >= 3
    ]
    assert lists == []
