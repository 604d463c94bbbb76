"""Coordinates: sanity checks, projection to metres, distances, and the "inside the country" test.

Positions travel as WGS84 lat/lon. Spatial indexes work on Swiss LV95 (EPSG:2056) metres, where
Euclidean distance is within 0.1 % of the true ground distance everywhere in and around Switzerland.
Reported distances use the haversine formula on the WGS84 values.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8

# Everything a Swiss (UIC country 85) stop can be: a generous box around CH+LI. A point outside it
# is not "a stop abroad", it is a wrong CRS or swapped columns.
SWISS_SANITY_BBOX = (45.5, 5.5, 48.1, 11.0)  # min_lat, min_lon, max_lat, max_lon

# LV95 coordinate ranges (metres); values like these in WGS84 columns mean the wrong CRS.
LV95_EAST_RANGE = (2_400_000.0, 2_900_000.0)
LV95_NORTH_RANGE = (1_000_000.0, 1_350_000.0)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOUNDARY_FILE = "data/boundary/ch_li.geojson"


def resolve_path(path: str | Path) -> Path:
    """A configured path: absolute as given, else relative to the working directory or the project."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return PROJECT_ROOT / candidate


def coordinate_problem(lat: float, lon: float) -> str | None:
    """Why (lat, lon) cannot be a WGS84 position, or None when it can."""
    if not (np.isfinite(lat) and np.isfinite(lon)):
        return "coordinates are not finite numbers"
    if LV95_EAST_RANGE[0] <= lon <= LV95_EAST_RANGE[1] and LV95_NORTH_RANGE[0] <= lat <= LV95_NORTH_RANGE[1]:
        return f"coordinates ({lon}, {lat}) are LV95 metres, not WGS84 degrees (wrong CRS)"
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return f"coordinates lat={lat} lon={lon} are outside WGS84 ranges (wrong CRS?)"
    return None


def in_sanity_bbox(lat: float, lon: float) -> bool:
    min_lat, min_lon, max_lat, max_lon = SWISS_SANITY_BBOX
    return min_lat <= lat <= max_lat and min_lon <= lon <= max_lon


@lru_cache(maxsize=1)
def _to_lv95() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:2056", always_xy=True)


def project(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """WGS84 arrays → an (n, 2) array of LV95 metres (east, north)."""
    if len(lat) == 0:
        return np.empty((0, 2), dtype=np.float64)
    east, north = _to_lv95().transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.column_stack([east, north])


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)))


class Boundary:
    """A country polygon (WGS84) with a vectorised point-in-polygon test."""

    def __init__(self, geometry: BaseGeometry, name: str = "boundary") -> None:
        self.geometry = geometry
        self.name = name
        shapely.prepare(self.geometry)

    @classmethod
    def from_geojson(cls, path: str | Path) -> Boundary:
        resolved = resolve_path(path)
        data = json.loads(resolved.read_text(encoding="utf-8"))
        features = data["features"] if data.get("type") == "FeatureCollection" else [data]
        geometry = shapely.union_all([shape(f.get("geometry", f)) for f in features])
        return cls(geometry, name=resolved.name)

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean array: which points lie inside (or on the edge of) the polygon."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if lat.size == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(shapely.intersects_xy(self.geometry, lon, lat), dtype=bool)


@lru_cache(maxsize=4)
def load_boundary(path: str = DEFAULT_BOUNDARY_FILE) -> Boundary:
    """The bundled CH+LI boundary (or another file), parsed once per process."""
    return Boundary.from_geojson(path)
