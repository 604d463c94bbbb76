"""A small writer: an Overpass JSON answer as an OSM XML 0.6 document that osmium reads.

Overpass JSON is what the pipeline downloads; osmium (``apply-changes``) reads OSM XML or PBF. The
JSON must hold complete objects: nodes with positions, ways with their node lists (the demo file
has them, including the vertices of platform outlines); relations keep their members in order.
A way's ``center`` is dropped: the parser computes it from the vertices again. Objects come out
sorted by type and id, as osmium expects.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

_ORDER = {"node": 0, "way": 1, "relation": 2}


def _attributes(element: dict[str, Any]) -> dict[str, str]:
    out = {"id": str(element["id"])}
    for name in ("version", "timestamp"):
        if element.get(name) is not None:
            out[name] = str(element[name])
    if element["type"] == "node":
        out["lat"] = f"{element['lat']:.7f}"
        out["lon"] = f"{element['lon']:.7f}"
    return out


def overpass_json_to_osm_xml(source: Path, target: Path) -> int:
    """Write `source` (Overpass JSON) to `target` (OSM XML); returns the number of objects written."""
    data = json.loads(source.read_text(encoding="utf-8"))
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for element in data["elements"]:
        key = (element["type"], int(element["id"]))
        if element["type"] == "way" and "nodes" not in element:
            raise ValueError(f"way {element['id']} has no node list: the JSON is not complete")
        # An object listed twice (stop object, then again as a way of `way(bn)`): keep the richer one.
        if key not in seen or len(element) > len(seen[key]):
            seen[key] = element
    root = ET.Element("osm", {"version": "0.6", "generator": "StopSync tests/osm_xml.py"})
    for (kind, _), element in sorted(seen.items(), key=lambda kv: (_ORDER[kv[0][0]], kv[0][1])):
        child = ET.SubElement(root, kind, _attributes(element))
        for ref in element.get("nodes", []) if kind == "way" else []:
            ET.SubElement(child, "nd", {"ref": str(ref)})
        for member in element.get("members", []) if kind == "relation" else []:
            attributes = {"type": member["type"], "ref": str(member["ref"]), "role": member.get("role", "")}
            ET.SubElement(child, "member", attributes)
        for key, value in sorted((element.get("tags") or {}).items()):
            ET.SubElement(child, "tag", {"k": key, "v": value})
    ET.indent(root, space=" ")
    target.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return len(seen)
