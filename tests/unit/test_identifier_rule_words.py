"""The "names another stop" rules read the stop's own registry's declared code (ATLAS: `uic_ref`,
NaPTAN: `naptan:NaptanCode`), and the why-not-matched texts name that registry's tags and labels."""

from __future__ import annotations

import pytest

from app.services.candidates import REJECTION_TEXT, rejection_text
from pipeline.matching import match_stops
from pipeline.matching.context import MatchContext
from pipeline.matching.explain import REJECTION_RULES
from pipeline.records import OsmObject, RegistryStop

LAT, LON = 53.7960, -1.5470  # Leeds, where NaptanCodes are digits (West Yorkshire: 450xxxxx)
M_PER_DEG = 111_195.0


def _naptan(stop_id: str, code: str, north_m: float = 0.0) -> RegistryStop:
    return RegistryStop(
        source="naptan", stop_id=stop_id, dataset="xml", code=code, platform_code=None, name="City Square",
        operator_code=None, operator_name=None, modes="BUS", country_code="GB", region="450", parent_id=None,
        valid_from=None, valid_to=None, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=stop_id,
        attributes={"stop_type": "BCT", "status": "active"},
    )  # fmt: skip


def _object(osm_id: int, tags: dict[str, str], north_m: float = 0.0) -> OsmObject:
    tags = {"highway": "bus_stop", "public_transport": "platform", **tags}
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name=tags.get("name"),
        uic_ref=tags.get("uic_ref"), uic_name=tags.get("uic_name"), ifopt=None, local_ref=None, operator=None,
        network=None, public_transport="platform", railway=None, highway="bus_stop", amenity=None,
        aerialway=None, tags=tags, lat=LAT + north_m / M_PER_DEG, lon=LON, row_hash=str(osm_id),
    )  # fmt: skip


def test_a_uic_ref_never_names_another_stop_for_a_naptan_stop_with_a_numeric_code():
    # A numeric NaptanCode is no UIC number: the object's uic_ref and uic_name (a station's, 7056220
    # "Leeds") say nothing against the bus stop of the same name.
    stop = _naptan("450010001", "45010001")
    obj = _object(1, {"name": "City Square", "uic_ref": "7056220", "uic_name": "Leeds"}, north_m=8)
    assert MatchContext([stop], [obj]).pair_rejection(0, 0) is None
    assert [m.osm_key for m in match_stops([stop], [obj]).matches] == ["node/1"]


def test_a_naptan_code_of_another_stop_keeps_the_pair_apart():
    stop, other = _naptan("450010001", "45010001"), _naptan("450010002", "45010002", north_m=300)
    obj = _object(1, {"name": "City Square", "naptan:NaptanCode": "45010002"}, north_m=8)
    ctx = MatchContext([stop, other], [obj])
    assert ctx.pair_rejection(0, 0) == "uic_ref_names_another_registry_stop"
    assert ctx.same_code(0, 0) is False
    assert ctx.same_code(1, 0) is True


@pytest.mark.parametrize(
    ("rule", "source", "words"),
    [
        (
            "uic_ref_names_another_registry_stop",
            "atlas",
            "its uic_ref is the UIC number of another registry stop",
        ),
        (
            "uic_ref_names_another_registry_stop",
            "naptan",
            "its naptan:NaptanCode is the NaptanCode of another registry stop",
        ),
        (
            "uic_ref_and_uic_name_name_another_stop",
            "atlas",
            "its uic_ref and its uic_name both name another stop",
        ),
        (
            "ifopt_names_another_registry_stop",
            "atlas",
            "its ref:IFOPT / ref:sloid names another registry stop",
        ),
        (
            "ifopt_names_another_registry_stop",
            "naptan",
            "its naptan:AtcoCode names another registry stop (also a closed one)",
        ),
        ("osm_already_matched", "naptan", REJECTION_TEXT["osm_already_matched"]),
    ],
)
def test_why_not_matched_words_name_the_stops_own_registry_identifiers(rule: str, source: str, words: str):
    assert rejection_text(rule, source) == words


def test_no_naptan_why_not_matched_text_speaks_of_uic_numbers():
    for rule in REJECTION_RULES:
        text = rejection_text(rule, "naptan")
        assert "uic" not in text.lower(), (rule, text)
        assert "ifopt" not in text.lower(), (rule, text)
        assert "sloid" not in text.lower(), (rule, text)


def test_naptan_matches_use_the_exact_methods_for_its_own_identifiers():
    # exact_sloid = the registry's stop id (AtcoCode), exact_uic = its stop code (NaptanCode), each
    # with evidence naming the NaPTAN tag, never uic_ref.
    by_id, by_code = _naptan("450010001", "45010001"), _naptan("450010002", "45010002", north_m=300)
    objects = [
        _object(1, {"naptan:AtcoCode": "450010001"}, north_m=30),
        _object(2, {"naptan:NaptanCode": "45010002"}, north_m=330),
    ]
    result = match_stops([by_id, by_code], objects)
    found = {m.stop_id: (m.osm_key, m.method, m.evidence["rule"]) for m in result.matches}
    assert found == {
        "450010001": ("node/1", "exact_sloid", "stop_id == naptan:AtcoCode"),
        "450010002": ("node/2", "exact_uic", "naptan:NaptanCode names one registry stop"),
    }
