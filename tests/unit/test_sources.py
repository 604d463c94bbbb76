"""Source parsers on real-format files, and the bad-input corpus they must refuse with a clear error."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import SourceError
from pipeline.geo import load_boundary
from pipeline.sources import ParseOptions, get_source
from pipeline.sources.overpass import build_query

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/data/sample_pair"
DEMO = ROOT / "data/demo"
TODAY = dt.date(2025, 8, 2)
OPTIONS = ParseOptions(today=TODAY, boundary=load_boundary())

atlas = get_source("atlas")
osm_source = get_source("osm")


def sample_atlas_text() -> str:
    return (SAMPLE / "sample_atlas.csv").read_text(encoding="utf-8-sig")


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return path


# -- good input -----------------------------------------------------------------------------------


def test_traffic_point_export_parses_every_boarding_platform():
    result = atlas.parse([SAMPLE / "sample_atlas.csv"], ParseOptions(today=dt.date(2026, 3, 1)))
    assert len(result.records) == 40
    first = next(r for r in result.records if r.stop_id == "ch:1:sloid:1405:2:2")
    assert first.code == "8501405"
    assert first.platform_code == "2"
    assert first.name == "Vernayaz"
    assert first.operator_code == "SBB"
    assert first.parent_id == "ch:1:sloid:1405"
    assert (first.source, first.dataset) == ("atlas", "traffic_point")
    assert (round(first.lat, 5), round(first.lon, 5)) == (46.13859, 7.03852)


def test_service_point_export_parses_zipped_or_plain(tmp_path):
    plain = atlas.parse([DEMO / "atlas_service_points_li.csv"], OPTIONS)
    zipped_path = tmp_path / "atlas.zip"
    with zipfile.ZipFile(zipped_path, "w") as archive:
        archive.write(DEMO / "atlas_service_points_li.csv", "export.csv")
    zipped = atlas.parse([zipped_path], OPTIONS)
    assert plain.records == zipped.records
    assert len(plain.records) == 221
    assert plain.stats["not_a_stop"] == 6
    assert plain.stats["other_country"] == 2
    vaduz = next(r for r in plain.records if r.name == "Vaduz, Post")
    assert (vaduz.source, vaduz.dataset) == ("atlas", "service_point")
    assert vaduz.country_code == "LI"


def test_validity_filter_drops_rows_not_valid_today(tmp_path):
    text = sample_atlas_text().replace("9999-12-31", "2020-01-01", 1)
    result = atlas.parse([write(tmp_path, "atlas.csv", text)], ParseOptions(today=dt.date(2026, 3, 1)))
    assert len(result.records) == 39
    assert result.stats["not_valid_today"] == 1


def test_platforms_replace_their_service_point_when_both_exports_are_given(tmp_path):
    header, *rows = (DEMO / "atlas_service_points_li.csv").read_text(encoding="utf-8-sig").splitlines()
    cols = header.split(";")
    service = [r for r in rows if r.split(";")[cols.index("sloid")] == "ch:1:sloid:1405"]
    assert service == []  # the LI demo has no Vernayaz; build one from a traffic point's parent
    fake = rows[0].split(";")
    fake[cols.index("sloid")] = "ch:1:sloid:1405"
    sp = write(tmp_path, "atlas_sp.csv", header + "\n" + ";".join(fake) + "\n")
    tp = SAMPLE / "sample_atlas.csv"
    result = atlas.parse([tp, sp], ParseOptions(today=dt.date(2026, 3, 1), uic_country_codes=None))
    assert result.stats["service_points_replaced_by_platforms"] == 1
    assert all(r.stop_id != "ch:1:sloid:1405" for r in result.records)


def test_osm_xml_sample_parses_all_stop_nodes():
    result = osm_source.parse([SAMPLE / "sample_osm.xml"], OPTIONS)
    assert len(result.records) == 125
    with_sloid = [r for r in result.records if r.sloid_tag]
    assert len(with_sloid) == 6


def test_overpass_json_demo_parses_nodes_and_way_centres():
    result = osm_source.parse([DEMO / "osm_li.json"], OPTIONS)
    assert len(result.records) == 773
    ways = [r for r in result.records if r.osm_type == "way"]
    assert ways
    assert all(r.osm_key.startswith("way/") for r in ways)


def test_pbf_and_json_of_the_same_extract_agree():
    pbf = Path("/work/shared/data/osm_liechtenstein_2024-03/liechtenstein-latest.osm.pbf")
    if not pbf.exists():
        pytest.skip("the shared PBF extract is not available on this machine")
    from_pbf = {r.osm_key for r in osm_source.parse([pbf], OPTIONS).records}
    from_json = {r.osm_key for r in osm_source.parse([DEMO / "osm_li.json"], OPTIONS).records}
    assert from_json <= from_pbf


def test_overpass_query_covers_the_stop_tags_and_switzerland():
    query = build_query(120)
    assert "[timeout:120]" in query
    assert '"ISO3166-1"="CH"' in query
    for needle in (
        "public_transport",
        "highway",
        "bus_stop",
        "tram_stop",
        "ferry_terminal",
        "aerialway",
        "center",
    ):
        assert needle in query


# -- bad input ------------------------------------------------------------------------------------


def expect_error(parse, path: Path, *fragments: str, line: int | None = None) -> SourceError:
    with pytest.raises(SourceError) as caught:
        parse([path], OPTIONS)
    message = str(caught.value)
    for fragment in (caught.value.source, path.name, *fragments):
        assert fragment in message, message
    if line is not None:
        assert caught.value.line == line, message
    return caught.value


def test_truncated_csv_names_the_line(tmp_path):
    text = sample_atlas_text()
    cut = text[: text.index("\n", 2000) + 40]  # a row cut in the middle
    expect_error(atlas.parse, write(tmp_path, "atlas.csv", cut), "truncated", line=cut.count("\n") + 1)


def test_wrong_columns_are_named(tmp_path):
    text = sample_atlas_text().replace("wgs84North", "latitude", 1)
    expect_error(atlas.parse, write(tmp_path, "atlas.csv", text), "wrong columns", "wgs84North", line=1)
    expect_error(atlas.parse, write(tmp_path, "other.csv", "a;b;c\n1;2;3\n"), "wrong columns", line=1)


def test_lv95_values_in_wgs84_columns_are_refused(tmp_path):
    lines = sample_atlas_text().splitlines()
    cols = lines[0].split(";")
    row = lines[3].split(";")
    row[cols.index("wgs84East")], row[cols.index("wgs84North")] = (
        row[cols.index("lv95East")],
        row[cols.index("lv95North")],
    )
    lines[3] = ";".join(row)
    expect_error(atlas.parse, write(tmp_path, "atlas.csv", "\n".join(lines) + "\n"), "LV95", line=4)


def test_swapped_coordinates_outside_the_country_are_refused(tmp_path):
    lines = sample_atlas_text().splitlines()
    cols = lines[0].split(";")
    row = lines[5].split(";")
    row[cols.index("wgs84East")], row[cols.index("wgs84North")] = (
        row[cols.index("wgs84North")],
        row[cols.index("wgs84East")],
    )
    lines[5] = ";".join(row)
    expect_error(
        atlas.parse, write(tmp_path, "atlas.csv", "\n".join(lines) + "\n"), "outside Switzerland", line=6
    )


def _demo_with_bad_dates(rows: list[int]) -> tuple[str, int]:
    lines = (DEMO / "atlas_service_points_li.csv").read_text(encoding="utf-8-sig").splitlines()
    cols = lines[0].split(";")
    for index in rows:
        row = lines[index].split(";")
        row[cols.index("validFrom")] = "2024-13-45"
        lines[index] = ";".join(row)
    return "\n".join(lines) + "\n", len(lines) - 1


def test_one_row_with_an_impossible_value_is_dropped_and_counted_not_fatal(tmp_path):
    # One registry stop with an impossible date must not stop every run (as one OSM edit must not).
    text, rows = _demo_with_bad_dates([7])
    result = atlas.parse([write(tmp_path, "atlas.csv", text)], OPTIONS)
    assert result.stats["invalid_values"] == 1
    assert result.stats["rows"] == rows
    good = atlas.parse([DEMO / "atlas_service_points_li.csv"], OPTIONS)
    assert len(result.records) == len(good.records) - 1


def test_bad_values_in_more_than_one_percent_of_the_rows_refuse_the_file(tmp_path):
    text, rows = _demo_with_bad_dates([3, 9, 27])  # 3 of 229 rows: a systematic error, not a typo
    error = expect_error(atlas.parse, write(tmp_path, "atlas.csv", text), "invalid date", "2 more", line=4)
    assert rows * 0.01 < 3, error


def test_empty_file_and_header_only_are_refused(tmp_path):
    expect_error(atlas.parse, write(tmp_path, "atlas.csv", ""), "empty file")
    header_only = sample_atlas_text().splitlines()[0] + "\n"
    expect_error(atlas.parse, write(tmp_path, "atlas2.csv", header_only), "no data rows")
    expect_error(osm_source.parse, write(tmp_path, "osm.json", "  \n"), "empty file")


def test_html_error_page_is_refused(tmp_path):
    page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    expect_error(atlas.parse, write(tmp_path, "atlas.csv", page), "HTML page")
    expect_error(osm_source.parse, write(tmp_path, "osm.json", page), "HTML page")


def test_wrong_encoding_is_refused_with_the_line(tmp_path):
    text = sample_atlas_text()
    path = write(tmp_path, "atlas.csv", text.encode("cp1252", errors="replace"))
    error = expect_error(atlas.parse, path, "UTF-8")
    assert error.line is not None
    assert error.line > 1


def test_broken_zip_is_refused(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(DEMO / "atlas_service_points_li.csv", "export.csv")
    data = good.read_bytes()
    expect_error(atlas.parse, write(tmp_path, "atlas.zip", data[: len(data) // 2]), "zip")


def test_invalid_json_names_the_line(tmp_path):
    text = (DEMO / "osm_li.json").read_text(encoding="utf-8")
    broken = text[: len(text) // 2]
    expect_error(osm_source.parse, write(tmp_path, "osm.json", broken), "invalid JSON")
    expect_error(osm_source.parse, write(tmp_path, "osm2.json", '{"nodes": []}'), "not an Overpass response")


def test_overpass_runtime_error_remark_is_refused(tmp_path):
    payload = json.loads((DEMO / "osm_li.json").read_text(encoding="utf-8"))
    payload["elements"] = payload["elements"][:10]
    payload["remark"] = 'runtime error: Query timed out in "query" at line 3 after 361 seconds.'
    expect_error(
        osm_source.parse, write(tmp_path, "osm.json", json.dumps(payload)), "Overpass reported an error"
    )
    xml = '<?xml version="1.0"?><osm version="0.6"><remark> runtime error: out of memory </remark></osm>'
    expect_error(osm_source.parse, write(tmp_path, "osm.xml", xml), "Overpass reported an error")


def test_invalid_xml_names_the_line(tmp_path):
    text = (SAMPLE / "sample_osm.xml").read_text(encoding="utf-8")
    expect_error(osm_source.parse, write(tmp_path, "osm.xml", text[: len(text) // 2]), "invalid XML")


def test_osm_extract_entirely_outside_the_country_is_refused(tmp_path):
    payload = {
        "elements": [{"type": "node", "id": 1, "lat": 8.5, "lon": 47.3, "tags": {"highway": "bus_stop"}}]
    }
    expect_error(osm_source.parse, write(tmp_path, "osm.json", json.dumps(payload)), "none of the 1 objects")


def test_osm_way_without_center_is_refused(tmp_path):
    payload = {"elements": [{"type": "way", "id": 5, "tags": {"public_transport": "platform"}}]}
    expect_error(osm_source.parse, write(tmp_path, "osm.json", json.dumps(payload)), "way/5", "out center")


def test_missing_input_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="no input file"):
        atlas.find_files(tmp_path)
