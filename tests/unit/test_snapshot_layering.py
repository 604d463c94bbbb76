"""The database layer owns the snapshot import and depends on nothing above it: `database/` never
imports the app, the run package or the scheduler (the old `pipeline/importer.py` reached into
`app.services.stops` for the map's SQL; issue 12)."""

from __future__ import annotations

from tests.unit.test_import_rules import offences


def test_the_database_layer_never_imports_the_app_runs_or_the_scheduler():
    assert offences("database", frozenset({"app", "runs", "scheduler"})) == []
