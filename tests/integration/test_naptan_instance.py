"""A UK instance end to end: `PIPELINE_SOURCES=naptan,osm` with the Great Britain boundary, the real
NaPTAN export of Brighton and Hove (tests/data/naptan, 2022-12) against an OSM side DERIVED from it at
the rates stated in tests/naptan_derivation.py.

No real UK OSM extract is available offline, so the OSM side is synthetic: 80 % of the active stops
present (60 % of those with `naptan:AtcoCode`, 30 % with a name only, a tenth of which renamed after
their street, 10 % bare), jittered by up to 6 m, 3 % of the identified ones 45 m away, 20 closed stops
still mapped, 25 OSM-only stops. The rates below therefore measure the matcher on NaPTAN's own
structure (stop pairs on both sides of a road share a name and a stop area), not on OSM's real mess.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from database import db
from database.models import Match, OsmStop, Problem, RegistryStopRow
from pipeline.sources.base import ParseOptions
from pipeline.sources.naptan import NaptanSource, read_xml
from runs.stages import RunOptions, run_pipeline
from tests.naptan_derivation import Derived, derive_osm, write_osm

ROOT = Path(__file__).resolve().parents[2]
XML_ZIP = ROOT / "tests/data/naptan/naptan149_brighton.xml.zip"
GB_BOUNDARY = "data/boundary/gb.geojson"
SWISS_KEYS = ("uic_ref", "uic_name", "ref:IFOPT", "ref:sloid")


@pytest.fixture(scope="module")
def derived() -> Derived:
    registry = NaptanSource().parse([XML_ZIP], ParseOptions(uic_country_codes=None)).records
    with zipfile.ZipFile(XML_ZIP) as archive, archive.open(archive.namelist()[0]) as stream:
        inactive = [
            (row.atco_code, row.common_name, float(row.latitude), float(row.longitude))
            for row in read_xml(stream, "brighton", {})
            if row.status != "active"
        ]
    return derive_osm(registry, inactive)


@pytest.fixture
def uk(make_app, tmp_path, derived):
    """An app configured as a UK instance, after one offline pipeline run over the two sources."""
    folder = tmp_path / "sources"
    folder.mkdir()
    shutil.copy(XML_ZIP, folder / XML_ZIP.name)
    write_osm(folder / "osm_brighton.json", derived)
    app = make_app(
        PIPELINE_SOURCES="naptan,osm",
        PIPELINE_BOUNDARY_FILE=GB_BOUNDARY,
        PIPELINE_SOURCE_DIR=str(folder),
        PIPELINE_CACHE_DIR=str(tmp_path / "cache"),
        OVERPASS_AREAS="ISO3166-1=GB",
        NAPTAN_URL="",
        OSM_URL="",
    )
    with app.app_context():
        summary = run_pipeline(RunOptions(trigger="cli", source_dir=folder, offline=True))
        assert summary.status == "succeeded", summary.error
        yield app, summary
        db.session.remove()


def test_a_uk_instance_matches_naptan_against_osm_end_to_end(uk, derived):
    _app, summary = uk
    stops = db.session.scalars(select(RegistryStopRow)).all()
    assert {s.source for s in stops} == {"naptan"}  # no ATLAS stop in a UK instance
    assert len(stops) == 1195  # active stops, rail entrances left out
    assert db.session.query(OsmStop).count() == derived.stop_objects()
    matches = db.session.scalars(select(Match)).all()
    truth = derived.truth
    correct = [m for m in matches if truth.get(m.stop_id) == m.osm_key]
    present = set(truth)
    # precision: measured 1.000 (every pair is the derived object of its stop)
    assert len(correct) / len(matches) >= 0.99
    # recall over the stops OSM has: identifier, name and distance stages together
    assert len({m.stop_id for m in correct}) / len(present) >= 0.97
    by_method = Counter(m.method for m in matches if m.stop_id in derived.groups["with_atco"])
    identified = {m.stop_id for m in correct if m.stop_id in derived.groups["with_atco"]}
    assert identified == derived.groups["with_atco"]  # every naptan:AtcoCode found its stop
    assert by_method.most_common(1)[0][0].startswith("exact")
    # NaPTAN StopAreas are the stops' parent_id: the stop-area stage places members of a mapped
    # stop_area relation by platform code (a bay's letter) once one member is known by its AtcoCode.
    by_stop_area = [m for m in matches if m.method == "stop_area"]
    assert by_stop_area
    assert all(truth[m.stop_id] == m.osm_key for m in by_stop_area)
    taken = {m.osm_key for m in matches}
    assert not taken & derived.groups["extra"]  # OSM-only stops stay unmatched
    assert not taken & derived.groups["inactive_in_osm"]  # a closed stop's object names no active stop
    assert summary.counts["registry_stops"] == 1195
    assert summary.counts["parse"]["osm"]["stop_areas"] == len(derived.stop_areas)


def test_a_uk_instance_reports_osm_only_and_missing_stops(uk, derived):
    problems = db.session.scalars(select(Problem).where(Problem.problem_type == "unmatched")).all()
    unmatched_osm = {p.osm_key for p in problems if p.osm_key}
    assert derived.groups["extra"] <= unmatched_osm
    assert derived.groups["inactive_in_osm"] <= unmatched_osm
    unmatched_stops = {p.stop_id for p in problems if p.stop_id}
    assert len(unmatched_stops & derived.groups["absent"]) / len(derived.groups["absent"]) >= 0.95
    assert all(p.source == "naptan" for p in problems if p.stop_id)


def test_the_uk_instance_proposes_missing_stops_with_their_atco_code(uk, derived):
    app, _summary = uk
    response = app.test_client().get("/api/v1/fixes/osmchange.osc?create=true")
    assert response.status_code == 200
    created = [
        {t.get("k"): t.get("v") for t in node.iter("tag")}
        for node in ET.fromstring(response.data).iter("node")  # noqa: S314 - our own output
        if int(node.get("id")) < 0
    ]
    assert len(created) >= 0.3 * len(derived.groups["absent"])  # the others have an OSM stop nearby
    by_atco = {tags["naptan:AtcoCode"]: tags for tags in created}
    assert set(by_atco) <= derived.groups["absent"]
    # Mappers around Brighton tag naptan:AtcoCode (60 % of the derived objects): new stops follow.
    assert len(by_atco) == len(created)
    for tags in by_atco.values():
        assert tags["highway"] == "bus_stop"
        assert tags["public_transport"] == "platform"
        assert not set(tags) & set(SWISS_KEYS)


def test_the_uk_instance_exports_fixes_with_naptan_tags_and_never_swiss_ones(uk, derived):
    app, _summary = uk
    client = app.test_client()
    osc = client.get("/api/v1/fixes/osmchange.osc?move=true")
    assert osc.status_code == 200
    text = osc.get_data(as_text=True)
    assert 'k="naptan:AtcoCode"' in text
    for key in SWISS_KEYS:
        assert f'k="{key}"' not in text
    maproulette = client.get("/api/v1/fixes/maproulette.geojson")
    assert maproulette.status_code == 200
    lines = maproulette.get_data(as_text=True)
    assert "naptan:AtcoCode" in lines
    for key in SWISS_KEYS:
        assert f'"{key}"' not in lines
    # a renamed stop's object gets its identifier from the registry; its name is never touched
    nodes = {f"node/{n.get('id')}": n for n in ET.fromstring(osc.data).iter("node")}  # noqa: S314 - ours
    mapped = {f"node/{e['id']}": e["tags"] for e in derived.elements}
    renamed = {derived.truth[stop_id] for stop_id in derived.groups["renamed"]}
    fixed = renamed & set(nodes)
    assert fixed
    matched_to = {m.osm_key: m.stop_id for m in db.session.scalars(select(Match))}
    for key in fixed:
        tags = {t.get("k"): t.get("v") for t in nodes[key].iter("tag")}
        assert tags["naptan:AtcoCode"] == matched_to[key]  # the stop it was matched to (1 of 29 wrongly)
        assert tags["name"] == mapped[key]["name"]  # the street name the mapper gave stays
    # an object 45 m from its stop (a distance problem) moves to the registry position with move=true:
    # the answer lists the ways around stop nodes, so none of these lies on a way
    stops = {s.stop_id: s for s in db.session.scalars(select(RegistryStopRow))}
    for stop_id in derived.groups["moved"]:
        node = nodes[derived.truth[stop_id]]
        assert abs(float(node.get("lat")) - stops[stop_id].lat) < 1e-6
        assert abs(float(node.get("lon")) - stops[stop_id].lon) < 1e-6
        tags = {t.get("k"): t.get("v") for t in node.iter("tag")}
        assert tags["naptan:AtcoCode"] == stop_id
        if stops[stop_id].code:
            assert tags["naptan:NaptanCode"] == stops[stop_id].code  # added where the object lacked it
