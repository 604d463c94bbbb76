"""Stage 0: links and forbidden links made by people (the `manual_matches` table, fed in by the caller).

A `link` pair is committed before any automatic stage; an `unlink` pair is added to the forbidden
set that every later stage respects. Pairs naming a stop or object absent from this run are
returned as orphaned, so the review workflow can flag them.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.matching.context import MatchContext
from pipeline.matching.params import METHOD_MANUAL
from pipeline.records import ManualLink


def apply_manual_links(ctx: MatchContext, links: Iterable[ManualLink]) -> list[ManualLink]:
    """Apply unlinks (forbid) then links (commit), in a stable order. Returns the orphaned links."""
    ordered = sorted(links, key=lambda link: (link.action, link.stop_id, link.source, link.osm_key))
    orphaned: list[ManualLink] = []
    for link in ordered:
        if link.action == "unlink":
            ctx.forbidden.add((link.key, link.osm_key))
    for link in ordered:
        if link.action != "link":
            continue
        reg_i = ctx.registry_by_sloid.get(link.key)
        osm_i = ctx.osm_by_key.get(link.osm_key)
        if reg_i is None or osm_i is None:
            orphaned.append(link)
            continue
        if osm_i in ctx.used_osm or (link.key, link.osm_key) in ctx.forbidden:
            continue
        # A person may link several OSM objects (platform and stop position) to one stop.
        ctx.commit(reg_i, osm_i, METHOD_MANUAL, {"stage": 0, "rule": "manual link"})
    return orphaned
