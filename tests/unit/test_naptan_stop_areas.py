"""The stop-area stage anchors a stop_area relation by the identifier the registry declares for it
(`RegistryDeclaration.stop_area`): NaPTAN's `naptan:StopAreaCode` ↔ the stops' StopArea (parent_id),
ATLAS's `uic_ref` ↔ the UIC number as before. Measured on the OSM side derived from the real Brighton
export (tests/naptan_derivation.py: its 29 stop_area relations carry `naptan:StopAreaCode`)."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.declarations import declaration_for
from pipeline.matching import match_stops
from pipeline.records import OsmMember, OsmObject, OsmStopArea, OsmStructure, RegistryStop
from pipeline.sources.base import ParseOptions
from pipeline.sources.naptan import NaptanSource, read_xml
from pipeline.sources.osm import OsmSource
from tests.naptan_derivation import Derived, derive_osm, write_osm

ROOT = Path(__file__).resolve().parents[2]
XML_ZIP = ROOT / "tests/data/naptan/naptan149_brighton.xml.zip"
LAT, LON = 50.8350, -0.1100
M_PER_DEG = 111_195.0


def _stop(stop_id: str, parent_id: str | None, north_m: float, letter: str | None = None) -> RegistryStop:
    return RegistryStop(
        source="naptan", stop_id=stop_id, dataset="xml", code=None, platform_code=letter, name="Old Steine",
        operator_code=None, operator_name=None, modes="BUS", country_code="GB", region="149",
        parent_id=parent_id, valid_from=None, valid_to=None, lat=LAT + north_m / M_PER_DEG, lon=LON,
        row_hash=stop_id, attributes={"stop_type": "BCT", "status": "active"},
    )  # fmt: skip


def _object(osm_id: int, north_m: float, local_ref: str | None = None) -> OsmObject:
    # No name, no identifier: at most a stop letter.
    tags = {"highway": "bus_stop", "public_transport": "platform"} | (
        {"local_ref": local_ref} if local_ref else {}
    )
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name=None, uic_ref=None,
        uic_name=None, ifopt=None, local_ref=local_ref, operator=None, network=None,
        public_transport="platform",
        railway=None, highway="bus_stop", amenity=None, aerialway=None, tags=tags,
        lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=str(osm_id),
    )  # fmt: skip


def _area(osm_id: int, tags: dict[str, str], *keys: str) -> OsmStopArea:
    members = tuple(OsmMember("platform", key, i) for i, key in enumerate(keys))
    return OsmStopArea(osm_id, 1, tags.get("name"), None, None, tags, members)


def test_a_stop_area_relation_is_anchored_by_its_naptan_stop_area_code():
    # Stops A and B of StopArea 149G00001 ("Old Steine" in NaPTAN, "Steine Gardens" in OSM: no name
    # anchors it) and an OSM stop with only its letter: the relation's naptan:StopAreaCode says which
    # stop area, the letter which of its stops.
    registry = [_stop("149000000001", "149G00001", 0.0, "A"), _stop("149000000002", "149G00001", 60.0, "B")]
    objects = [_object(1, 40.0, local_ref="B")]
    relation = _area(
        7,
        {"public_transport": "stop_area", "naptan:StopAreaCode": "149G00001", "name": "Steine Gardens"},
        "node/1",
    )
    result = match_stops(registry, objects, osm_structure=OsmStructure(stop_areas=(relation,)))
    assert result.stop_areas.anchored == {7: "149G00001"}
    (joined,) = [m for m in result.matches if m.method == "stop_area"]
    assert (joined.stop_id, joined.osm_key) == ("149000000002", "node/1")
    assert joined.evidence["rule"] == "member of a stop area anchored by the stop area's naptan:StopAreaCode"
    assert joined.evidence["naptan:StopAreaCode"] == "149G00001"


def test_a_stop_area_code_naming_no_loaded_stop_area_anchors_nothing():
    registry = [_stop("149000000001", "149G00001", 0.0)]
    relation = _area(7, {"public_transport": "stop_area", "naptan:StopAreaCode": "149G99999"}, "node/1")
    result = match_stops(registry, [_object(1, 3.0)], osm_structure=OsmStructure(stop_areas=(relation,)))
    assert result.stop_areas.anchored == {}


def test_each_registry_declares_its_stop_area_identifier():
    assert declaration_for("naptan").stop_area is not None
    assert (declaration_for("naptan").stop_area.field, declaration_for("naptan").stop_area.osm_tags) == (
        "parent_id",
        ("naptan:StopAreaCode",),
    )
    atlas = declaration_for("atlas").stop_area
    assert atlas is not None
    assert (atlas.field, atlas.osm_tags) == ("code", ("uic_ref",))


@pytest.fixture(scope="module")
def brighton(tmp_path_factory) -> tuple[list[RegistryStop], Derived, list[OsmObject], OsmStructure]:
    registry = NaptanSource().parse([XML_ZIP], ParseOptions(uic_country_codes=None)).records
    with zipfile.ZipFile(XML_ZIP) as archive, archive.open(archive.namelist()[0]) as stream:
        inactive = [
            (row.atco_code, row.common_name, float(row.latitude), float(row.longitude))
            for row in read_xml(stream, "brighton", {})
            if row.status != "active"
        ]
    derived = derive_osm(registry, inactive)
    path = tmp_path_factory.mktemp("osm") / "osm_brighton.json"
    write_osm(path, derived)
    parsed = OsmSource().parse([path], ParseOptions(uic_country_codes=None))
    assert parsed.structure is not None
    return registry, derived, parsed.records, parsed.structure


def test_every_derived_brighton_stop_area_is_anchored_to_its_naptan_stop_area(brighton):
    registry, derived, objects, structure = brighton
    assert len(structure.stop_areas) == len(derived.stop_areas) == 29
    result = match_stops(registry, objects, osm_structure=structure)
    code_of = {area.osm_id: area.tags["naptan:StopAreaCode"] for area in structure.stop_areas}
    assert result.stop_areas.anchored == code_of
    assert all(derived.truth[m.stop_id] == m.osm_key for m in result.matches if m.method == "stop_area")


def test_brighton_stop_areas_known_only_by_their_stop_area_code_are_anchored_by_it(brighton):
    # The same relations without a name, over members without any naptan:* tag: nothing but the
    # relation's naptan:StopAreaCode says which stops they group. Measured: before the declared
    # stop-area identifier 0 of 29 were anchored (no member identified, no name); now 29 of 29, and their
    # unnamed members join 41 stops by stop letter, every one the derived object of its stop.
    registry, derived, objects, structure = brighton
    members = {m.osm_key for area in structure.stop_areas for m in area.members}
    bare = [
        replace(o, tags={k: v for k, v in o.tags.items() if not k.startswith("naptan:")})
        if o.osm_key in members
        else o
        for o in objects
    ]
    nameless = OsmStructure(
        stop_areas=tuple(
            replace(a, name=None, tags={k: v for k, v in a.tags.items() if k != "name"})
            for a in structure.stop_areas
        )
    )
    result = match_stops(registry, bare, osm_structure=nameless)
    code_of = {area.osm_id: area.tags["naptan:StopAreaCode"] for area in nameless.stop_areas}
    assert result.stop_areas.anchored == code_of
    by_stop_area = [m for m in result.matches if m.method == "stop_area"]
    assert len(by_stop_area) >= 40
    assert all(derived.truth[m.stop_id] == m.osm_key for m in by_stop_area)
