"""The editor links (app/services/editor_links.py): every URL builder, with hostile values. Pure."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from app.services import editor_links as links

HOSTILE = 'Vaduz "Post" <script>alert(1)</script> & co #1 ?x=1 50% +ü'


def josm_view_of(url: str) -> dict[str, str]:
    """The arguments as JOSM's RequestHandler reads them: split on raw '&', decode each pair, split on '='."""
    query = urlsplit(url).query
    args = {}
    for pair in query.split("&"):
        key, _, value = unquote(pair).partition("=")
        args[key] = value
    return args


def josm_tags(url: str) -> dict[str, str]:
    """The tags JOSM's AddTagsDialog makes of `addtags`: split on '|', each on its first '='."""
    tags = {}
    for tag in josm_view_of(url).get("addtags", "").split("|"):
        if "=" in tag.strip():
            key, value = tag.strip().split("=", 1)
            tags[key.strip()] = value.strip()
    return tags


# --- existing objects -------------------------------------------------------------------------------


def test_osm_object_url_is_the_object_page_on_openstreetmap_org():
    assert links.osm_object_url("node/123") == "https://www.openstreetmap.org/node/123"
    assert links.osm_object_url("way/45") == "https://www.openstreetmap.org/way/45"
    assert links.osm_object_url("relation/6") == "https://www.openstreetmap.org/relation/6"


def test_id_edit_url_selects_the_object_in_id():
    assert links.id_edit_url("node/123") == "https://www.openstreetmap.org/edit?editor=id&node=123"
    assert links.id_edit_url("way/45") == "https://www.openstreetmap.org/edit?editor=id&way=45"
    assert links.id_edit_url("relation/6") == "https://www.openstreetmap.org/edit?editor=id&relation=6"


def test_josm_load_object_url_loads_every_object_with_relation_members():
    url = links.josm_load_object_url(["node/1", "way/2", "relation/3"])
    assert url == "http://127.0.0.1:8111/load_object?objects=n1,w2,r3&relation_members=true"
    assert josm_view_of(url) == {"objects": "n1,w2,r3", "relation_members": "true"}


@pytest.mark.parametrize(
    "key",
    [
        "node/12a",
        "node/-1",
        "node/0",
        "nodes/1",
        "node/1/../../user/x",
        "node/1?x=1",
        "node/1#x",
        "javascript:alert(1)//node/1",
        "node/1\n",
        " node/1",
        "",
        "node/" + "9" * 20,
        None,
    ],
)
def test_builders_refuse_anything_that_is_not_an_osm_key(key):
    for build in (links.osm_object_url, links.id_edit_url, lambda k: links.josm_load_object_url([k])):
        with pytest.raises(ValueError, match="not an OSM key"):
            build(key)


def test_josm_load_object_url_needs_at_least_one_object():
    with pytest.raises(ValueError, match="no OSM objects"):
        links.josm_load_object_url([])


def test_links_for_osm_objects_offer_the_website_id_and_josm_with_accessible_labels():
    result = links.links_for_osm_objects(["node/7", "way/8"])
    assert [(link["editor"], link["action"], link["label"]) for link in result] == [
        ("osm", "view", "View on openstreetmap.org"),
        ("id", "edit", "Edit in iD"),
        ("josm", "edit", "Open in JOSM"),
    ]
    assert result[0]["url"] == "https://www.openstreetmap.org/node/7"
    assert result[1]["url"] == "https://www.openstreetmap.org/edit?editor=id&node=7"
    assert result[2]["url"].endswith("objects=n7,w8&relation_members=true")


def test_links_for_osm_objects_skip_invalid_and_repeated_keys():
    assert links.links_for_osm_objects(["<b>", "node/1", "node/1"])[2]["url"].endswith(
        "objects=n1&relation_members=true"
    )
    assert links.links_for_osm_objects(["not a key"]) == []
    assert links.links_for_osm_objects([]) == []


# --- places -------------------------------------------------------------------------------------------


def test_place_links_carry_the_position_with_seven_decimals():
    assert links.osm_place_url(47.2, 9.5) == (
        "https://www.openstreetmap.org/?mlat=47.2000000&mlon=9.5000000#map=19/47.2000000/9.5000000"
    )
    assert (
        links.id_place_url(47.2, 9.5)
        == "https://www.openstreetmap.org/edit?editor=id#map=19/47.2000000/9.5000000"
    )


def test_josm_load_area_url_is_a_small_box_around_the_place():
    url = links.josm_load_area_url(47.2, 9.5)
    assert (
        url
        == "http://127.0.0.1:8111/load_and_zoom?left=9.499400&right=9.500600&top=47.200600&bottom=47.199400"
    )


