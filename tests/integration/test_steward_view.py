"""The registry steward's view (issue 15): the operators API and page, the downloads page, Excel-friendly
CSV, registry links in the registry report, and /changes rows named by stop; on the real pipeline and
PostGIS with tiny hand-built sources (tests/integration/review_sources.py)."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.services import decisions as decision_service
from database import db
from tests import factories as f
from tests.integration.review_sources import Element, Platform, platform_tags, run, write_sources

# BERNMOBIL: two stops, both matched; one pair 30 m apart (a P2 distance problem), one 1 m apart.
NEAR = Platform("ch:1:sloid:7101:1:1", 8507101, "Bern, Tröxlegass", platform_code="A")
NEAR_NODE = Element("node", 401, east=1.0, tags=platform_tags("Bern, Tröxlegass", "8507101", "A"))
FAR = Platform("ch:1:sloid:7102:1:1", 8507102, "Bern, Zytglogge", east=600.0, platform_code="B")
FAR_NODE = Element("node", 402, east=630.0, tags=platform_tags("Bern, Zytglogge", "8507102", "B"))
# PAG: one stop with nothing in OSM near it (P1 unmatched; also a suspected registry error).
LONELY = Platform("ch:1:sloid:7109:1:1", 8507109, "Bern, Wankdorf Nord", north=2000.0, operator="PAG")
# OSM objects without a registry counterpart (unmatched, no operator): one someone decides on before
# it is deleted from OSM, one nobody looks at.
STRAY = Element("node", 403, north=-3000.0, tags=platform_tags("Bern, Schosshalde"))
STRAY_2 = Element("node", 404, north=-4000.0, tags=platform_tags("Bern, Ostring"))

PLATFORMS = [NEAR, FAR, LONELY]
ELEMENTS = [NEAR_NODE, FAR_NODE, STRAY, STRAY_2]
ATLAS_LINK = "https://atlas.app.sbb.ch/service-point-directory/service-points/{}/traffic-point-elements"
CSV_URLS = (
    "/api/v1/exports/stops.csv",
    "/api/v1/exports/matches.csv",
    "/api/v1/exports/problems.csv",
    "/api/v1/reports/registry-errors.csv",
)


@pytest.fixture
def snapshot(app, tmp_path) -> Path:
    run(write_sources(tmp_path / "run1", PLATFORMS, ELEMENTS))
    return tmp_path


@pytest.fixture
def two_runs(snapshot, client):
    """Run 2: LONELY gets its OSM platform (its problem resolves, the stop stays), STRAY (decided on
    first) and STRAY_2 are deleted from OSM (their problems resolve, the objects leave the data)."""
    decision_service.record_decision(f"unmatched:-:{STRAY.key}", "needs_survey", "", None)
    db.session.commit()
    found = Element("node", 409, north=2003.0, tags=platform_tags("Bern, Wankdorf Nord", "8507109"))
    return run(write_sources(snapshot / "run2", PLATFORMS, [NEAR_NODE, FAR_NODE, found]))


def _by_operator(client, query: str = "") -> dict:
    response = client.get("/api/v1/operators" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {o["operator"]: o for o in response.get_json()["operators"]}


# --- operators -----------------------------------------------------------------------------------


def test_operators_api_gives_stops_matched_share_problems_and_distances_per_operator(snapshot, client):
    operators = _by_operator(client)
    bern = operators["BERNMOBIL"]
    assert (bern["registry_stops"], bern["matched"], bern["unmatched"], bern["matched_share"]) == (
        2,
        2,
        0,
        1.0,
    )
    assert bern["problems"]["by_type"]["distance"] == {"open": 1, "undecided": 1}
    assert bern["problems"]["by_priority"]["2"]["open"] >= 1
    distances = bern["distance_m"]
    assert distances["matches"] == 2
    assert distances["max"] == pytest.approx(30.0, abs=1.0)
    assert distances["median"] == pytest.approx(15.5, abs=1.0)  # between 1 m and 30 m
    assert distances["median"] <= distances["p90"] <= distances["max"]

    pag = operators["PAG"]
    assert (pag["registry_stops"], pag["matched"], pag["matched_share"]) == (1, 0, 0.0)
    assert pag["problems"]["by_priority"]["1"] == {"open": 1, "undecided": 1}
    assert pag["distance_m"] == {"matches": 0, "median": None, "p90": None, "max": None}
    # An unmatched OSM object counts for the operator of the nearest registry stop (the pipeline's rule).
    assert bern["problems"]["by_type"]["unmatched"] == {"open": 2, "undecided": 2}


def test_stops_and_problems_without_an_operator_have_a_row_but_no_links(app, client):
    stop = f.atlas_stop(operator_code=None, operator_name=None)
    f.problem("unmatched", stop_id=stop.stop_id, priority=1, operator_code=None)
    (row,) = client.get("/api/v1/operators").get_json()["operators"]
    assert (row["operator"], row["registry_stops"], row["problems"]["open"]) == (None, 1, 1)
    assert row["links"] is None


def test_operator_figures_link_to_the_filtered_map_review_queue_and_registry_report(snapshot, client):
    links = _by_operator(client)["PAG"]["links"]
    path, query, fragment = _split(links["map_unmatched"])
    assert path == "/"
    assert query == {"operator": ["PAG"], "side": ["atlas"], "status": ["unmatched"]}
    zoom, lat, _lon = (float(v) for v in re.fullmatch(r"map=([\d.]+)/([\d.-]+)/([\d.-]+)", fragment).groups())
    assert zoom == 17  # one stop: the closest zoom
    assert lat == pytest.approx(46.948 + 2000 / 111_195, abs=1e-4)
    assert _split(links["review_by_priority"]["1"])[:2] == (
        "/review",
        {"operator": ["PAG"], "priority": ["1"]},
    )
    assert _split(links["review_by_type"]["unmatched"])[1] == {"operator": ["PAG"], "type": ["unmatched"]}
    assert _split(links["map_by_type"]["unmatched"])[1] == {
        "operator": ["PAG"],
        "problem_type": ["unmatched"],
    }
    # Only for what the operator has: a zero leads nowhere (and a national answer stays small).
    assert set(links["map_by_type"]) == set(links["review_by_type"]) == {"unmatched"}
    assert set(links["map_by_priority"]) == {"1"}
    assert links["registry_report"] == "/api/v1/reports/registry-errors.csv?operator=PAG"
    for name in ("map", "map_matched", "map_unmatched", "map_problems", "review", "registry_report"):
        assert client.get(links[name].split("#")[0]).status_code == 200, name
    # The figure and its link agree: the report filtered by the operator holds its suspect.
    rows = _csv_rows(client.get(links["registry_report"]))
    assert [r["stop_id"] for r in rows] == [LONELY.stop_id]


def test_operators_trend_walks_back_from_today_through_each_runs_changes(two_runs, client):
    operators = _by_operator(client)
    pag = operators["PAG"]
    assert [point["open"] for point in pag["trend"]] == [1, 0]
    assert pag["change_last_run"] == {"appeared": 0, "resolved": 1}
    assert pag["matched_share"] == 1.0
    # BERNMOBIL: the distance problem stays, the two strays' problems resolve.
    bern = operators["BERNMOBIL"]
    assert [point["open"] for point in bern["trend"]] == [3, 1]
    assert bern["change_last_run"] == {"appeared": 0, "resolved": 2}
    body = client.get("/api/v1/operators?runs=1").get_json()
    assert [r["id"] for r in body["runs"]] == [two_runs.run_id]
    assert all(len(o["trend"]) == 1 for o in body["operators"])


def test_operators_search_matches_abbreviation_or_name_and_bad_parameters_are_400(snapshot, client):
    assert set(_by_operator(client, "?q=pag")) == {"PAG"}
    assert _by_operator(client, "?q=nothing-like-this") == {}
    for query, parameter in (
        ("?runs=0", "runs"),
        ("?runs=x", "runs"),
        ("?sort=x", "sort"),
        (f"?q={'x' * 101}", "q"),
    ):
        response = client.get("/api/v1/operators" + query)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["details"]["parameter"] == parameter


def test_operators_of_an_empty_database(app, client):
    body = client.get("/api/v1/operators").get_json()
    assert body == {"operators": [], "count": 0, "runs": [], "totals": body["totals"]}


def test_operators_and_downloads_pages_are_linked_from_every_page_header(app, client):
    for path in ("/operators", "/downloads", "/stats"):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert 'href="/operators"' in html
        assert 'href="/downloads"' in html
    operators = client.get("/operators").get_data(as_text=True)
    assert "js/operators.js" in operators
    assert 'data-operators-url="/api/v1/operators"' in operators
    assert "<script>" not in operators  # the CSP allows no inline script


# --- downloads -----------------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every download link of the page: hrefs under /api/ or /feeds/, and the file choices' values."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self._in_path_select = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and (values.get("href") or "").startswith(("/api/", "/feeds/")):
            self.links.append(values["href"] or "")
        if tag == "select":
            self._in_path_select = "data-path" in values
        if tag == "option" and self._in_path_select:
            self.links.append(values["value"] or "")
        if tag == "form" and values.get("action"):
            self.links.append(values["action"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._in_path_select = False


def test_every_download_on_the_downloads_page_answers(snapshot, client):
    parser = _Links()
    parser.feed(client.get("/downloads").get_data(as_text=True))
    links = sorted(set(parser.links))
    expected = {
        "/api/v1/exports/stops.csv",
        "/api/v1/exports/stops.geojson",
        "/api/v1/exports/matches.csv",
        "/api/v1/exports/matches.geojson",
        "/api/v1/exports/problems.csv",
        "/api/v1/exports/problems.geojson",
        "/api/v1/reports/registry-errors.csv",
        "/api/v1/reports/registry-errors.json",
        "/api/v1/fixes/osmchange.osc",
        "/api/v1/fixes/osmchange.report.json",
        "/api/v1/fixes/maproulette.geojson",
        "/api/v1/fixes/maproulette.report.json",
        "/feeds/problems.atom",
        "/api/v1/operators",
        "/api/v1/stats",
    }
    assert expected <= {link.split("?")[0] for link in links}
    for link in links:
        assert client.get(link).status_code in (200, 204), link


def test_the_downloads_page_offers_each_exports_own_filters(app, client):
    html = client.get("/downloads").get_data(as_text=True)
    forms = re.findall(r'<form class="download-form".*?</form>', html, re.S)
    names = [set(re.findall(r'name="([a-z_]+)"', form)) for form in forms]
    stops, problems, registry, osc, maproulette, feed = names
    assert stops == {
        "side",
        "status",
        "method",
        "problem_type",
        "priority",
        "operator",
        "transport",
        "bbox",
        "bom",
    }
    assert problems == {
        "type",
        "priority",
        "decided",
        "operator",
        "bbox",
        "stop_id",
        "osm_key",
        "sort",
        "bom",
    }
    assert registry == {"operator", "bom"}
    assert osc == problems - {"sort", "bom"} | {"move", "overwrite", "create"}
    assert maproulette == problems - {"sort", "bom"} | {"overwrite", "create", "fixable_only"}
    assert feed == {"operator", "region", "bbox"}


# --- CSV for Excel -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", CSV_URLS)
def test_csv_exports_start_with_a_utf8_bom_and_end_lines_with_crlf(snapshot, client, url):
    body = client.get(url).get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") >= 2
    assert body.count(b"\n") == body.count(b"\r\n")
    if url.endswith(("stops.csv", "matches.csv")):
        assert "Tröxlegass".encode() in body  # UTF-8, which the BOM tells Excel


@pytest.mark.parametrize("url", CSV_URLS)
def test_bom_false_leaves_the_byte_order_mark_out(snapshot, client, url):
    body = client.get(url + "?bom=false").get_data()
    assert not body.startswith(b"\xef\xbb\xbf")
    assert body.split(b"\r\n", 1)[0].decode().split(",")[0] in {
        "kind",
        "stop_id",
        "identity",
        "operator_code",
    }


def test_bom_is_a_csv_parameter_only(snapshot, client):
    assert client.get("/api/v1/exports/stops.geojson?bom=false").status_code == 400
    assert client.get("/api/v1/reports/registry-errors.json?bom=false").status_code == 400
    assert client.get("/api/v1/exports/stops.csv?bom=maybe").status_code == 400


# --- registry_url --------------------------------------------------------------------------------


def test_registry_report_links_each_stop_to_its_atlas_page_by_default(snapshot, client):
    (row,) = _csv_rows(client.get("/api/v1/reports/registry-errors.csv?operator=PAG"))
    assert row["registry_url"] == ATLAS_LINK.format(LONELY.number)
    report = client.get("/api/v1/reports/registry-errors.json").get_json()
    items = [item for group in report["operators"] for item in group["items"]]
    assert items
    assert all(item["registry_url"] == ATLAS_LINK.format(item["code"]) for item in items)


def test_an_empty_registry_stop_url_setting_turns_the_link_off(snapshot, make_app):
    client = make_app(REGISTRY_STOP_URL="").test_client()
    (row,) = _csv_rows(client.get("/api/v1/reports/registry-errors.csv?operator=PAG"))
    assert row["registry_url"] == ""


# --- /changes named by stop ----------------------------------------------------------------------


def test_changes_name_resolved_rows_by_their_stop(two_runs, client):
    body = client.get(f"/api/v1/changes?run={two_runs.run_id}&change=resolved").get_json()
    rows = {c["problem_identity"]: c for c in body["changes"]}
    # Resolved, stop still in the data: named from the snapshot, linkable.
    lonely = rows[f"unmatched:{LONELY.stop_id}:-"]
    assert (lonely["stop_name"], lonely["stop_id"], lonely["atlas_in_data"]) == (
        LONELY.name,
        LONELY.stop_id,
        True,
    )
    # Deleted from OSM after a decision: named from the decision's evidence.
    stray = rows[f"unmatched:-:{STRAY.key}"]
    assert (stray["stop_name"], stray["osm_key"], stray["osm_in_data"]) == (
        "Bern, Schosshalde",
        STRAY.key,
        False,
    )
    # Deleted without a decision: no name left anywhere, but still its key (never the raw identity).
    gone = rows[f"unmatched:-:{STRAY_2.key}"]
    assert (gone["stop_name"], gone["osm_key"], gone["osm_in_data"]) == (None, STRAY_2.key, False)


def test_changes_name_appeared_rows_by_registry_name_first(snapshot, client):
    body = client.get("/api/v1/changes?change=appeared&limit=50").get_json()
    rows = {c["problem_identity"]: c for c in body["changes"]}
    distance = rows[f"distance:{FAR.stop_id}:{FAR_NODE.key}"]
    assert (distance["stop_name"], distance["atlas_name"], distance["osm_name"]) == (
        FAR.name,
        FAR.name,
        FAR.name,
    )
    assert rows[f"unmatched:-:{STRAY_2.key}"]["stop_name"] == "Bern, Ostring"


# --- helpers -------------------------------------------------------------------------------------


def _split(url: str) -> tuple[str, dict[str, list[str]], str]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query), parts.fragment


def _csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
