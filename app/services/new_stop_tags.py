"""How a registry stop that is missing in OpenStreetMap is tagged when we propose to create it.

Module: ``app/services/new_stop_tags.py`` — the one tag table for new stops. Its users: the osmChange
``<create>`` and the MapRoulette creation tasks (``app/services/fix_exports.py``) and the editor links
of the pages (JOSM remote control ``add_node``). Call :func:`tags_for_new_stop`; an empty result means
"we do not know how mappers tag this kind of stop: let a person create it", and
:func:`why_no_tags` says why.

The tags follow how OSM mappers tag such a stop (public transport schema v2, as in the Swiss and
Liechtenstein data: one node per bus stop beside the road carrying the stop's identity; stations of
trains and aerial lifts as ``public_transport=station``). A new object is always a **node** placed
at the registry position, never a ``stop_position`` (that one lies on the road or track and belongs
to a way, which a registry position cannot know).

Kind of object, by the registry level and the means of transport (ATLAS ``meansOfTransport``):

* a *traffic point* (one boarding platform) is always a **platform**;
* a *service point* (a whole stop) is a **station** when one of its means is a railway or an aerial
  lift (``TRAIN``, ``RACK_RAILWAY``, ``METRO``, ``CABLE_RAILWAY``, ``CABLE_CAR``, ``CHAIRLIFT``),
  otherwise a **platform** (a bus, tram or boat stop is mapped as its waiting place).

Tags per means of transport (several means: the union; ``public_transport`` comes from the kind):

=============  ==========================================  =====================================
means          as a platform (``public_transport=platform``)  as a station (``public_transport=station``)
=============  ==========================================  =====================================
BUS            ``highway=bus_stop`` ``bus=yes``              ``bus=yes``
TRAM           ``railway=platform`` ``tram=yes`` (only       ``tram=yes``
               ``tram=yes`` beside ``highway=bus_stop``)
TRAIN          ``railway=platform`` ``train=yes``            ``railway=station`` ``train=yes``
RACK_RAILWAY   ``railway=platform`` ``train=yes``            ``railway=station`` ``train=yes``
METRO          ``railway=platform`` ``subway=yes``           ``railway=station`` ``subway=yes``
CABLE_RAILWAY  ``railway=platform`` ``funicular=yes``        ``railway=station`` ``funicular=yes``
CABLE_CAR      ``aerialway=station``                         ``aerialway=station``
CHAIRLIFT      ``aerialway=station``                         ``aerialway=station``
BOAT           ``amenity=ferry_terminal`` ``ferry=yes``      ``amenity=ferry_terminal`` ``ferry=yes``
ELEVATOR       (none: no agreed tagging, a person decides)
UNKNOWN/empty  (none)
=============  ==========================================  =====================================

Identity and names, on every new object:

==============  ======================================================================
``name``        the official name (``designationOfficial``); mappers may shorten it later
``uic_name``    the official name
``uic_ref``     the UIC number (``85`` + stop number), when the registry has one
``ref:IFOPT``   the stop_id (the Swiss Location ID is the IFOPT-style identifier of a stop), only
                where the local community uses the tag (``NEW_STOP_IFOPT``, see
                ``app/services/ifopt_usage.py``: OSM stops nearby already carry it)
``local_ref``   the platform platform_code (``platform_code``), platforms only
``operator``    the operator's name (``operator_name``), else its abbreviation
==============  ======================================================================

Values longer than the OSM limit of 255 characters, and empty values, are left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.declarations import declaration_for
from pipeline.records import RegistryStopLike

OSM_MAX_VALUE_LENGTH = 255  # the OSM API refuses longer keys and values

PLATFORM = "platform"
STATION = "station"

# means of transport → (tags as a platform, tags as a station). The table the docstring shows.
MODE_TAGS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "BUS": ({"highway": "bus_stop", "bus": "yes"}, {"bus": "yes"}),
    "TRAM": ({"railway": "platform", "tram": "yes"}, {"tram": "yes"}),
    "TRAIN": ({"railway": "platform", "train": "yes"}, {"railway": "station", "train": "yes"}),
    "RACK_RAILWAY": ({"railway": "platform", "train": "yes"}, {"railway": "station", "train": "yes"}),
    "METRO": ({"railway": "platform", "subway": "yes"}, {"railway": "station", "subway": "yes"}),
    "CABLE_RAILWAY": (
        {"railway": "platform", "funicular": "yes"},
        {"railway": "station", "funicular": "yes"},
    ),
    "CABLE_CAR": ({"aerialway": "station"}, {"aerialway": "station"}),
    "CHAIRLIFT": ({"aerialway": "station"}, {"aerialway": "station"}),
    "BOAT": (
        {"amenity": "ferry_terminal", "ferry": "yes"},
        {"amenity": "ferry_terminal", "ferry": "yes"},
    ),
}
# A whole stop served by one of these is mapped as a station, not as a waiting place.
STATION_MODES = frozenset({"TRAIN", "RACK_RAILWAY", "METRO", "CABLE_RAILWAY", "CABLE_CAR", "CHAIRLIFT"})


def stop_modes(modes: str | None) -> list[str]:
    """The registry's means of transport as a sorted list of upper-case values ("BUS|TRAM" → both)."""
    return sorted({m.strip().upper() for m in (modes or "").split("|") if m.strip()})


