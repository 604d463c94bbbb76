"""Server-rendered pages (Jinja templates in pages/templates).

Handlers stay thin: they pick a template and hand it what only the server knows (the data extent,
labels, the stop being shown). Lists and counts the pages update live come from the JSON API, so
the pages and scripts use exactly what API clients use.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request
from flask_babel import gettext

from app.auth import safe_next
from app.pages import catalog
from app.pages.blueprint import bp
from app.services import map_view, vocabulary
from app.services import routes as route_service
from app.services import stops as stop_service
from pipeline.declarations import declaration_for, declarations
from pipeline.sources import registry_sources

OSM_TYPES = frozenset({"node", "way", "relation"})
ROUTE_PAGE_SIZE = 100  # lines per page of /routes


def _registries_first_selected() -> list[dict[str, str]]:
    """Every registry's code and display name, the first of PIPELINE_SOURCES first."""
    selected = [s.strip() for s in current_app.config["SETTINGS"].PIPELINE_SOURCES.split(",")]
    known = declarations()
    order = [name for name in selected if name in known] + sorted(set(known) - set(selected))
    return [{"code": name, "label": known[name].display_name} for name in order]


def _selected_registry_label() -> str:
    """The display names of the registries PIPELINE_SOURCES selects, joined with " / "."""
    selected = {s.strip().lower() for s in current_app.config["SETTINGS"].PIPELINE_SOURCES.split(",")}
    registries = _registries_first_selected()
    names = [r["label"] for r in registries if r["code"] in selected] or [r["label"] for r in registries[:1]]
    return " / ".join(names)


def _selected_registry_credits() -> list[dict[str, str | None]]:
    """Name, publisher and publisher URL of each registry PIPELINE_SOURCES selects."""
    selected = [s.strip().lower() for s in current_app.config["SETTINGS"].PIPELINE_SOURCES.split(",")]
    known = declarations()
    return [
        {"name": d.display_name, "publisher": d.publisher, "url": d.publisher_url}
        for d in (known[name] for name in selected if name in known)
    ]


@bp.app_context_processor
def _catalog_context() -> dict:
    """Labels for codes in every template, and the same tables as JSON for the page scripts."""
    return {
        "catalog": {
            "methods": catalog.as_dicts(catalog.MATCH_METHODS),
            "problems": catalog.as_dicts(catalog.PROBLEM_TYPES),
            "priorities": catalog.as_dicts(catalog.PRIORITIES),
            "decisions": catalog.as_dicts(catalog.DECISIONS),
            "transports": catalog.as_dicts(catalog.TRANSPORTS),
            # The problem types a "wrong match" decision fits (a matched pair).
            "pair_problems": [{"code": code} for code in vocabulary.PAIR_PROBLEM_TYPES],
            # Registry plug-ins by name with the name pages show (ATLAS, NaPTAN): the badge of a stop.
            # The instance's first selected registry comes first: the name of a stop without a source.
            "registries": _registries_first_selected(),
        },
        # The instance's registries by the names pages show ("ATLAS", "NaPTAN", "ATLAS / zHV"): the
        # map's filter and legend speak of "<registry> stops", never of ATLAS on a UK instance.
        "registry_label": _selected_registry_label(),
        # Who publishes each selected registry's data: the footer's and the map's credit.
        "registry_credits": _selected_registry_credits(),
        "label_method": lambda code: catalog.label_for(catalog.MATCH_METHODS, code),
        "label_problem": lambda code: catalog.label_for(catalog.PROBLEM_TYPES, code),
        "label_decision": lambda code: catalog.label_for(catalog.DECISIONS, code),
        "label_transport": lambda code: catalog.label_for(catalog.TRANSPORTS, code),
    }


@bp.get("/")
def index():
    """The map of all stops."""
    return render_template(
        "index.html",
        bounds=map_view.data_bounds(),
        transports=vocabulary.TRANSPORTS,
    )


@bp.get("/review")
def review():
    """The queue of undecided problems, worked with the keyboard."""
    return render_template("review.html")


@bp.get("/stats")
def stats():
    """Dashboard: match methods, problems, operators, last run."""
    return render_template("stats.html")


@bp.get("/operators")
def operators():
    """The registry steward's view: per operator, coverage, problems, distances and trend, sortable
    and searchable, each figure a link to the filtered map, review queue or registry report."""
    return render_template("operators.html")


@bp.get("/downloads")
def downloads():
    """Every export of the API with its filters, as small forms that build the download link."""
    return render_template("downloads.html", transports=vocabulary.TRANSPORTS)


@bp.get("/login")
def login():
    """The sign-in form; it posts to POST /login (app.auth), which redirects back here on failure.

    `next` goes through the same check as the form's redirect: the page renders it as the
    "Continue" link of a signed-in visitor, which must never lead off the site.
    """
    return render_template("login.html", next_url=safe_next(request.args.get("next")))


