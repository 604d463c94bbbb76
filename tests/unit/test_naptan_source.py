"""The NaPTAN source on the real Brighton and Hove export (tests/data/naptan, built from ../shared/data)
and on small hand-made documents for the rules the real file does not exercise."""

from __future__ import annotations

import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.config import ConfigError, Settings, load_settings
from app.services.vocabulary import TRANSPORTS
from pipeline.declarations import declaration_for
from pipeline.errors import SourceError
from pipeline.geo import Boundary
from pipeline.sources import get_source
from pipeline.sources.base import ParseOptions
from pipeline.sources.naptan import (
    DEFAULT_POSITION_MISMATCH_M,
    STOP_TYPE_MODES,
    NaptanSource,
    normalise_indicator,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "naptan"
XML_ZIP = DATA / "naptan149_brighton.xml.zip"
CSV_FILES = sorted((DATA / "csv").glob("*.csv"))
ROOT = Path(__file__).resolve().parents[2]
SOURCE = NaptanSource()
OPTIONS = ParseOptions(uic_country_codes=None)


@pytest.fixture(scope="module")
def brighton():
    return SOURCE.parse([XML_ZIP], OPTIONS)


def _doc(*stop_points: str, areas: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<NaPTAN xmlns="http://www.naptan.org.uk/" SchemaVersion="2.4"><StopPoints>'
        + "".join(stop_points)
        + f"</StopPoints><StopAreas>{areas}</StopAreas></NaPTAN>"
    )


def _stop(atco: str, *, east="531674", north="103858", lon="-0.132097", lat="50.819298", indicator="opp",
          stop_type="BCT", status="active", extra="") -> str:  # fmt: skip
    location = "".join(
        f"<{k}>{v}</{k}>"
        for k, v in (("Easting", east), ("Northing", north), ("Longitude", lon), ("Latitude", lat))
        if v is not None
    )
    return (
        f'<StopPoint Status="{status}"><AtcoCode>{atco}</AtcoCode><NaptanCode>bri{atco[-4:]}</NaptanCode>'
        f"<Descriptor><CommonName>New Steine</CommonName><Indicator>{indicator}</Indicator></Descriptor>"
        f"<Place><NptgLocalityRef>E0057155</NptgLocalityRef><Location><Translation><GridType>UKOS</GridType>"
        f"{location}</Translation></Location></Place>"
        f"<StopClassification><StopType>{stop_type}</StopType></StopClassification>{extra}"
        f"<AdministrativeAreaRef>008</AdministrativeAreaRef></StopPoint>"
    )


def _parse_text(tmp_path: Path, text: str, options: ParseOptions = OPTIONS):
    path = tmp_path / "naptan_test.xml"
    path.write_text(text, encoding="utf-8")
    return SOURCE.parse([path], options)


def test_the_real_brighton_export_gives_its_active_stops_keyed_by_atco_code(brighton):
    # SOURCES.txt: 1,377 stop points, 1,212 active, 165 inactive, 17 of them rail entrances (RSE).
    assert brighton.stats["rows"] == 1377
    assert brighton.stats["inactive"] == 165
    assert brighton.stats["entrance"] == 17
    assert brighton.stats["kept"] == len(brighton.records) == 1212 - 17
    stop = next(r for r in brighton.records if r.stop_id == "149000006029")
    assert (stop.source, stop.dataset, stop.code, stop.name) == (
        "naptan",
        "xml",
        "brijdmg",
        "London Road Shops",
    )
    assert (stop.platform_code, stop.region, stop.country_code, stop.modes) == ("S", "008", "GB", "BUS")
    assert stop.attributes["street"] == "London Road"
    assert len({r.stop_id for r in brighton.records}) == len(brighton.records)


def test_inactive_stops_stay_out_of_matching(brighton):
    ids = {r.stop_id for r in brighton.records}
    assert "149000001995" not in ids  # Varley Halls, Status="inactive" in the real file
    assert all(r.attributes["status"] == "active" for r in brighton.records)


def test_stop_types_map_to_the_modes_vocabulary(brighton):
    vocabulary = set(TRANSPORTS)
    for modes in STOP_TYPE_MODES.values():
        assert set(modes.split("|")) <= vocabulary
    by_type = {r.attributes["stop_type"]: r.modes for r in brighton.records}
    assert by_type == {"BCT": "BUS", "BCS": "BUS"}


@pytest.mark.parametrize(
    ("indicator", "expected"),
    [
        ("Stop A", ("A", None)),
        ("stop b", ("B", None)),
        ("Bay 12", ("12", None)),
        ("Stand C2", ("C2", None)),
        ("A", ("A", None)),
        ("opp", (None, "opp")),
        ("Opp.", (None, "opp")),
        ("opposite", (None, "opp")),
        ("o/s", (None, "o/s")),
        ("outside", (None, "o/s")),
        ("o/s 253", (None, "o/s")),
        ("adj", (None, "adj")),
        ("nr", (None, "nr")),
        ("just after", (None, "after")),
        ("NE-bound", (None, "NE-bound")),
        ("northbound", (None, "N-bound")),
        ("in", (None, "in")),
        ("north entrance", (None, None)),
        ("N/A", (None, None)),
        ("", (None, None)),
    ],
)
def test_indicators_give_a_platform_code_only_for_a_stop_letter_or_bay(indicator, expected):
    assert normalise_indicator(indicator) == expected


def test_the_real_files_indicators_are_stop_letters_or_positions(brighton):
    coded = [r for r in brighton.records if r.platform_code]
    assert coded
    assert all(r.attributes["indicator"].lower().startswith(("stop", "bay")) for r in coded)
    positions = {r.attributes.get("indicator_position") for r in brighton.records if not r.platform_code}
    assert {"opp", "adj", "o/s", "N-bound"} <= positions


def test_stop_areas_become_parent_ids_with_their_name_and_type(brighton):
    stop = next(r for r in brighton.records if r.stop_id == "149000006027")
    assert stop.parent_id == "149G00006027"
    assert stop.attributes["stop_area_name"] == "Fleet Street"
    assert stop.attributes["stop_area_type"] == "GCLS"
    assert stop.attributes["parent_stop_area"] == "910GBRGHTN"
    groups: dict[str, int] = {}
    for r in brighton.records:
        if r.parent_id:
            groups[r.parent_id] = groups.get(r.parent_id, 0) + 1
    assert max(groups.values()) >= 2  # a stop area groups the stops on both sides of a road


def test_osgb36_and_wgs84_positions_agree_within_a_metre_and_a_half_on_the_real_file(brighton):
    values = np.array([r.attributes["position_disagreement_m"] for r in brighton.records])
    assert len(values) == len(brighton.records)
    assert 0.5 < float(np.median(values)) < 1.0
    assert float(values.max()) < 1.5 < DEFAULT_POSITION_MISMATCH_M
    assert "position_mismatch" not in brighton.stats
    assert not any("position_mismatch" in r.attributes for r in brighton.records)


def test_a_stop_whose_grid_position_disagrees_is_flagged_with_the_distance(tmp_path):
    # 100 m further east on the grid only: one position was moved, the other not.
    result = _parse_text(tmp_path, _doc(_stop("149000000001"), _stop("149000000002", east="531774")))
    flagged = {r.stop_id: r.attributes.get("position_mismatch") for r in result.records}
    assert flagged["149000000001"] is None
    mismatch = flagged["149000000002"]
    assert 95 < mismatch["distance_m"] < 105
    assert mismatch["tolerance_m"] == DEFAULT_POSITION_MISMATCH_M
    assert result.stats["position_mismatch"] == 1


def test_the_mismatch_tolerance_is_a_setting(tmp_path):
    options = replace(OPTIONS, source_settings={"naptan": {"position_mismatch_m": 150.0}})
    result = _parse_text(tmp_path, _doc(_stop("149000000002", east="531774")), options)
    assert "position_mismatch" not in result.records[0].attributes


def test_a_stop_with_only_a_grid_position_takes_its_wgs84_position_from_it(tmp_path):
    result = _parse_text(tmp_path, _doc(_stop("149000000003", lon=None, lat=None)))
    stop = result.records[0]
    assert abs(stop.lat - 50.819298) < 5e-5
    assert abs(stop.lon - -0.132097) < 5e-5
    assert result.stats["position_from_grid"] == 1
    assert "position_disagreement_m" not in stop.attributes


def test_a_hail_and_ride_sections_points_are_not_taken_for_the_stop_position(tmp_path):
    section = (
        "<StopClassification><StopType>BCT</StopType><OnStreet><Bus><BusStopType>HAR</BusStopType>"
        "<HailAndRideSection><StartPoint><Translation><Easting>1</Easting><Northing>2</Northing>"
        "<Longitude>1.0</Longitude><Latitude>2.0</Latitude></Translation></StartPoint></HailAndRideSection>"
        "</Bus></OnStreet></StopClassification>"
    )
    text = _doc(
        _stop("149000000004").replace(
            "<StopClassification><StopType>BCT</StopType></StopClassification>", section
        )
    )
    stop = _parse_text(tmp_path, text).records[0]
    assert (stop.lat, stop.lon) == (50.819298, -0.132097)
    assert stop.attributes["bus_stop_type"] == "HAR"


def test_the_csv_layout_reads_the_same_stops_as_the_xml(brighton):
    # tests/data/naptan/csv was converted from part of the real XML (build_fixture.py): no real
    # NaPTAN CSV download is available offline.
    from_csv = SOURCE.parse(CSV_FILES, OPTIONS)
    assert from_csv.stats["rows"] == 160
    assert from_csv.records
    assert all(r.dataset == "csv" for r in from_csv.records)
    by_id = {r.stop_id: r for r in brighton.records}
    for record in from_csv.records:
        xml_record = by_id[record.stop_id]
        assert replace(record, dataset="xml", attributes={}) == replace(xml_record, attributes={})
        assert record.attributes == xml_record.attributes
    assert any(r.parent_id for r in from_csv.records)  # StopsInArea.csv gave the stop areas


def test_a_zipped_csv_export_is_read(tmp_path):
    archive = tmp_path / "naptan_csv.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in CSV_FILES:
            z.write(path, path.name)
    assert len(SOURCE.parse([archive], OPTIONS).records) == len(SOURCE.parse(CSV_FILES, OPTIONS).records)


def test_csv_without_the_required_columns_is_refused(tmp_path):
    path = tmp_path / "Stops.csv"
    path.write_text("ATCOCode,Name\n1,2\n", encoding="utf-8")
    with pytest.raises(SourceError, match="missing CommonName, StopType, Status"):
        SOURCE.parse([path], OPTIONS)


def test_invalid_xml_is_refused_with_its_line(tmp_path):
    with pytest.raises(SourceError, match="invalid XML") as info:
        _parse_text(tmp_path, _doc(_stop("149000000005"))[:-30])
    assert info.value.line is not None


def test_a_document_that_is_not_naptan_is_refused(tmp_path):
    path = tmp_path / "naptan_other.xml"
    path.write_text('<osm version="0.6"><node id="1" lat="1" lon="2"/></osm>', encoding="utf-8")
    with pytest.raises(SourceError, match=r"no StopPoint|not a NaPTAN document"):
        SOURCE.parse([path], OPTIONS)


def test_an_external_entity_is_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    text = (
        _doc(_stop("149000000006"))
        .replace("<NaPTAN ", f'<!DOCTYPE NaPTAN [<!ENTITY x SYSTEM "file://{secret}">]><NaPTAN ', 1)
        .replace("New Steine", "&x;")
    )
    try:
        result = _parse_text(tmp_path, text)
    except SourceError:
        return  # refused outright: nothing was read either
    assert all("TOP-SECRET" not in (r.name or "") for r in result.records)


def test_an_entity_expansion_bomb_is_refused_at_once(tmp_path):
    # "billion laughs": nine levels of ten references would expand to 10^9 characters of CommonName.
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    text = _doc(_stop("149000000001")).replace("<NaPTAN ", f"<!DOCTYPE NaPTAN [{entities}]><NaPTAN ", 1)
    started = time.perf_counter()
    with pytest.raises(SourceError, match="invalid XML"):
        _parse_text(tmp_path, text.replace("New Steine", "&i;"))
    assert time.perf_counter() - started < 5


def test_a_grid_position_outside_the_grid_is_an_unusable_value(tmp_path):
    # pyproj answers inf there: stored, it would make the stop's attributes invalid JSON (NaN).
    good = [_stop(f"1490000{i:05d}") for i in range(200)]
    result = _parse_text(tmp_path, _doc(*good, _stop("149000099998", east="1e12", north="1e12")))
    assert result.stats["invalid_values"] == 1
    assert "149000099998" not in {r.stop_id for r in result.records}
    assert all(np.isfinite(r.attributes["position_disagreement_m"]) for r in result.records)


def test_a_few_unusable_positions_are_dropped_and_many_refuse_the_file(tmp_path):
    good = [_stop(f"1490000{i:05d}") for i in range(200)]
    result = _parse_text(tmp_path, _doc(*good, _stop("149000099999", lat="fifty", east="x")))
    assert result.stats["invalid_values"] == 1
    assert len(result.records) == 200
    bad = [_stop(f"1490001{i:05d}", lat="fifty", east="x") for i in range(10)]
    with pytest.raises(SourceError, match="not a number"):
        _parse_text(tmp_path, _doc(*good, *bad))


def test_the_gb_boundary_holds_every_brighton_stop_and_no_neighbour(brighton):
    boundary = Boundary.from_geojson(ROOT / "data/boundary/gb.geojson")
    inside = SOURCE.parse([XML_ZIP], replace(OPTIONS, boundary=boundary))
    assert len(inside.records) == len(brighton.records)
    assert inside.stats["outside_boundary"] == 0
    places = {  # (lat, lon): inside?
        (60.155, -1.145): True,  # Lerwick, Shetland
        (49.914, -6.316): True,  # St Mary's, Isles of Scilly
        (58.209, -6.386): True,  # Stornoway, Outer Hebrides
        (51.127, 1.313): True,  # Dover
        (50.951, 1.858): False,  # Calais
        (54.597, -5.930): False,  # Belfast: Northern Ireland is not in NaPTAN
        (53.350, -6.260): False,  # Dublin
        (54.150, -4.480): False,  # Douglas, Isle of Man
        (49.186, -2.106): False,  # St Helier, Jersey
    }
    got = boundary.contains(np.array([p[0] for p in places]), np.array([p[1] for p in places]))
    assert dict(zip(places, got.tolist(), strict=True)) == places


def test_the_position_tolerance_is_read_from_naptan_position_mismatch_m():
    settings = load_settings({"STOPSYNC_ENV": "test", "NAPTAN_POSITION_MISMATCH_M": "40"})
    assert SOURCE.parse_settings(settings) == {"position_mismatch_m": 40.0}
    default = load_settings({"STOPSYNC_ENV": "test"})
    assert SOURCE.parse_settings(default) == {"position_mismatch_m": DEFAULT_POSITION_MISMATCH_M}


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_tolerance_that_is_not_a_positive_number_refuses_to_start(value):
    with pytest.raises(ConfigError, match="NAPTAN_POSITION_MISMATCH_M"):
        load_settings({"STOPSYNC_ENV": "test", "NAPTAN_POSITION_MISMATCH_M": value})


def test_the_source_reads_the_live_export_only_when_naptan_url_is_set():
    assert SOURCE.http_request(Settings()) is None
    request = SOURCE.http_request(
        Settings(NAPTAN_URL="https://naptan.api.dft.gov.uk/v1/access-nodes?dataFormat=csv")
    )
    assert request is not None
    assert (request.method, request.suffix) == ("GET", ".csv")


def test_naptan_declares_atco_code_and_naptan_code_as_its_osm_identifiers():
    declaration = declaration_for("naptan")
    assert get_source("naptan").declaration is declaration
    assert declaration.stop_id.osm_tags == ("naptan:AtcoCode",)
    assert declaration.code is not None
    assert declaration.code.osm_tags == ("naptan:NaptanCode",)
    assert {"uic_ref", "uic_name", "ref:IFOPT", "ref:sloid"} <= declaration.foreign_tags
    assert not set(declaration.identity_tags) & declaration.foreign_tags
    assert declaration.boundary == "data/boundary/gb.geojson"
    assert (ROOT / declaration.boundary).is_file()
