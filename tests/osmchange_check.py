"""A structural check of osmChange documents against the OSM API 0.6 change format.

The OSM API publishes no official XSD for osmChange; these are the rules its upload handler and
JOSM enforce (the same ones the community XSDs encode): root ``osmChange`` with ``version="0.6"``,
only ``create``/``modify``/``delete`` actions, only ``node``/``way``/``relation`` elements in them,
integer ids, positive versions on modify/delete, WGS84 lat/lon on nodes, ``tag`` children with
exactly ``k`` and ``v``, keys unique per element, keys and values of 1..255 characters, and no
element twice in one file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

ACTIONS = {"create", "modify", "delete"}
ELEMENTS = {"node", "way", "relation"}
NODE_ATTRIBUTES = {"id", "version", "lat", "lon", "changeset", "user", "uid", "visible", "timestamp"}


def _int(value: str | None, what: str) -> int:
    if value is None:
        raise AssertionError(f"{what} is missing")
    try:
        return int(value)
    except ValueError:
        raise AssertionError(f"{what}={value!r} is not an integer") from None


def _float(value: str | None, what: str, low: float, high: float) -> float:
    if value is None:
        raise AssertionError(f"{what} is missing")
    number = float(value)
    if not low <= number <= high:
        raise AssertionError(f"{what}={value} outside [{low}, {high}]")
    return number


def check_osmchange(document: bytes) -> list[tuple[str, str, int]]:
    """Raise AssertionError on the first rule broken; return (action, type, id) of every element."""
    root = ET.fromstring(document)  # noqa: S314 - our own output, parsed in a test
    assert root.tag == "osmChange", f"root is <{root.tag}>"
    assert root.get("version") == "0.6", "osmChange version must be 0.6"
    seen: set[tuple[str, int]] = set()
    out: list[tuple[str, str, int]] = []
    for action in root:
        assert action.tag in ACTIONS, f"<{action.tag}> is not an osmChange action"
        for element in action:
            assert element.tag in ELEMENTS, f"<{element.tag}> is not an OSM element"
            osm_id = _int(element.get("id"), f"{element.tag} id")
            assert osm_id != 0, "id 0 is not allowed"
            if action.tag in {"modify", "delete"}:
                assert osm_id > 0, "modify/delete need an existing (positive) id"
                assert _int(element.get("version"), f"{element.tag} {osm_id} version") >= 1
            if element.tag == "node":
                assert set(element.attrib) <= NODE_ATTRIBUTES, f"unknown node attributes {element.attrib}"
                if action.tag != "delete":
                    _float(element.get("lat"), f"node {osm_id} lat", -90.0, 90.0)
                    _float(element.get("lon"), f"node {osm_id} lon", -180.0, 180.0)
            assert (element.tag, osm_id) not in seen, f"{element.tag} {osm_id} appears twice"
            seen.add((element.tag, osm_id))
            keys: set[str] = set()
            allowed_children = {"tag"} | ({"nd"} if element.tag == "way" else set())
            allowed_children |= {"member"} if element.tag == "relation" else set()
            for child in element:
                assert child.tag in allowed_children, f"<{child.tag}> not allowed in <{element.tag}>"
                if child.tag != "tag":
                    continue
                assert set(child.attrib) == {"k", "v"}, f"tag attributes {child.attrib}"
                key, value = child.get("k") or "", child.get("v") or ""
                assert 1 <= len(key) <= 255, f"tag key {key!r} length"
                assert len(value) <= 255, f"tag value of {key} too long"
                assert key not in keys, f"tag {key} twice on {element.tag} {osm_id}"
                keys.add(key)
            if element.tag == "way" and action.tag != "delete":
                assert element.find("nd") is not None, "a way without nodes would lose its geometry"
            out.append((action.tag, element.tag, osm_id))
    return out
