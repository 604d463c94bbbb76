"""Links that open a stop in an OpenStreetMap editor: the one place these URLs are built.

Three targets, wherever a stop is shown (stop page, map popup, review page, through the stop API):

* **openstreetmap.org**: the object (``/node/123``), or a marker at a place where no object is;
* **iD**, the web editor on openstreetmap.org: ``/edit?editor=id&node=123``, or the editor opened at a
  place (``/edit?editor=id#map=19/lat/lon``) to add a missing stop by hand (iD takes no tags from a URL);
* **JOSM remote control** on ``http://127.0.0.1:8111`` (JOSM answers plain GET navigation, so a link
  with ``target=_blank`` is enough and the page's CSP needs no ``connect-src`` for it):
  ``load_object`` for existing objects, ``load_and_zoom`` to download the area around a missing stop,
  and ``add_node`` with the tags of :func:`app.services.new_stop_tags.tags_for_new_stop` to create it.
  JOSM refuses ``add_node`` without a data layer, hence "load the area" comes first.

Everything put into a URL is percent-encoded here, and a value JOSM could not carry intact is left
out rather than sent mangled. JOSM splits the query on a raw ``&``, decodes each ``key=value`` once,
then splits ``addtags`` on ``|`` and each tag on its first ``=`` (``RequestHandler.getRequestParameter``,
``AddTagsDialog.addTags``). It has no escape for ``|``: a registry name like ``A|highway=motorway``
would become two tags, so a tag whose key or value holds ``|`` (or whose key holds ``=``, or either
holds a control character) is dropped. Coordinates must be finite numbers in range; OSM keys must be
``node|way|relation/<digits>``; anything else raises ``ValueError``.

Pages and scripts never rebuild these URLs: the stop API returns them as ``links`` (each a dict with
``editor``, ``action``, ``label``, ``title`` and ``url``) and the templates and scripts render them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict
from urllib.parse import quote

from app.i18n_markers import N_  # labels for the pages' catalogs; the API answers in English
from app.services import new_stop_tags

OSM_WEBSITE = "https://www.openstreetmap.org"
# JOSM's remote control listens on the loopback address; browsers allow http://127.0.0.1 from https
# pages, not http://localhost (JOSM wiki, RemoteControl).
JOSM_REMOTE_CONTROL = "http://127.0.0.1:8111"
# Half the side of the area load_and_zoom downloads around a missing stop: ~130 m x 90 m in Switzerland.
JOSM_AREA_HALF_SIDE_DEG = 0.0006
# Zoom of the map views we open at a place: close enough to see single platforms.
PLACE_ZOOM = 19

OSM_KEY_RE = re.compile(r"(node|way|relation)/([1-9][0-9]{0,18})")
OSM_TYPE_LETTER = {"node": "n", "way": "w", "relation": "r"}


class EditorLink(TypedDict):
    """One link as the API returns it; `editor` and `action` are stable codes, the rest is for people."""

    editor: str  # osm | id | josm
    action: str  # view | edit | area | add
    label: str
    title: str
    url: str


def _q(value: str) -> str:
    """Percent-encode every character that is not unreserved (also `/ & = | + # ?`)."""
    return quote(value, safe="")


def parse_osm_key(key: str) -> tuple[str, int]:
    """``"node/123"`` → ``("node", 123)``; ValueError for anything else."""
    # fullmatch: `$` alone would accept a trailing newline.
    match = OSM_KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(f"not an OSM key: {key!r:.60}")
    return match.group(1), int(match.group(2))


def _point(lat: float, lon: float) -> tuple[float, float]:
    """Validated coordinates (finite, within WGS84 range)."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValueError(f"not a WGS84 position: {lat!r:.30}, {lon!r:.30}") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a WGS84 position: {lat!r}, {lon!r}")
    return lat, lon


def _coord(value: float, decimals: int = 7) -> str:
    # 7 decimals is ~1 cm; never exponent notation, which JOSM and the map hash would not read.
    return f"{value:.{decimals}f}"


def osm_object_url(key: str) -> str:
    """The object on openstreetmap.org (its history too, when it has been deleted since)."""
    osm_type, osm_id = parse_osm_key(key)
    return f"{OSM_WEBSITE}/{osm_type}/{osm_id}"


def osm_place_url(lat: float, lon: float) -> str:
    """openstreetmap.org with a marker at a place (for a stop that has no OSM object)."""
    lat, lon = _point(lat, lon)
    la, lo = _coord(lat), _coord(lon)
    return f"{OSM_WEBSITE}/?mlat={la}&mlon={lo}#map={PLACE_ZOOM}/{la}/{lo}"


def id_edit_url(key: str) -> str:
    """iD on openstreetmap.org with this object selected."""
    osm_type, osm_id = parse_osm_key(key)
    return f"{OSM_WEBSITE}/edit?editor=id&{osm_type}={osm_id}"


def id_place_url(lat: float, lon: float) -> str:
    """iD on openstreetmap.org at a place, to add a missing stop there."""
    lat, lon = _point(lat, lon)
    return f"{OSM_WEBSITE}/edit?editor=id#map={PLACE_ZOOM}/{_coord(lat)}/{_coord(lon)}"


def josm_load_object_url(keys: Sequence[str]) -> str:
    """JOSM remote control: download these objects (``objects=n1,w2``) into the running editor.

    ``relation_members=true``: a stop-area relation is only editable with its members loaded; nodes
    and ways are unaffected by it.
    """
    if not keys:
        raise ValueError("no OSM objects to load")
    objects = []
    for key in keys:
        osm_type, osm_id = parse_osm_key(key)
        objects.append(f"{OSM_TYPE_LETTER[osm_type]}{osm_id}")
    return f"{JOSM_REMOTE_CONTROL}/load_object?objects={','.join(objects)}&relation_members=true"


