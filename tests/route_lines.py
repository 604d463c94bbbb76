"""Hand-made lines on both sides (OSM route relations, GTFS routes) for the routes API and page tests."""

from __future__ import annotations

from tests import factories as f

ZVB = "Zugerland Verkehrsbetriebe"
LINE_11 = "92-11-B-j21-1"


def seed_line_11() -> dict[str, str]:
    """Line 11 both ways on both sides, line 5 only in the timetable, line 99 only in OSM.

    Direction 0 (a stop abroad that resolves to no registry stop, then A → B → C) and direction 1
    (C' → B' → A'); OSM relation 101 = direction 0, 102 = direction 1 without B' (so B' is served
    only by the timetable), 103 = another operator's line 99 through A.
    """
    keys: dict[str, str] = {}
    for i, name in enumerate(("A", "B", "C")):
        for side, suffix in ((0, ""), (1, "'")):
            stop, node, _ = f.matched_pair(
                lat=47.17 + i * 0.003, lon=9.51 + side * 0.0003, name=f"Zug, {name}"
            )
            keys[f"{name}{suffix}"] = stop.stop_id
            keys[f"node {name}{suffix}"] = node.osm_key
    position = f.osm_stop(name="Zug, A", public_transport="stop_position", highway=None)  # matched to nothing
    keys["position A"] = position.osm_key
    f.osm_route(
        101,
        [position.osm_key, keys["node A"], keys["node B"], keys["node C"]],
        roles=["stop", "platform", "platform", "platform"],
        ref="11",
        name="Bus 11: Zug, A => Zug, C",
        operator=ZVB,
        to_name="Zug, C",
        gtfs_route_id="92-11-B-j26-1",
        master_id=100,
    )
    f.osm_route(102, [keys["node C'"], keys["node A'"]], ref="11", operator=ZVB, name="Bus 11: C => A")
    f.osm_route(103, [keys["node A"]], ref="99", operator="Other Bus AG", to_name="Nowhere", name="Bus 99")
    f.gtfs_route(
        LINE_11,
        {
            "0": [("Konstanz", None), ("Zug, A", keys["A"]), ("Zug, B", keys["B"]), ("Zug, C", keys["C"])],
            "1": [("Zug, C", keys["C'"]), ("Zug, B", keys["B'"]), ("Zug, A", keys["A'"])],
        },
        agency_name=ZVB,
        short_name="11",
        long_name="Zug, A - Zug, C",
        route_key="92-11-b-jxx-1",
    )
    f.gtfs_route("92-5-A-j21-1", {"0": [("Zug, B", keys["B"])]}, agency_name=ZVB, short_name="5")
    return keys
