"""Bad values from the outside world, at the pure level: identifiers are ASCII or not identifiers,
text is made storable and writable, and parse → match → problems → fix/feed builders never raise on
anything a mapper or a registry export can contain (hypothesis; the full run is in
tests/integration/test_hostile_source_values.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import SourceError
from pipeline.geo import load_boundary
from pipeline.matching import match_stops
from pipeline.matching.context import parse_uic
from pipeline.matching.normalize import normalise_ref
from pipeline.problems import attribute_mismatches, detect_problems
from pipeline.sources import ParseOptions, get_source
from pipeline.text import ascii_int, clean_text, has_foreign_characters, is_sloid, xml_safe
from tests import hostile_data as hd
from tests import pipeline_records as pr

OPTIONS = ParseOptions(today=hd.TODAY, boundary=load_boundary())
atlas = get_source("atlas")
osm_source = get_source("osm")
SUPERSCRIPT_TWO = "\u00b2"
ARABIC_ONE_TWO = "\u0661\u0662"

# -- identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8503000", 8503000),
        (" 8503000 ", 8503000),
        ("0", 0),
        ("123456789", 123456789),
        ("1234567890", None),  # ten digits: no PostgreSQL integer column holds every such number
        (SUPERSCRIPT_TWO, None),
        (ARABIC_ONE_TWO, None),
        ("\uff11", None),  # fullwidth one
        ("+1", None),
        ("-1", None),
        ("1_000", None),
        ("8503000;8503001", None),
        ("85\x0003000", None),
        ("8" * 10_000, None),
        ("", None),
        (None, None),
    ],
)
def test_ascii_int_reads_ascii_digits_only(value, expected):
    assert ascii_int(value) == expected


@given(st.text())
@settings(max_examples=300)
def test_ascii_int_never_raises_and_accepts_only_ascii_numbers(value):
    number = ascii_int(value)
    if number is not None:
        stripped = value.strip()
        assert stripped.isascii()
        assert stripped.isdigit()
        assert int(stripped) == number


def test_parse_uic_treats_a_superscript_digit_as_no_number():
    # str.isdigit() says yes, int() says no: this one OSM edit used to fail every run.
    assert SUPERSCRIPT_TWO.isdigit()
    assert parse_uic(SUPERSCRIPT_TWO) is None
    assert parse_uic(ARABIC_ONE_TWO) is None  # int() would have read it as 12


def test_platform_code_with_a_non_ascii_digit_is_no_platform_code():
    assert normalise_ref("01") == "1"
    assert normalise_ref(SUPERSCRIPT_TWO) is None  # NFKD folding made it "2"
    assert normalise_ref("\u202e2") is None
    assert normalise_ref("Kante \u00c4") == "kantea"  # letters with accents stay platform codes


def test_sloid_shape_is_ascii_and_bounded():
    assert is_sloid("ch:1:sloid:7000:1:2")
    assert not is_sloid("ch:1:sloid:7000\x00")
    assert not is_sloid("ch:1:sloid:7000\n")
    assert not is_sloid("ch:1:sloid:\u0667")
    assert not is_sloid("a" * 101)
    assert not is_sloid("")


@given(st.text(st.characters(codec=None)))
@settings(max_examples=300)
def test_cleaned_text_is_storable_utf8_without_nul(value):
    cleaned = clean_text(value)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")  # no lone surrogate left
    if "\x00" not in value and value.isascii():
        assert cleaned is value


@given(st.text(st.characters(codec=None)))
@settings(max_examples=300)
def test_xml_safe_text_always_parses_as_element_text_and_attribute(value):
    element = ET.Element("a", {"v": xml_safe(value)})
    element.text = xml_safe(value)
    parsed = ET.fromstring(ET.tostring(element, encoding="utf-8"))  # noqa: S314 - our own output
    # XML parsers turn CR and CRLF in text into LF: the only change a reader may see.
    expected = xml_safe(value).replace("\r\n", "\n").replace("\r", "\n")
    assert (parsed.text or "") == expected


def test_identifier_characters_refuse_digits_controls_and_bidi_marks():
    assert not has_foreign_characters("12a")
    assert not has_foreign_characters("Perron \u00e9")
    assert has_foreign_characters(SUPERSCRIPT_TWO)
    assert has_foreign_characters("1\t")
    assert has_foreign_characters("\u200f1")  # right-to-left mark


# -- malformed identifiers are attribute problems ----------------------------------------------


def test_malformed_uic_ref_on_a_matched_pair_is_a_p1_attribute_mismatch():
    stop = pr.stop("ch:1:sloid:1", number=8500001)
    obj = pr.osm(1, uic_ref=f"850000{SUPERSCRIPT_TWO}")
    (mismatch,) = attribute_mismatches(stop, obj)
    assert mismatch["attribute"] == "uic_ref"
    assert mismatch["priority"] == 1
    assert "ASCII" in mismatch["malformed"]


def test_malformed_uic_ref_is_reported_even_when_the_registry_has_no_number():
    stop = pr.stop("ch:1:sloid:1", number=None)
    obj = pr.osm(1, uic_ref="85 00001")
    (mismatch,) = attribute_mismatches(stop, obj)
    assert (mismatch["attribute"], mismatch["priority"], mismatch["registry"]) == ("uic_ref", 2, None)


def test_a_list_of_uic_numbers_is_not_malformed():
    stop = pr.stop("ch:1:sloid:1", number=8500001)
    (mismatch,) = attribute_mismatches(stop, pr.osm(1, uic_ref="8500001;8500002"))
    assert "malformed" not in mismatch


def test_malformed_local_ref_is_a_p2_attribute_mismatch():
    stop = pr.stop("ch:1:sloid:1", platform_code="2")
    (mismatch,) = attribute_mismatches(stop, pr.osm(1, local_ref=SUPERSCRIPT_TWO))
    assert (mismatch["attribute"], mismatch["priority"]) == ("local_ref", 2)
    assert mismatch["malformed"]


def test_unmatched_object_with_a_malformed_uic_ref_says_why():
    obj = pr.osm(1, 5000, 5000, uic_ref=f"85{ARABIC_ONE_TWO}")
    problems = detect_problems([], [obj], [], [], [obj.osm_key])
    (problem,) = problems
    assert problem.priority == 1
    assert "not a UIC number" in problem.details["reason"]
    assert problem.details["malformed"] == ["uic_ref"]


def test_a_matched_pair_with_a_malformed_uic_ref_gets_an_attributes_problem_naming_it():
    stop = pr.stop("ch:1:sloid:1", number=8500001, name="Musterdorf, Post")
    obj = pr.osm(1, 3, uic_ref=f"850000{SUPERSCRIPT_TWO}", name="Musterdorf, Post")
    result = match_stops([stop], [obj])
    assert len(result.matches) == 1  # found by name and position; the broken tag is no identifier
    problems = detect_problems([stop], [obj], result.matches, result.unmatched_registry, result.unmatched_osm)
    (attributes,) = [p for p in problems if p.problem_type == "attributes"]
    assert "uic_ref (malformed)" in attributes.message


# -- sources ----------------------------------------------------------------------------------------


def _parse_both(folder: Path):
    registry = atlas.parse(atlas.find_files(folder), OPTIONS)
    osm = osm_source.parse(osm_source.find_files(folder), OPTIONS)
    return registry, osm


def test_registry_number_with_a_superscript_digit_is_no_number(tmp_path):
    registry, _ = _parse_both(
        hd.write_sources(tmp_path, registry=[{"number": f"859000{SUPERSCRIPT_TWO}"}, {}, {}, {}, {}])
    )
    assert registry.records[0].code is None
    assert registry.records[1].code == "8590001"


def test_registry_row_whose_sloid_is_not_a_sloid_is_dropped_and_counted(tmp_path):
    registry, _ = _parse_both(
        hd.write_sources(tmp_path, registry=[{"sloid": "ch:1:sloid:9 0001"}, {}, {}, {}, {}])
    )
    assert registry.stats["invalid_sloid"] == 1
    assert len(registry.records) == len(hd.BASE_STOPS) - 1


def test_nul_in_a_registry_field_is_removed_and_counted(tmp_path):
    registry, _ = _parse_both(
        hd.write_sources(tmp_path, registry=[{"designationOfficial": "Va\x00duz"}, {}, {}, {}, {}])
    )
    assert registry.records[0].name == "Vaduz"
    assert registry.stats["text_cleaned"] == 1


def test_osm_tags_lose_nul_and_lone_surrogates_and_are_counted(tmp_path):
    osm_tags = [{"name": "Po\x00st", "uic_ref": "85\ud80090001"}, *[{} for _ in hd.BASE_OBJECTS[1:]]]
    _, osm = _parse_both(hd.write_sources(tmp_path, osm=osm_tags))
    first = osm.records[0]
    assert first.name == "Post"
    assert first.uic_ref == "85\ufffd90001"
    first.uic_ref.encode("utf-8")
    assert osm.stats["text_cleaned"] == 1


def test_osm_tag_values_that_are_not_text_are_dropped(tmp_path):
    hd.write_sources(tmp_path)
    path = tmp_path / hd.OSM_FILE
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["elements"][0]["tags"]["highway"] = ["bus_stop"]  # unhashable: used to raise TypeError
    payload["elements"][1]["tags"]["name"] = 42
    path.write_text(json.dumps(payload), encoding="utf-8")
    _, osm = _parse_both(tmp_path)
    assert osm.stats["tags_not_text"] == 1  # node 1 has no stop tag left and is dropped
    assert "name" not in next(r for r in osm.records if r.osm_key == "node/2").tags


def test_osm_elements_with_odd_ids_are_skipped_and_odd_versions_ignored(tmp_path):
    hd.write_sources(tmp_path)
    path = tmp_path / hd.OSM_FILE
    payload = json.loads(path.read_text(encoding="utf-8"))
    elements = payload["elements"]
    elements[0]["id"] = "x"  # int("x") stopped the run
    elements[1]["id"] = -2
    elements[2]["version"] = "\u00b2"
    elements[3]["version"] = 2**40  # no PostgreSQL integer holds it
    elements.append(["not", "an", "element"])
    path.write_text(json.dumps(payload), encoding="utf-8")
    _, osm = _parse_both(tmp_path)
    assert osm.stats["invalid_id"] == 2
    versions = {r.osm_key: r.version for r in osm.records}
    assert versions["node/3"] is None
    assert versions["node/4"] is None
    assert versions["way/5"] == 3


def _zip_with(tmp_path: Path, content: bytes, name: str = "atlas_traffic_points_hostile.csv.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("traffic_points.csv", content)
    return path


def test_registry_zip_that_unzips_past_the_size_limit_is_refused(tmp_path):
    header = ";".join(hd.ATLAS_HEADER).encode() + b"\n"
    path = _zip_with(tmp_path, header + b"\n" * 5_000_000)  # 5 MB of blank lines: a few KB zipped
    assert path.stat().st_size < 100_000
    with pytest.raises(SourceError, match="size limit of 1,000,000"):
        atlas.parse([path], ParseOptions(today=hd.TODAY, max_bytes=1_000_000))


def test_registry_zip_whose_header_understates_its_size_is_refused_at_that_size(tmp_path):
    header = ";".join(hd.ATLAS_HEADER).encode() + b"\n"
    path = _zip_with(tmp_path, header + b"\n" * 3_000_000)
    # Rewrite the declared size in the central directory: the archive now claims 100 bytes.
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    # zipfile stops inflating at the declared size: the member fails its CRC check, nothing more is read.
    with pytest.raises(SourceError, match="broken zip archive"):
        atlas.parse([path], ParseOptions(today=hd.TODAY, max_bytes=1_000_000))


def test_registry_zip_bomb_without_newlines_is_refused_in_bounded_memory(tmp_path):
    # 200 MB of one "line" in ~200 KB of zip: read whole, the line alone took 200 MB (and more while
    # decoding) before the CSV reader could look at it.
    header = ";".join(hd.ATLAS_HEADER).encode() + b"\n"
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("traffic_points.csv", "w", force_zip64=True) as member,
    ):
        member.write(header)
        chunk = b"a" * (1 << 20)
        for _ in range(200):
            member.write(chunk)
    path = tmp_path / "atlas_bomb.csv.zip"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="longer than"):
            atlas.parse([path], ParseOptions(today=hd.TODAY))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


# -- outputs ------------------------------------------------------------------------------------


def test_atom_feed_drops_control_characters_and_stays_well_formed():
    from app.services.feeds import AtomEntry, build_atom

    entry = AtomEntry(
        id="tag:example.org,2024:x",
        title="P1 unmatched: Va\x01duz\x0b",
        updated=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        link="http://example.org/stops/atlas/ch:1:sloid:1",
        summary="name \x1b[31m\ufffe",
        category="unmatched",
    )
    body = build_atom(
        feed_id="tag:example.org,2024:feed",
        title="t",
        self_url="http://example.org/feeds/problems.atom",
        alternate_url="http://example.org/review",
        updated=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        entries=[entry],
    )
    root = ET.fromstring(body)  # noqa: S314 - our own output
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert "P1 unmatched: Vaduz" in titles


def test_osmchange_drops_control_characters_from_tags_and_stays_well_formed():
    from app.services.fix_exports import FixObject, FixStop, build_osmchange, propose_fix

    stop = FixStop("ch:1:sloid:1", "8500001", "1", "Musterdorf, Post", "PAG", 47.0, 8.0)
    obj = FixObject("node/1", "node", 1, 3, {"name": "Muster\x02dorf", "highway": "bus_stop"}, 47.0, 8.0)
    fix = propose_fix(stop, obj, "attributes", "attributes:ch:1:sloid:1:node/1")
    root = ET.fromstring(build_osmchange([fix]).xml)  # noqa: S314 - our own output
    tags = {t.get("k"): t.get("v") for t in root.iter("tag")}
    assert tags["name"] == "Musterdorf"
    assert tags["uic_ref"] == "8500001"


# -- the property: nothing a source can contain breaks parse, match, problems or the builders --------


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


@given(registry=hd.registry_overrides(), osm=hd.osm_overrides())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
def test_hostile_source_values_never_break_parse_match_problems_or_outputs(registry, osm):
    from app.services.feeds import AtomEntry, build_atom
    from app.services.fix_exports import FixObject, FixStop, build_osmchange, merge_fixes, propose_fix

    with tempfile.TemporaryDirectory() as folder:
        parsed_registry, parsed_osm = _parse_both(hd.write_sources(Path(folder), registry, osm))
    stops, objects = parsed_registry.records, parsed_osm.records
    result = match_stops(stops, objects)
    problems = detect_problems(
        stops, objects, result.matches, result.unmatched_registry, result.unmatched_osm
    )

    records = [*stops, *objects, *result.matches, *problems]
    for record in records:
        for text in _strings([getattr(record, f) for f in record.__slots__]):
            assert "\x00" not in text
            text.encode("utf-8")  # storable: no lone surrogate
    for problem in problems:
        json.dumps(problem.details, allow_nan=False, default=str)

    by_sloid = {s.stop_id: s for s in stops}
    by_key = {o.osm_key: o for o in objects}
    fixes = merge_fixes(
        propose_fix(
            FixStop(s.stop_id, s.code, s.platform_code, s.name, s.operator_code, s.lat, s.lon),
            FixObject(o.osm_key, o.osm_type, o.osm_id, o.version, o.tags, o.lat, o.lon),
            "attributes",
            f"attributes:{m.stop_id}:{m.osm_key}",
        )
        for m in result.matches
        for s, o in [(by_sloid[m.stop_id], by_key[m.osm_key])]
    )
    ET.fromstring(build_osmchange(fixes).xml)  # noqa: S314 - our own output
    feed = build_atom(
        feed_id="tag:example.org,2024:feed",
        title="t",
        self_url="http://example.org/f",
        alternate_url="http://example.org/",
        updated=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        entries=[
            AtomEntry(
                f"tag:example.org,2024:{p.identity}",
                p.message,
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "http://example.org/",
                p.message,
                p.problem_type,
                p.lat,
                p.lon,
            )
            for p in problems
        ],
    )
    ET.fromstring(feed)  # noqa: S314 - our own output
