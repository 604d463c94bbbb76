"""What the map page needs before its first API call: where the data is."""

from __future__ import annotations

from sqlalchemy import text

from database import db

# Switzerland and Liechtenstein: the view when there is no data yet.
DEFAULT_BOUNDS: tuple[float, float, float, float] = (5.96, 45.82, 10.49, 47.81)


def data_bounds() -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of all registry and OSM stops, or DEFAULT_BOUNDS if none.

    Min/max over two float columns: one sequential scan, a few tens of milliseconds even for the
    whole country, so it is not worth caching.
    """
    row = db.session.execute(
        text(
            "SELECT min(lon), min(lat), max(lon), max(lat) FROM ("
            " SELECT lon, lat FROM registry_stops UNION ALL SELECT lon, lat FROM osm_stops) AS stops"
        )
    ).one()
    if row[0] is None:
        return DEFAULT_BOUNDS
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