@bp.get("/stops/<source>/<path:stop_id>")
def registry_stop(source: str, stop_id: str):
    """One registry stop: both sides, the match, problems, decisions and their history.

    `/stops/atlas/<sloid>` (the URL before registries were plug-ins) is this page with source `atlas`.
    """
    if source not in registry_sources():
        abort(404)
    own = stop_service.registry_of(stop_id)
    if own is not None and own != source:
        # A link that did not know the stop's registry (an old /stops/atlas/ URL, a feed): its own page.
        return redirect(f"/stops/{own}/{stop_id}", code=301)
    detail = stop_service.stop_detail(stop_id=stop_id, source=source)
    if detail is None:
        abort(404, description=gettext("No registry stop %(stop_id)s in the current data.", stop_id=stop_id))
    return _render_stop("atlas", stop_id, detail)


@bp.get("/stops/osm/<osm_type>/<int:osm_id>")
def osm_stop(osm_type: str, osm_id: int):
    """One OSM object: both sides, the match, problems, decisions and their history."""
    if osm_type not in OSM_TYPES:
        abort(404)
    key = f"{osm_type}/{osm_id}"
    detail = stop_service.stop_detail(osm_key=key)
    if detail is None:
        abort(404, description=gettext("No OSM object %(key)s in the current data.", key=key))
    return _render_stop("osm", key, detail)


@bp.get("/routes")
def routes():
    """Lines of both sides with their partners, filtered by the form (the API's filters), one page at
    a time. A value the API would refuse is ignored here: a page answers with all lines instead."""
    args = request.args
    side = args.get("side") if args.get("side") in ("osm", "gtfs", "both") else "both"
    matched = {"true": True, "false": False}.get(args.get("matched", ""))
    mode = args.get("mode") if args.get("mode") in route_service.MODES else None

    def words(name: str) -> str | None:
        return (args.get(name, "").replace("\x00", "").strip()[:100]) or None

    filters = route_service.RouteFilters(
        side=side, matched=matched, operator=words("operator"), mode=mode, q=words("q")
    )
    try:
        listing = route_service.list_routes(filters, cursor=args.get("cursor") or None, limit=ROUTE_PAGE_SIZE)
    except route_service.InvalidCursorError:
        listing = route_service.list_routes(filters, limit=ROUTE_PAGE_SIZE)
    return render_template("routes.html", listing=listing, filters=filters, modes=route_service.MODES)


@bp.get("/routes/<side>/<path:route_id>")
def route(side: str, route_id: str):
    """One line (OSM relation or GTFS route): its stops on each side in order, which agree with the
    partner line of the other side, links to both and to the stop pages."""
    if side not in route_service.SIDES:
        abort(404)
    detail = route_service.route_detail(side, route_id)
    if detail is None:
        abort(
            404, description=gettext("No %(side)s route %(id)s in the current data.", side=side, id=route_id)
        )
    return render_template(
        "route.html",
        side=side,
        route_id=route_id,
        detail=detail,
        # Labelled in the page's language.
        statuses={e["code"]: e for e in catalog.as_dicts(catalog.ROUTE_STOP_STATUSES)},
    )


def _render_stop(kind: str, key: str, detail: dict[str, Any]) -> str:
    # The registry side is described by its plug-in's declaration (display name, identifier labels,
    # its own viewer's URL): the stop's registry, or on an OSM page the first partner's.
    stop = detail["atlas"] or next(iter(detail["atlas_partners"]), None)
    registry = declaration_for(stop["source"] if stop else "atlas")
    return render_template(
        "stop.html",
        kind=kind,
        key=key,
        detail=detail,
        registry=registry,
        registry_url=registry.url_for(stop["stop_id"], stop.get("code")) if stop else None,
        map_points=_map_points(kind, key, detail),
    )


def _map_points(kind: str, key: str, detail: dict[str, Any]) -> dict[str, list]:
    """Positions for the stop page's small map: both sides and a line per match."""
    atlas = [detail["atlas"], *detail["atlas_partners"]] if detail["atlas"] else detail["atlas_partners"]
    positions: dict[str, tuple[float, float]] = {}
    points: dict[str, list] = {"atlas": [], "osm": [], "lines": []}
    for stop in atlas:
        # By (source, stop id): two registries may hold one id; the page's own stop is detail["atlas"].
        positions[f"atlas:{stop['source']}/{stop['stop_id']}"] = (stop["lat"], stop["lon"])
        current = kind == "atlas" and stop is detail["atlas"]
        points["atlas"].append(
            {
                "key": stop["stop_id"],
                "source": stop["source"],
                "lat": stop["lat"],
                "lon": stop["lon"],
                "current": current,
            }
        )
    for obj in detail["osm"]:
        positions["osm:" + obj["osm_key"]] = (obj["lat"], obj["lon"])
        current = kind == "osm" and obj["osm_key"] == key
        points["osm"].append(
            {"key": obj["osm_key"], "lat": obj["lat"], "lon": obj["lon"], "current": current}
        )
    for match in detail["matches"]:
        start = positions.get(f"atlas:{match['source']}/{match['stop_id']}")
        end = positions.get("osm:" + match["osm_key"])
        if start and end:
            points["lines"].append([list(start), list(end)])
    return points


# The other page modules attach their routes to the same blueprint: importing them is registering them.
from app.pages import assets, pipeline_page, review_views  # noqa: E402, F401
