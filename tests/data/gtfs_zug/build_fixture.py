"""Rebuild this folder's fixture from the shared real data (run from the repository root):

    .venv/bin/python tests/data/gtfs_zug/build_fixture.py [../shared/data]

- `gtfs_zug.zip`: the real Swiss GTFS of the canton of Zug (2021, `gtfs_ch_zug_2021/gtfs_ch_zg.zip`)
  with the files the route stage reads (agency, routes, trips, stops, stop_times, feed_info) byte for
  byte; calendar, calendar_dates and transfers are left out (not read; 5 MB).
- `atlas_zug.csv.zip`: the rows of the national ATLAS service-point export (2025-08-02) that resolving
  this feed can touch: every row whose number is a UIC number of the feed, and every row within 2 km
  of a feed stop. Resolution against it equals resolution against the national file: the rules only
  look at rows with the stop's number (uniqueness included) and rows within 0.5 m.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP = ("agency.txt", "routes.txt", "trips.txt", "stops.txt", "stop_times.txt", "feed_info.txt")
RADIUS_M = 2000.0


def main(shared: Path) -> None:
    source = shared / "gtfs_ch_zug_2021/gtfs_ch_zg.zip"
    target = HERE / "gtfs_zug.zip"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name in KEEP:
            out.writestr(name, src.read(name), compresslevel=9)
        stops = list(csv.DictReader(io.TextIOWrapper(src.open("stops.txt"), encoding="utf-8-sig")))
    numbers = {s["stop_id"][:7] for s in stops if s["stop_id"][:7].isdigit()}
    points = [(float(s["stop_lat"]), float(s["stop_lon"])) for s in stops if s["stop_lat"]]
    atlas = next((shared / "atlas_service_points_2025-08-02").glob("*.zip"))
    with zipfile.ZipFile(atlas) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        text = io.TextIOWrapper(archive.open(member), encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=";")
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        kept = []
        for row in reader:
            number = row[col["number"]]
            near = False
            if row[col["wgs84North"]] and row[col["wgs84East"]]:
                lat, lon = float(row[col["wgs84North"]]), float(row[col["wgs84East"]])
                near = any(_distance_m(lat, lon, a, b) <= RADIUS_M for a, b in points)
            if number in numbers or near:
                kept.append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    with zipfile.ZipFile(HERE / "atlas_zug.csv.zip", "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("atlas_zug.csv", "\ufeff" + buffer.getvalue(), compresslevel=9)
    print(f"{len(stops)} GTFS stops, {len(kept)} ATLAS rows")


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000.0 * math.hypot(x, math.radians(lat2 - lat1))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "data")
