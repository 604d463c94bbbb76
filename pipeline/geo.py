"""Coordinates: sanity checks, projection to metres, distances, and the "inside the country" test.

Positions travel as WGS84 lat/lon. Spatial indexes work on planar metres of a `Projection`: the one
the registry declares (ATLAS: Swiss LV95, EPSG:2056; NaPTAN: British National Grid, EPSG:27700), where
Euclidean distance is within 0.1 % of the true ground distance across the registry's country, or a
local azimuthal equidistant projection centred on the stops (`local_projection`) for a registry that
declares none. Reported distances use the haversine formula on the WGS84 values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


@lru_cache(maxsize=16)
def _transformer(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@dataclass(frozen=True)
class Projection:
    """A planar projection in metres (a CRS pyproj understands: "EPSG:2056", a PROJ string)."""

    crs: str

    def project(self, lat: np.ndarray | Sequence[float], lon: np.ndarray | Sequence[float]) -> np.ndarray:
        """WGS84 arrays → an (n, 2) array of metres (east, north)."""
        if len(lat) == 0:
            return np.empty((0, 2), dtype=np.float64)
        east, north = _transformer(self.crs).transform(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        return np.column_stack([east, north])


def centroid(lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """The (lat, lon) centre of points, as the mean of their unit vectors: right across the
    antimeridian (Fiji, the Chatham Islands), where a mean of longitudes lands on the other side of the
    globe. (0, 0) for no points."""
    if len(lat) == 0:
        return 0.0, 0.0
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    x, y, z = (np.cos(phi) * np.cos(lam)).mean(), (np.cos(phi) * np.sin(lam)).mean(), np.sin(phi).mean()
    return float(np.degrees(np.arctan2(z, np.hypot(x, y)))), float(np.degrees(np.arctan2(y, x)))


def local_projection(lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray) -> Projection:
    """An azimuthal equidistant projection centred on the points' centroid: the fallback for a registry
    that declares no projection. Distances from the centre are exact; elsewhere the scale error is
    about (r/R)²/6 at r from the centre: 0.1 % at 500 km, 0.4 % at 1000 km (R = 6371 km), so a
    country-sized registry is measured about as well as in its national grid."""
    lat_0, lon_0 = centroid(lat, lon)
    return Projection(f"+proj=aeqd +lat_0={lat_0:.6f} +lon_0={lon_0:.6f} +datum=WGS84 +units=m +no_defs")


def planar_projection(
    declared: Iterable[str | None], lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray
) -> Projection:
    """The projection for spatial indexes over stops of registries declaring `declared` (one CRS or None
    per registry): their common CRS when every registry declares the same one, else `local_projection`
    of the points (a registry without one, or two registries whose national grids differ)."""
    crs = set(declared)
    if len(crs) == 1 and None not in crs:
        return Projection(str(next(iter(crs))))
    return local_projection(lat, lon)


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


@lru_cache(maxsize=4)
def load_boundaries(paths: tuple[str, ...]) -> Boundary:
    """The union of several boundary files (the declared countries of every selected registry),
    parsed once per process; one file is returned as `load_boundary` reads it."""
    if len(paths) == 1:
        return load_boundary(paths[0])
    parts = [load_boundary(p) for p in paths]
    return Boundary(shapely.union_all([b.geometry for b in parts]), name="+".join(b.name for b in parts))
