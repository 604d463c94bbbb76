"""Build the NaPTAN test fixtures from the real Brighton and Hove export in ../shared/data.

    .venv/bin/python tests/data/naptan/build_fixture.py [--shared ../shared/data]

- `naptan149_brighton.xml.zip`: the real export (NaPTAN schema 2.4 XML, ATCO area 149, 2022-12-13),
  byte for byte, zipped.
- `csv/Stops.csv`, `csv/StopsInArea.csv`, `csv/StopAreas.csv`, `csv/AreaHierarchy.csv`: NaPTAN's
  CSV layout (the DfT CSV download's columns, in its order), **converted by this script from part of
  the real XML**: no real NaPTAN CSV file is available offline. Kept: every 10th StopPoint in file
  order, plus every bus station bay (BCS) and rail entrance (RSE), with their StopAreas. Columns the
  XML does not carry (LocalityName, Town, PlateCode, ...) are left empty, as the DfT file leaves them
  when unknown.

The conversion reads the XML with the standard library's ElementTree, independently of the source's
lxml reader, so the test that compares the CSV reading with the XML reading compares two readings.
"""

from __future__ import annotations

import argparse
import csv
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_XML = "naptan_brighton_2022-12/NaPTAN149_brighton.xml"
NS = "{http://www.naptan.org.uk/}"

STOPS_HEADER = [
    "ATCOCode",
    "NaptanCode",
    "PlateCode",
    "CleardownCode",
    "CommonName",
    "CommonNameLang",
    "ShortCommonName",
    "ShortCommonNameLang",
    "Landmark",
    "LandmarkLang",
    "Street",
    "StreetLang",
    "Crossing",
    "CrossingLang",
    "Indicator",
    "IndicatorLang",
    "Bearing",
    "NptgLocalityCode",
    "LocalityName",
    "ParentLocalityName",
    "GrandParentLocalityName",
    "Town",
    "TownLang",
    "Suburb",
    "SuburbLang",
    "LocalityCentre",
    "GridType",
    "Easting",
    "Northing",
    "Longitude",
    "Latitude",
    "StopType",
    "BusStopType",
    "TimingStatus",
    "DefaultWaitTime",
    "Notes",
    "NotesLang",
    "AdministrativeAreaCode",
    "CreationDateTime",
    "ModificationDateTime",
    "RevisionNumber",
    "Modification",
    "Status",
]
STOPS_IN_AREA_HEADER = [
    "StopAreaCode", "AtcoCode", "CreationDateTime", "ModificationDateTime", "RevisionNumber", "Modification",
]  # fmt: skip
AREA_HIERARCHY_HEADER = [
    "ParentStopAreaCode", "ChildStopAreaCode", "CreationDateTime", "ModificationDateTime", "RevisionNumber",
    "Modification",
]  # fmt: skip
STOP_AREAS_HEADER = [
    "StopAreaCode", "Name", "NameLang", "AdministrativeAreaCode", "StopAreaType", "GridType", "Easting",
    "Northing", "CreationDateTime", "ModificationDateTime", "RevisionNumber", "Modification", "Status",
]  # fmt: skip


def _t(elem: ET.Element, path: str) -> str:
    found = elem.find("/".join(f"{NS}{p}" for p in path.split("/")))
    return (found.text or "").strip() if found is not None else ""


