"""Read paths with two registries in one instance holding the same id string (on purpose): the answers
about one registry's stop are not disturbed by the other registry's stop (registry stops are
(source, stop_id)): the problem filter, the change list, the fix exports, the map read model."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import pipeline.sources as sources
from database import db
from database.snapshot import map_features
from pipeline.sources import register_source
from tests import factories as f
from tests.second_registry import ZhvSource

SAME_ID = "ch:1:sloid:7777:0:1"  # an ATLAS sloid that the fake zHV registry also uses, on purpose
KONSTANZ = {"lat": 47.6581, "lon": 9.1781}


@pytest.fixture(autouse=True)
def zhv(monkeypatch):
    """zHV registered as a second registry plug-in for these tests only."""
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    register_source(ZhvSource())


def zhv_stop(stop_id: str = SAME_ID, **fields):
    """The zHV stop with the ATLAS stop's id, in Konstanz."""
    values = {"source": "zhv", "dataset": "csv", "name": "Konstanz Bf", "country_code": "DE", **KONSTANZ}
    return f.atlas_stop(stop_id, **{**values, **fields})


def zhv_problem(problem_type: str, osm_key: str | None = None, **fields):
    """A zHV stop's problem, its identity as the pipeline names another registry's stop."""
    return f.problem(
        problem_type,
        stop_id=SAME_ID,
        osm_key=osm_key,
        source="zhv",
        identity=f"{problem_type}:zhv/{SAME_ID}:{osm_key or '-'}",
        **{**KONSTANZ, **fields},
    )


# --- map read model --------------------------------------------------------------------------------


def test_the_map_read_model_gives_a_stop_only_its_own_registrys_problem_pairs(app):
    f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_problem("unmatched", priority=1)
    db.session.execute(text("DELETE FROM map_features"))
    for statement in map_features.insert_statements():
        db.session.execute(text(statement))
    pairs = db.session.scalar(
        text("SELECT problem_pairs FROM map_features WHERE kind = 'atlas' AND key = :key"), {"key": SAME_ID}
    )
    assert pairs == []


# --- problems API ----------------------------------------------------------------------------------


def test_the_problem_list_filtered_by_stop_id_gives_only_that_registrys_problems(app, client):
    atlas = f.atlas_stop(SAME_ID, name="Vaduz, Post")
    zhv_stop()
    p_atlas = f.problem("unmatched", stop_id=atlas.stop_id)
    p_zhv = zhv_problem("unmatched")

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/v1/problems?{query}")
        assert response.status_code == 200, response.get_json()
        return [p["identity"] for p in response.get_json()["problems"]]

    # The old name means ATLAS; an id two registries hold, without a source, too.
    assert listed(f"sloid={SAME_ID}") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}&source=atlas") == [p_atlas.identity]
    assert listed(f"stop_id={SAME_ID}&source=zhv") == [p_zhv.identity]


def test_the_problem_list_filtered_by_stop_id_alone_finds_the_one_registry_holding_it(app, client):
    zhv_stop()
    p_zhv = zhv_problem("unmatched")
    body = client.get(f"/api/v1/problems?stop_id={SAME_ID}").get_json()
    assert [p["identity"] for p in body["problems"]] == [p_zhv.identity]
