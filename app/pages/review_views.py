"""Review-workflow pages: the Atom feed of new priority-1 problems and the /changes page (routes of the
one pages blueprint, `app.pages.bp`)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

from flask import Response, current_app, render_template, request

from app.api.schemas.endpoint import parse_query
from app.api.schemas.stops import FeedQuery
from app.pages.blueprint import bp
from app.services import feeds

FEED_PARAMS = ("operator", "region", "bbox")


@bp.get("/feeds/problems.atom")
def problems_feed():
    """Atom 1.0 feed of new, still open priority-1 problems; filters: operator, region, bbox."""
    feed_query = parse_query(FeedQuery)
    box = feed_query.bbox
    flt = feeds.FeedFilter(
        operator=feed_query.operator,
        region=feed_query.region,
        bbox=(box[0], box[1], box[2], box[3]) if box else None,
    )
    items = feeds.new_p1_problems(flt)
    # Links and ids from the configured address, never from Host / X-Forwarded-Host: a forged header
    # would otherwise put its links in the feed and change every id readers dedupe on.
    base = current_app.config["SETTINGS"].PUBLIC_BASE_URL.rstrip("/")
    authority = urlsplit(base).netloc
    canonical = {k: request.args[k] for k in FEED_PARAMS if request.args.get(k)}
    query = ("?" + urlencode(sorted(canonical.items()))) if canonical else ""
    entries = [
        feeds.AtomEntry(
            id=feeds.entry_id(base, item),
            title=f"P1 {item['problem_type']}: {_subject(item)}",
            updated=item["created_at"],
            link=base + feeds.stop_path(item),
            summary=item["message"],
            category=item["problem_type"],
            lat=item["lat"],
            lon=item["lon"],
        )
        for item in items
    ]
    updated = max((e.updated for e in entries), default=None) or feeds.last_run_finished()
    description = flt.describe()
    body = feeds.build_atom(
        feed_id=feeds.tag_uri(authority, f"feeds/problems{query}"),
        title="StopSync: new priority-1 problems" + (f" ({description})" if description else ""),
        subtitle="Problems a pipeline run found for the first time that are still open.",
        self_url=f"{base}/feeds/problems.atom{query}",
        alternate_url=f"{base}/review",
        updated=updated or dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        entries=entries,
    )
    return Response(body, mimetype="application/atom+xml")


def _subject(item: dict) -> str:
    return item["name"] or item["stop_id"] or item["osm_key"] or item["identity"]


@bp.get("/changes")
def changes_page():
    """Run-to-run differences and the trend of problems per type and per operator."""
    return render_template("changes.html")