def _stop_row(sp: ET.Element) -> dict[str, str]:
    place = "Place/Location/Translation/"
    return {
        "ATCOCode": _t(sp, "AtcoCode"),
        "NaptanCode": _t(sp, "NaptanCode"),
        "CommonName": _t(sp, "Descriptor/CommonName"),
        "ShortCommonName": _t(sp, "Descriptor/ShortCommonName"),
        "Landmark": _t(sp, "Descriptor/Landmark"),
        "Street": _t(sp, "Descriptor/Street"),
        "Crossing": _t(sp, "Descriptor/Crossing"),
        "Indicator": _t(sp, "Descriptor/Indicator"),
        "Bearing": _t(sp, "StopClassification/OnStreet/Bus/MarkedPoint/Bearing/CompassPoint"),
        "NptgLocalityCode": _t(sp, "Place/NptgLocalityRef"),
        "LocalityCentre": _t(sp, "Place/LocalityCentre"),
        "GridType": _t(sp, place + "GridType"),
        "Easting": _t(sp, place + "Easting"),
        "Northing": _t(sp, place + "Northing"),
        "Longitude": _t(sp, place + "Longitude"),
        "Latitude": _t(sp, place + "Latitude"),
        "StopType": _t(sp, "StopClassification/StopType"),
        "BusStopType": _t(sp, "StopClassification/OnStreet/Bus/BusStopType"),
        "TimingStatus": _t(sp, "StopClassification/OnStreet/Bus/TimingStatus"),
        "AdministrativeAreaCode": _t(sp, "AdministrativeAreaRef"),
        "CreationDateTime": sp.get("CreationDateTime", ""),
        "ModificationDateTime": sp.get("ModificationDateTime", ""),
        "RevisionNumber": sp.get("RevisionNumber", ""),
        "Modification": sp.get("Modification", ""),
        "Status": sp.get("Status", ""),
    }


def build(xml_path: Path, out_dir: Path) -> dict[str, int]:
    """Write the zipped XML and the CSV fixture; returns the row count of each CSV file."""
    with zipfile.ZipFile(
        out_dir / "naptan149_brighton.xml.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9
    ) as z:
        z.write(xml_path, xml_path.name)
    root = ET.parse(xml_path).getroot()  # noqa: S314 - the real export, read once at build time
    stops, memberships = [], []
    for i, sp in enumerate(root.iter(f"{NS}StopPoint")):
        stop_type = _t(sp, "StopClassification/StopType")
        if i % 10 and stop_type not in {"BCS", "RSE"}:
            continue
        stops.append(_stop_row(sp))
        for ref in sp.iter(f"{NS}StopAreaRef"):
            memberships.append(
                {
                    "StopAreaCode": (ref.text or "").strip(),
                    "AtcoCode": _t(sp, "AtcoCode"),
                    "Modification": ref.get("Modification", ""),
                }
            )
    wanted = {m["StopAreaCode"] for m in memberships}
    areas, hierarchy = [], []
    for sa in root.iter(f"{NS}StopArea"):
        if _t(sa, "StopAreaCode") in wanted:
            location = {k: _t(sa, f"Location/Translation/{k}") for k in ("GridType", "Easting", "Northing")}
            keys = ("CreationDateTime", "ModificationDateTime", "RevisionNumber", "Modification", "Status")
            attributes = {k: sa.get(k, "") for k in keys}
            areas.append(
                {
                    "StopAreaCode": _t(sa, "StopAreaCode"),
                    "Name": _t(sa, "Name"),
                    "AdministrativeAreaCode": _t(sa, "AdministrativeAreaRef"),
                    "StopAreaType": _t(sa, "StopAreaType"),
                    **location,
                    **attributes,
                }
            )
            if _t(sa, "ParentStopAreaRef"):
                hierarchy.append({"ParentStopAreaCode": _t(sa, "ParentStopAreaRef"),
                                  "ChildStopAreaCode": _t(sa, "StopAreaCode")})  # fmt: skip
    csv_dir = out_dir / "csv"
    csv_dir.mkdir(exist_ok=True)
    for name, header, rows in (
        ("Stops.csv", STOPS_HEADER, stops),
        ("StopsInArea.csv", STOPS_IN_AREA_HEADER, memberships),
        ("StopAreas.csv", STOP_AREAS_HEADER, areas),
        ("AreaHierarchy.csv", AREA_HIERARCHY_HEADER, hierarchy),
    ):
        with (csv_dir / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, restval="", lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
    return {"Stops.csv": len(stops), "StopsInArea.csv": len(memberships), "StopAreas.csv": len(areas),
            "AreaHierarchy.csv": len(hierarchy)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[3] / "shared" / "data")
    args = parser.parse_args()
    print(build(args.shared / SHARED_XML, HERE))


if __name__ == "__main__":
    main()
