"""The matcher measures in the planar projection its registry declares (ATLAS: LV95; NaPTAN: British
National Grid), or in a local azimuthal equidistant projection centred on the stops when the registry
declares none: never in Swiss LV95 for stops outside Switzerland."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pyproj import Geod, Transformer

import pipeline.declarations as declarations_module
from pipeline.declarations import declaration_for
from pipeline.geo import centroid, local_projection, planar_projection
from pipeline.matching.context import MatchContext
from pipeline.problems.base import ProblemContext
from pipeline.records import OsmObject, RegistryStop

M_PER_DEG = 111_195.0
# The ground truth: WGS84 ellipsoidal distances (the spherical haversine is itself off by up to 0.3 %).
GEOD = Geod(ellps="WGS84")
# Within this share of the ground (haversine) distance: what a national grid gives across its country.
MAX_SCALE_ERROR = 0.001


def _stop(source: str, lat: float, lon: float, stop_id: str = "s1") -> RegistryStop:
    return RegistryStop(
        source=source, stop_id=stop_id, dataset="xml", code=None, platform_code=None, name="Stop",
        operator_code=None, operator_name=None, modes="BUS", country_code=None, region=None, parent_id=None,
        valid_from=None, valid_to=None, lat=lat, lon=lon, row_hash=stop_id,
    )  # fmt: skip


def _object(lat: float, lon: float, osm_id: int = 1) -> OsmObject:
    return OsmObject(
        osm_key=f"node/{osm_id}", osm_type="node", osm_id=osm_id, version=1, name="Stop", uic_ref=None,
        uic_name=None, ifopt=None, local_ref=None, operator=None, network=None, public_transport="platform",
        railway=None, highway="bus_stop", amenity=None, aerialway=None, tags={"highway": "bus_stop"},
        lat=lat, lon=lon, row_hash=str(osm_id),
    )  # fmt: skip


def _ground_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _planar_vs_ground(source: str, lat: float, lon: float) -> float:
    """Relative error of the matcher's planar distance for a pair 30 m apart (east and north)."""
    other_lat = lat + 20.0 / M_PER_DEG
    other_lon = lon + 22.0 / (M_PER_DEG * np.cos(np.radians(lat)))
    ctx = MatchContext([_stop(source, lat, lon)], [_object(other_lat, other_lon)])
    planar = float(np.hypot(*(ctx.registry_index.xy[0] - ctx.osm_index.xy[0])))
    ground = _ground_m(lat, lon, other_lat, other_lon)
    return abs(planar - ground) / ground


@pytest.mark.parametrize(
    ("place", "lat", "lon"),
    [("Brighton", 50.8225, -0.1372), ("Lerwick", 60.1546, -1.1494), ("Penzance", 50.1188, -5.5371)],
)
def test_naptan_stops_are_measured_in_british_national_grid_not_lv95(place: str, lat: float, lon: float):
    # LV95 (the projection every registry got before) was off by 0.4 % in Brighton and 3.1 % in Lerwick.
    assert _planar_vs_ground("naptan", lat, lon) < MAX_SCALE_ERROR, place
    assert declaration_for("naptan").projection == "EPSG:27700"


def test_atlas_stops_are_projected_exactly_as_before_in_lv95():
    stop, obj = _stop("atlas", 47.3782, 8.5402), _object(47.3790, 8.5410)
    ctx = MatchContext([stop], [obj])
    lv95 = Transformer.from_crs("EPSG:4326", "EPSG:2056", always_xy=True)
    assert ctx.registry_index.xy.tolist() == [list(lv95.transform(stop.lon, stop.lat))]
    assert ctx.osm_index.xy.tolist() == [list(lv95.transform(obj.lon, obj.lat))]
    assert ctx.projection.crs == "EPSG:2056"


@pytest.fixture
def undeclared_registry(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registry plug-in that declares no projection."""
    declaration = replace(declaration_for("naptan"), name="elsewhere", projection=None)
    monkeypatch.setitem(declarations_module._DECLARATIONS, "elsewhere", declaration)
    return "elsewhere"


@pytest.mark.parametrize(
    ("place", "lat", "lon"),
    [("Helsinki", 60.1699, 24.9384), ("Sydney", -33.8688, 151.2093), ("Suva", -18.1416, 178.4419)],
)
def test_a_registry_without_a_declared_projection_is_measured_in_a_local_one(
    undeclared_registry: str, place: str, lat: float, lon: float
):
    assert _planar_vs_ground(undeclared_registry, lat, lon) < MAX_SCALE_ERROR, place


@pytest.mark.parametrize(("from_centre_km", "max_error"), [(400, 0.001), (1000, 0.005)])
def test_the_local_projection_scale_error_grows_as_documented_with_distance_from_its_centre(
    from_centre_km: int, max_error: float
):
    # (r/R)²/6: 0.07 % at 400 km, 0.4 % at 1000 km (a country-sized registry stays within 0.1 %).
    projection = local_projection([46.0, 46.0], [7.0, 7.0])
    lat, lon = 46.0 + from_centre_km * 1000 / M_PER_DEG, 7.0  # north of the centre, then 100 m east
    other_lon = lon + 100.0 / (M_PER_DEG * np.cos(np.radians(lat)))
    xy = projection.project([lat, lat], [lon, other_lon])
    planar = float(np.hypot(*(xy[1] - xy[0])))
    assert abs(planar - _ground_m(lat, lon, lat, other_lon)) / 100.0 < max_error


def test_the_stops_centroid_is_right_across_the_antimeridian():
    lat, lon = centroid([-17.0, -17.0], [179.5, -179.5])
    assert lat == pytest.approx(-17.0, abs=0.01)
    assert abs(lon) == pytest.approx(180.0, abs=1e-6)


def test_registries_with_different_grids_in_one_run_share_a_local_projection():
    assert planar_projection(["EPSG:2056", "EPSG:2056"], [47.0], [8.0]).crs == "EPSG:2056"
    assert planar_projection(["EPSG:2056", "EPSG:27700"], [50.0], [3.0]).crs.startswith("+proj=aeqd")
    assert planar_projection(["EPSG:2056", None], [47.0], [8.0]).crs.startswith("+proj=aeqd")


def test_problem_detection_measures_in_the_registrys_projection_too():
    ctx = ProblemContext(
        [_stop("naptan", 60.1546, -1.1494)], [_object(60.1548, -1.1490)], [], ["s1"], ["node/1"]
    )
    assert ctx.projection.crs == "EPSG:27700"