def test_tiny_coordinates_are_never_written_in_exponent_notation():
    assert "e-" not in links.osm_place_url(1e-9, -1e-9)
    assert "e-" not in links.josm_add_node_url(1e-9, 1e-9, {})


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(math.nan, 9.5), (47.0, math.inf), (91.0, 9.5), (47.0, -180.5), ("47; DROP", 9.5), (None, 9.5)],
)
def test_place_builders_refuse_positions_that_are_not_wgs84(lat, lon):
    for build in (links.osm_place_url, links.id_place_url, links.josm_load_area_url):
        with pytest.raises(ValueError, match="not a WGS84 position"):
            build(lat, lon)
    with pytest.raises(ValueError, match="not a WGS84 position"):
        links.josm_add_node_url(lat, lon, {"name": "x"})
    assert links.links_for_missing_stop(lat, lon, {"name": "x"}) == []


def test_numeric_strings_are_accepted_as_coordinates_but_written_as_numbers():
    assert links.id_place_url("47.2", "9.5").endswith("#map=19/47.2000000/9.5000000")


# --- add_node with tags ----------------------------------------------------------------------------------

STOP_TAGS = {
    "public_transport": "platform",
    "highway": "bus_stop",
    "bus": "yes",
    "name": "Balzers, Ramschwagweg",
    "uic_name": "Balzers, Ramschwagweg",
    "uic_ref": "8510305",
    "ref:IFOPT": "ch:1:sloid:10305",
    "operator": "Verkehrsbetrieb LIECHTENSTEINmobil",
}


def test_josm_add_node_url_creates_the_node_with_every_tag_as_josm_reads_it():
    url = links.josm_add_node_url(47.0123456, 9.5123456, STOP_TAGS)
    assert url.startswith("http://127.0.0.1:8111/add_node?lat=47.0123456&lon=9.5123456&addtags=")
    assert josm_view_of(url)["lat"] == "47.0123456"
    assert josm_tags(url) == STOP_TAGS


def test_josm_add_node_url_percent_encodes_the_whole_tag_list():
    url = links.josm_add_node_url(47.0, 9.5, {"name": HOSTILE})
    addtags = url.split("&addtags=", 1)[1]
    # Nothing a browser or JOSM would read as syntax stays raw.
    for raw in '&#?+|="<> ':
        assert raw not in addtags
    assert josm_tags(url) == {"name": HOSTILE}
    assert dict(parse_qsl(urlsplit(url).query))["addtags"] == f"name={HOSTILE}"


def test_a_pipe_in_a_value_cannot_inject_a_tag_into_josm():
    url = links.josm_add_node_url(47.0, 9.5, {"name": "Halt|highway=motorway", "bus": "yes"})
    assert josm_tags(url) == {"bus": "yes"}


@pytest.mark.parametrize(
    "tags",
    [
        {"na=me": "x"},
        {"na|me": "x"},
        {"name": "line\nbreak"},
        {"name": "tab\there"},
        {"name": ""},
        {"": "x"},
        {"name": " padded"},
        {" name": "x"},
        {"name": "nul\x00"},
    ],
)
def test_tags_josm_could_not_carry_intact_are_left_out(tags):
    assert links.josm_addtags(tags) == ""
    assert "addtags" not in links.josm_add_node_url(47.0, 9.5, tags)


def test_an_equals_sign_or_unicode_in_a_value_survives_the_round_trip_through_josm():
    tags = {"name": "a = b==c", "name:ja": "ファドゥーツ", "note": "100% & more"}
    assert josm_tags(links.josm_add_node_url(47.0, 9.5, tags)) == {
        # JOSM trims blanks around the first '=' only: the value keeps its own.
        "name": "a = b==c",
        "name:ja": "ファドゥーツ",
        "note": "100% & more",
    }


def test_links_for_a_missing_stop_view_the_place_open_id_there_load_the_area_and_add_in_josm():
    result = links.links_for_missing_stop(47.2, 9.5, STOP_TAGS)
    assert [(link["editor"], link["action"], link["label"]) for link in result] == [
        ("osm", "view", "View on openstreetmap.org"),
        ("id", "add", "Edit here in iD"),
        ("josm", "area", "Load area in JOSM"),
        ("josm", "add", "Add in JOSM"),
    ]
    assert josm_tags(result[3]["url"]) == STOP_TAGS


def test_a_missing_stop_without_a_proposed_tag_set_gets_no_add_in_josm_link():
    result = links.links_for_missing_stop(47.2, 9.5, {})
    assert [link["action"] for link in result] == ["view", "add", "area"]
    only_hostile = links.links_for_missing_stop(47.2, 9.5, {"name": "a|b"})
    assert "add_node" not in " ".join(link["url"] for link in only_hostile)


def test_every_link_points_at_openstreetmap_org_or_josm_on_loopback_only():
    every = links.links_for_osm_objects(["node/1"]) + links.links_for_missing_stop(0, 0, {"name": HOSTILE})
    for link in every:
        assert link["url"].startswith(("https://www.openstreetmap.org/", "http://127.0.0.1:8111/"))
        assert set(link) == {"editor", "action", "label", "title", "url"}
