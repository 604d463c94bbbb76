"""Line pairing of the routes API (app/services/routes.py): pure rules, no database."""

from __future__ import annotations

import pytest

from app.pages import catalog
from app.services import routes as r


def osm(osm_id: int, sloids: tuple[str, ...] = (), **fields) -> r.OsmLine:
    values = {
        "mode": "bus",
        "ref": "11",
        "name": None,
        "operator": "ZVB",
        "network": None,
        "gtfs_route_id": None,
        "master_id": None,
        "origin": None,
        "destination": None,
        "stops": len(sloids),
        **fields,
    }
    return r.OsmLine(osm_id=osm_id, sloids=sloids, **values)


def gtfs(route_id: str, directions: dict[str, tuple[str | None, tuple[str, ...]]], **fields) -> r.GtfsLine:
    values = {
        "agency_id": None,
        "agency_name": "ZVB",
        "short_name": "11",
        "long_name": None,
        "route_type": "3",
    }
    line = r.GtfsLine(route_id=route_id, **{**values, **fields})
    for direction_id, (destination, sloids) in directions.items():
        line.directions.append(
            r.GtfsDirection(route_id, direction_id, None, destination, len(sloids), sloids)
        )
    return line


LINE_11 = gtfs("92-11-B-j21-1", {"0": ("Zug, C", ("a0", "b0", "c0")), "1": ("Zug, A", ("c1", "b1", "a1"))})


def test_a_relation_pairs_with_the_direction_whose_destination_it_names():
    pairing = r.pair_lines([osm(1, destination="Zug, C")], [LINE_11])
    assert pairing.osm_partners == {1: [("92-11-B-j21-1", "0")]}
    assert pairing.gtfs_partners == {("92-11-B-j21-1", "0"): [1]}


def test_the_order_of_shared_registry_stops_decides_the_direction_over_a_wrong_terminus():
    # a relation cut at the data's edge names an inner stop as its end; the stops still go a → c
    shared = gtfs("r", {"0": ("Zürich HB", ("a", "b", "c", "d")), "1": ("Luzern", ("d", "c", "b", "a"))})
    pairing = r.pair_lines([osm(1, ("a", "b", "c"), destination="Baar")], [shared])
    assert pairing.osm_partners == {1: [("r", "0")]}
    backwards = r.pair_lines([osm(2, ("c", "b", "a"), destination="Baar")], [shared])
    assert backwards.osm_partners == {2: [("r", "1")]}


def test_a_relation_without_direction_or_stops_keeps_both_directions_as_a_tie():
    pairing = r.pair_lines([osm(1)], [LINE_11])
    assert pairing.osm_partners == {1: [("92-11-B-j21-1", "0"), ("92-11-B-j21-1", "1")]}


def test_the_same_normalised_route_id_wins_over_another_route_of_the_same_ref():
    other = gtfs("92-11-F-j21-1", {"0": ("Zug, C", ("a0", "b0", "c0"))})
    relation = osm(1, ("a0", "b0", "c0"), destination="Zug, C", gtfs_route_id="92-11-B-j26-1")
    assert r.pair_lines([relation], [LINE_11, other]).osm_partners == {1: [("92-11-B-j21-1", "0")]}
    without_id = osm(2, ("a0", "b0", "c0"), destination="Zug, C")
    assert r.pair_lines([without_id], [LINE_11, other]).osm_partners == {
        2: [("92-11-B-j21-1", "0"), ("92-11-F-j21-1", "0")]
    }


def test_another_operators_line_of_the_same_ref_is_no_partner():
    assert r.pair_lines([osm(1, operator="PostAuto", destination="Zug, C")], [LINE_11]).osm_partners == {}


def test_a_relation_without_operator_pairs_on_its_ref():
    assert r.pair_lines([osm(1, operator=None, destination="Zug, A")], [LINE_11]).osm_partners == {
        1: [("92-11-B-j21-1", "1")]
    }


@pytest.mark.parametrize(
    ("osm_seq", "gtfs_seq", "expected"),
    [
        (("a", "b", "c"), ("a", "b", "c"), (3, 2)),
        (("c", "b", "a"), ("a", "b", "c"), (3, -2)),
        (("a", "x", "c"), ("a", "b", "c", "d"), (2, 1)),
        (("a",), ("a", "b"), (1, 0)),
        ((), ("a",), (0, 0)),
    ],
)
def test_stop_order_counts_shared_stops_and_steps_along_the_itinerary(osm_seq, gtfs_seq, expected):
    assert r.stop_order(osm_seq, gtfs_seq) == expected


@pytest.mark.parametrize(
    ("route_type", "mode"),
    [("3", "bus"), ("700", "bus"), ("702", "bus"), ("2", "train"), ("106", "train"), ("900", "tram"),
     ("1000", "ferry"), ("1300", "aerialway"), ("1400", "funicular"), ("11", "trolleybus"), ("1700", None),
     (None, None), ("", None), ("bus", None), ("٣", None)],
)  # fmt: skip
def test_gtfs_route_types_read_as_osm_modes(route_type, mode):
    assert r.gtfs_mode(route_type) == mode
    assert mode is None or mode in r.MODES


def test_cursor_round_trips_and_refuses_foreign_cursors():
    key = ["osm", "002011", "123"]
    assert r.decode_cursor(r.encode_cursor(key)) == key
    for bad in ("x", "eyJzIjoicHJpb3JpdHkiLCJrIjpbMSwyXX0", r.encode_cursor(["a", "b"])):
        with pytest.raises(r.InvalidCursorError):
            r.decode_cursor(bad)


def test_lines_sort_by_side_then_line_number_as_a_number():
    items = [
        {"side": "osm", "ref": ref, "id": str(i)} for i, ref in enumerate(["11", "2", "S3", None, "101"])
    ]
    assert [i["ref"] for i in sorted(items, key=r.sort_key)] == ["2", "11", "101", None, "S3"]


@pytest.mark.parametrize(
    ("side", "route_id", "ok"),
    [("osm", "1", True), ("osm", "01", False), ("osm", "1" * 19, False), ("gtfs", "92-11-B-j21-1", True),
     ("gtfs", "a\x00b", False), ("gtfs", "\ud800", False), ("gtfs", "x" * 256, False), ("bus", "1", False)],
)  # fmt: skip
def test_route_ids_a_line_can_have(side, route_id, ok):
    assert r.valid_route_id(side, route_id) is ok


def test_every_stop_status_has_a_page_label():
    assert [e.code for e in catalog.ROUTE_STOP_STATUSES] == list(r.STOP_STATUSES)