def josm_load_area_url(lat: float, lon: float) -> str:
    """JOSM remote control: download and zoom to a small area around a place (before adding a stop)."""
    lat, lon = _point(lat, lon)
    d = JOSM_AREA_HALF_SIDE_DEG
    left, right = max(lon - d, -180.0), min(lon + d, 180.0)
    bottom, top = max(lat - d, -90.0), min(lat + d, 90.0)
    return (
        f"{JOSM_REMOTE_CONTROL}/load_and_zoom?left={_coord(left, 6)}&right={_coord(right, 6)}"
        f"&top={_coord(top, 6)}&bottom={_coord(bottom, 6)}"
    )


def _josm_safe(text: str) -> bool:
    return "|" not in text and not any(unicodedata.category(ch) == "Cc" for ch in text)


def josm_addtags(tags: Mapping[str, str]) -> str:
    """The ``addtags`` value (``k=v|k=v``, not yet percent-encoded) JOSM reads back tag for tag.

    Tags JOSM could not carry intact are left out (see the module docstring); so are empty keys and
    values, and keys or values with leading or trailing blanks, which JOSM would trim.
    """
    parts = []
    for key, value in tags.items():
        key, value = str(key), str(value)
        if not key or not value or "=" in key or key != key.strip() or value != value.strip():
            continue
        if not (_josm_safe(key) and _josm_safe(value)):
            continue
        parts.append(f"{key}={value}")
    return "|".join(parts)


def josm_add_node_url(lat: float, lon: float, tags: Mapping[str, str]) -> str:
    """JOSM remote control: create a node at a place with these tags (JOSM asks before adding them)."""
    lat, lon = _point(lat, lon)
    url = f"{JOSM_REMOTE_CONTROL}/add_node?lat={_coord(lat)}&lon={_coord(lon)}"
    addtags = josm_addtags(tags)
    if addtags:
        url += f"&addtags={_q(addtags)}"
    return url


def links_for_osm_objects(keys: Sequence[str]) -> list[EditorLink]:
    """View and edit links for existing OSM objects; the first key is the one iD and the website open.

    JOSM loads all of them at once (a registry stop matched to a node and a way: both). Keys that are
    not OSM keys are skipped; no keys, no links.
    """
    valid = []
    for key in keys:
        try:
            parse_osm_key(key)
        except ValueError:
            continue
        if key not in valid:
            valid.append(key)
    if not valid:
        return []
    primary = valid[0]
    names = ", ".join(valid)
    return [
        EditorLink(
            editor="osm",
            action="view",
            label=N_("View on openstreetmap.org"),
            title=f"Open {primary} on openstreetmap.org",
            url=osm_object_url(primary),
        ),
        EditorLink(
            editor="id",
            action="edit",
            label=N_("Edit in iD"),
            title=f"Edit {primary} in iD on openstreetmap.org",
            url=id_edit_url(primary),
        ),
        EditorLink(
            editor="josm",
            action="edit",
            label=N_("Open in JOSM"),
            title=f"Load {names} into JOSM (remote control must be enabled)",
            url=josm_load_object_url(valid),
        ),
    ]


def links_for_missing_stop(lat: float, lon: float, tags: Mapping[str, str]) -> list[EditorLink]:
    """Links to add a registry stop that has no OSM object: look, edit in iD, load area and add in JOSM.

    "Add in JOSM" only when `tags` proposes a tag set (see `tags_for_new_stop`); without one a person
    decides how to tag the stop, and the area link is the start. Invalid coordinates give no links.
    """
    try:
        lat, lon = _point(lat, lon)
    except ValueError:
        return []
    links = [
        EditorLink(
            editor="osm",
            action="view",
            label=N_("View on openstreetmap.org"),
            title="This place on openstreetmap.org: no OSM object is matched to the stop",
            url=osm_place_url(lat, lon),
        ),
        EditorLink(
            editor="id",
            action="add",
            label=N_("Edit here in iD"),
            title="Open iD at this place to add the missing stop",
            url=id_place_url(lat, lon),
        ),
        EditorLink(
            editor="josm",
            action="area",
            label=N_("Load area in JOSM"),
            title="Download the area around the stop into JOSM (needed before adding it there)",
            url=josm_load_area_url(lat, lon),
        ),
    ]
    if josm_addtags(tags):
        links.append(
            EditorLink(
                editor="josm",
                action="add",
                label=N_("Add in JOSM"),
                title="Create the missing stop in JOSM with the registry's tags (load the area first)",
                url=josm_add_node_url(lat, lon, tags),
            )
        )
    return links


def links_for_unmatched_registry_stop(
    stop: Any, parent_means: str | None = None, *, ifopt: bool = True
) -> list[EditorLink]:
    """`links_for_missing_stop` for a registry stop (an `registry_stops` row: stop_id, names, lat, lon, ...).

    The tags come from :func:`app.services.new_stop_tags.tags_for_new_stop`. A platform (traffic point)
    carries no means of transport of its own: `parent_means` is its stop's (service point's). `ifopt`:
    whether mappers around the stop use `ref:IFOPT` (:mod:`app.services.ifopt_usage`).
    """
    modes = None
    if not (stop.modes or "").strip() and parent_means:
        modes = new_stop_tags.stop_modes(parent_means)
    tags = new_stop_tags.tags_for_new_stop(stop, modes, ifopt=ifopt)
    return links_for_missing_stop(stop.lat, stop.lon, tags)
