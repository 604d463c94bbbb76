"""New priority-1 problems as an Atom feed, and what webhook calls are made of.

"New" means: a run recorded the problem as ``appeared`` in `problem_changes` and it is still open
(present in the current snapshot, which gives it a message, a position and a stop to link to).
Filters: operator (the problem's operator abbreviation), region (of its registry stop, so only
problems with a registry side), bounding box (the problem's position).

Webhooks (``WEBHOOK_URLS``): after each successful run, every target receives the P1 problems that
run made appear and that pass the target's filters, as one JSON POST signed with a timestamp
(``X-StopSync-Signature: t=<unix>,v1=<hex>``, see `app.services.webhook_signature` for the scheme and
the receiver's verifier: a replayed request fails its age check). A target's filters
travel in its URL fragment, which HTTP clients never send: ``https://hooks.example/x#operator=PAG``.
Delivery has a bounded timeout; failures are logged and never fail the run. A target URL is a secret
in itself (whoever knows it can post to it), so deliveries are logged and reported by the target's
position in ``WEBHOOK_URLS`` and its host only. This module parses the targets (settings validation
uses it at start-up) and queries the problems; the run delivers them (`runs/webhooks.py`).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import Select, and_, func, select

from database import db
from database.base import SRID_WGS84
from database.models import PipelineRun, Problem, ProblemChange, RegistryStopRow
from pipeline.text import xml_safe

ATOM_NS = "http://www.w3.org/2005/Atom"
GEORSS_NS = "http://www.georss.org/georss"
FEED_PRIORITY = 1
FEED_MAX_ENTRIES = 100
# A tag URI (RFC 4151) needs a date the authority owned the name; any fixed date keeps ids stable.
TAG_DATE = "2024"


@dataclass(frozen=True)
class FeedFilter:
    """Which problems a feed or a webhook target wants."""

    operator: str | None = None
    region: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # minLon, minLat, maxLon, maxLat

    def accepts(self, item: Mapping[str, Any]) -> bool:
        if self.operator and (item.get("operator_code") or "").lower() != self.operator.lower():
            return False
        if self.region and (item.get("region") or "").upper() != self.region.upper():
            return False
        if self.bbox:
            min_lon, min_lat, max_lon, max_lat = self.bbox
            if not (min_lon <= item["lon"] <= max_lon and min_lat <= item["lat"] <= max_lat):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.operator:
            parts.append(f"operator {self.operator}")
        if self.region:
            parts.append(f"region {self.region}")
        if self.bbox:
            parts.append("bbox " + ",".join(f"{v:g}" for v in self.bbox))
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Reading the new P1 problems
# ---------------------------------------------------------------------------------------------


def _new_problems_query(flt: FeedFilter, run_id: int | None = None) -> Select[Any]:
    query = (
        select(
            ProblemChange.id.label("change_id"),
            ProblemChange.run_id,
            ProblemChange.created_at,
            Problem.identity,
            Problem.problem_type,
            Problem.priority,
            Problem.message,
            Problem.details,
            Problem.source,
            Problem.stop_id,
            Problem.osm_key,
            Problem.operator_code,
            Problem.distance_m,
            Problem.lat,
            Problem.lon,
            RegistryStopRow.region,
            RegistryStopRow.name,
            PipelineRun.finished_at,
        )
        .join(Problem, Problem.identity == ProblemChange.problem_identity)
        .join(PipelineRun, PipelineRun.id == ProblemChange.run_id)
        # The problem's own registry stop: another registry's with the same id is another stop.
        .outerjoin(
            RegistryStopRow,
            and_(RegistryStopRow.source == Problem.source, RegistryStopRow.stop_id == Problem.stop_id),
        )
        .where(ProblemChange.change == "appeared", ProblemChange.priority == FEED_PRIORITY)
    )
    if run_id is not None:
        query = query.where(ProblemChange.run_id == run_id)
    if flt.operator:
        query = query.where(func.lower(Problem.operator_code) == flt.operator.lower())
    if flt.region:
        query = query.where(func.upper(RegistryStopRow.region) == flt.region.upper())
    if flt.bbox:
        envelope = func.ST_MakeEnvelope(*flt.bbox, SRID_WGS84)
        query = query.where(Problem.geom.op("&&")(envelope))
    return query


def new_p1_problems(flt: FeedFilter, limit: int = FEED_MAX_ENTRIES) -> list[dict[str, Any]]:
    """The most recently appeared, still open P1 problems passing `flt`, newest first."""
    query = _new_problems_query(flt).order_by(ProblemChange.id.desc()).limit(limit)
    return [dict(row._mapping) for row in db.session.execute(query)]


def problems_appeared_in_run(run_id: int) -> list[dict[str, Any]]:
    """Every P1 problem run `run_id` made appear (unfiltered; targets filter in memory)."""
    query = _new_problems_query(FeedFilter(), run_id=run_id).order_by(ProblemChange.id)
    return [dict(row._mapping) for row in db.session.execute(query)]


def last_run_finished() -> dt.datetime | None:
    return db.session.scalar(
        select(func.max(PipelineRun.finished_at)).where(PipelineRun.status == "succeeded")
    )


# ---------------------------------------------------------------------------------------------
# Atom
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtomEntry:
    id: str
    title: str
    updated: dt.datetime
    link: str
    summary: str
    category: str
    lat: float | None = None
    lon: float | None = None


def tag_uri(host: str, specific: str) -> str:
    """A stable, globally unique Atom id: ``tag:<host>,<date>:<specific>`` (RFC 4151)."""
    authority = (host.split(":", 1)[0] or "localhost").lower()
    return f"tag:{authority},{TAG_DATE}:{specific}"


def entry_id(base_url: str, item: Mapping[str, Any]) -> str:
    """The permanent Atom id of "problem X appeared at time T", under PUBLIC_BASE_URL's host.

    Built from the problem's identity and the moment it appeared, both stored with the change: not
    from the change row's serial number, which a restore from backup rewinds (ids published since
    would be handed to other problems and readers would skip them as already seen), and never from
    the request's Host header, which anyone can set.
    """
    appeared = item["created_at"]
    if appeared.tzinfo is None:
        appeared = appeared.replace(tzinfo=dt.UTC)
    stamp = appeared.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    identity = quote(str(item["identity"]), safe=":/@")
    return tag_uri(urlsplit(base_url).netloc, f"problem/{identity}/appeared/{stamp}")


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_atom(
    *,
    feed_id: str,
    title: str,
    self_url: str,
    alternate_url: str,
    updated: dt.datetime,
    entries: Sequence[AtomEntry],
    subtitle: str | None = None,
) -> bytes:
    """A valid Atom 1.0 document (RFC 4287): feed id/title/updated/author/links, entries with
    id/title/updated/link/summary, plus a GeoRSS point per entry."""
    ET.register_namespace("", ATOM_NS)
    ET.register_namespace("georss", GEORSS_NS)

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        # Names and messages come from OSM and the registry: a control character in one of them would
        # make the whole feed unreadable for every subscriber, so those characters are dropped.
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}", {k: xml_safe(v) for k, v in attrs.items()})
        if text is not None:
            element.text = xml_safe(text)
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", title)
    if subtitle:
        sub(feed, "subtitle", subtitle)
    sub(feed, "updated", _iso(updated))
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    author = sub(feed, "author")
    sub(author, "name", "StopSync")
    sub(feed, "generator", "StopSync")
    for item in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", item.id)
        sub(entry, "title", item.title)
        sub(entry, "updated", _iso(item.updated))
        sub(entry, "link", rel="alternate", type="text/html", href=item.link)
        sub(entry, "summary", item.summary, type="text")
        sub(entry, "category", term=item.category)
        if item.lat is not None and item.lon is not None:
            point = ET.SubElement(entry, f"{{{GEORSS_NS}}}point")
            point.text = f"{item.lat:.6f} {item.lon:.6f}"
    ET.indent(feed, space="  ")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookTarget:
    url: str  # without the fragment
    filter: FeedFilter


def parse_webhook_targets(spec: str) -> list[WebhookTarget]:
    """``WEBHOOK_URLS``: targets separated by whitespace or ``;``, each an http(s) URL whose optional
    fragment holds its filters (``operator=``, ``region=``, ``bbox=minLon,minLat,maxLon,maxLat``).
    Raises ValueError naming the bad entry."""
    targets = []
    for raw in spec.replace(";", " ").split():
        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"webhook target {raw!r} is not an http(s) URL")
        options = {k: v[-1] for k, v in parse_qs(parts.fragment).items()}
        unknown = set(options) - {"operator", "region", "bbox"}
        if unknown:
            raise ValueError(f"webhook target {raw!r}: unknown filter(s) {sorted(unknown)}")
        box = None
        if "bbox" in options:
            try:
                values = tuple(float(v) for v in options["bbox"].split(","))
            except ValueError:
                values = ()
            if len(values) != 4 or values[0] > values[2] or values[1] > values[3]:
                raise ValueError(f"webhook target {raw!r}: bbox must be minLon,minLat,maxLon,maxLat")
            box = (values[0], values[1], values[2], values[3])
        url = parts._replace(fragment="").geturl()
        targets.append(WebhookTarget(url, FeedFilter(options.get("operator"), options.get("region"), box)))
    return targets


def stop_path(item: Mapping[str, Any]) -> str:
    """The page of the problem's stop (registry side first)."""
    if item.get("stop_id"):
        return f"/stops/{item.get('source') or 'atlas'}/{item['stop_id']}"
    key = item.get("osm_key") or ""
    return f"/stops/osm/{key}" if key else "/review"