def is_platform_level(stop: RegistryStopLike) -> bool:
    """One platform or a whole stop, as the stop's registry declares it (ATLAS: traffic points are
    single platforms, service points whole stops; NaPTAN: every stop point but an access area)."""
    return declaration_for(stop.source).platform_level(stop)  # type: ignore[arg-type]


def new_stop_kind(stop: RegistryStopLike, modes: Iterable[str] | None = None) -> str:
    """``platform`` or ``station``: what kind of object a new node for this stop is."""
    known = set(stop_modes(stop.modes) if modes is None else modes)
    if not is_platform_level(stop) and known & STATION_MODES:
        return STATION
    return PLATFORM


def why_no_tags(stop: RegistryStopLike, modes: Iterable[str] | None = None) -> str | None:
    """Why :func:`tags_for_new_stop` proposes nothing for this stop, or None when it does."""
    known = stop_modes(stop.modes) if modes is None else sorted(set(modes))
    if not (stop.name or "").strip():
        return "the registry has no official name for this stop"
    if not known:
        return "the registry gives no means of transport for this stop"
    if not any(m in MODE_TAGS for m in known):
        return f"no agreed OSM tagging for means of transport {', '.join(known)}: create it by hand"
    return None


def tags_for_new_stop(
    stop: RegistryStopLike, modes: Iterable[str] | None = None, *, ifopt: bool = True
) -> dict[str, str]:
    """The complete tag set of a new OSM node for this registry stop, or ``{}`` when we cannot say.

    ``modes`` overrides the stop's own means of transport (a traffic point has none of its own: the
    caller passes its service point's). ``ifopt`` says whether mappers around the stop use
    ``ref:IFOPT`` (:func:`app.services.ifopt_usage.registry_stops_where_ifopt_is_used`).
    """
    known = stop_modes(stop.modes) if modes is None else sorted(set(modes))
    if why_no_tags(stop, known) is not None:
        return {}
    kind = new_stop_kind(stop, known)
    tags: dict[str, str] = {"public_transport": kind}
    for mode in known:
        if mode in MODE_TAGS:
            platform_tags, station_tags = MODE_TAGS[mode]
            for key, value in (platform_tags if kind == PLATFORM else station_tags).items():
                tags.setdefault(key, value)
    if tags.get("highway") == "bus_stop" and tags.get("railway") == "platform" and "train" not in tags:
        # A shared bus and tram stop: one waiting place, tagged as a bus stop with tram=yes.
        del tags["railway"]
    # Identifier, name, platform and operator tags as the stop's registry declares them (ATLAS: name
    # and uic_name, uic_ref, ref:IFOPT; NaPTAN: name, naptan:NaptanCode, naptan:AtcoCode).
    registry = declaration_for(stop.source)
    official = (stop.name or "").strip()
    for key in registry.name_tags:
        tags[key] = official
    if stop.code is not None and registry.code is not None and registry.code.osm_tags:
        tags[registry.code.osm_tags[0]] = registry.code.normalise(stop.code) or ""
    if ifopt and registry.stop_id.osm_tags:
        tags[registry.stop_id.osm_tags[0]] = stop.stop_id.strip()
    if kind == PLATFORM and registry.platform_tag and stop.platform_code and stop.platform_code.strip():
        tags[registry.platform_tag] = stop.platform_code.strip()
    operator = (stop.operator_name or stop.operator_code or "").strip()
    if operator and registry.operator_tag:
        tags[registry.operator_tag] = operator
    for key in registry.foreign_tags:
        tags.pop(key, None)
    return {k: v for k, v in sorted(tags.items()) if v and len(v) <= OSM_MAX_VALUE_LENGTH}
