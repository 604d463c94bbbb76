"""Pure helpers of the steward's view: the map link's framing, problem identities read back, the
registry link template."""

from __future__ import annotations

import re

import pytest

from app.services.fix_exports import registry_link
from app.services.operators import map_hash
from pipeline.records import parse_problem_identity, problem_identity

ATLAS = "https://atlas.app.sbb.ch/service-point-directory/service-points/{number}/traffic-point-elements"


def _hash(bbox):
    zoom, lat, lon = re.fullmatch(r"#map=(\d+)/(-?[\d.]+)/(-?[\d.]+)", map_hash(bbox)).groups()
    return int(zoom), float(lat), float(lon)


def test_map_hash_frames_an_operators_stops_at_their_centre():
    zoom, lat, lon = _hash([9.47, 47.04, 9.64, 47.27])  # Liechtenstein
    assert (lat, lon) == pytest.approx((47.155, 9.555))
    assert 9 <= zoom <= 11


def test_map_hash_zooms_in_for_one_stop_and_out_for_a_country_within_the_maps_range():
    assert _hash([9.5, 47.1, 9.5, 47.1])[0] == 17
    assert _hash([5.9, 45.8, 10.5, 47.8])[0] == 7
    assert map_hash(None) == ""


@pytest.mark.parametrize(
    ("stop_id", "osm_key"),
    [("ch:1:sloid:7000:1:1", None), (None, "node/984721496"), ("ch:1:sloid:7000", "way/5"), (None, None)],
)
def test_a_problem_identity_reads_back_its_sloid_and_osm_key(stop_id, osm_key):
    assert parse_problem_identity(problem_identity("unmatched", stop_id, osm_key)) == (
        "unmatched",
        stop_id,
        osm_key,
    )


def test_registry_link_needs_the_number_its_template_uses():
    assert registry_link(ATLAS, "ch:1:sloid:7000", 8507000) == ATLAS.replace("{number}", "8507000")
    assert registry_link(ATLAS, "ch:1:sloid:7000", None) == ""
    assert registry_link("", "ch:1:sloid:7000", 8507000) == ""
    assert (
        registry_link("https://r.example/{stop_id}", "ch:1:sloid:7000", None)
        == "https://r.example/ch:1:sloid:7000"
    )
    assert (
        registry_link("https://r.example/{stop_id}", "ch:1:sloid:7#0?", None)
        == "https://r.example/ch:1:sloid:7%230%3F"
    )
