"""Manual matches: a person links a registry stop to an OSM object, or forbids an automatic pair.

Stored in `manual_matches`, outside the snapshot tables, keyed by (stop_id, osm_key). Every pipeline
run loads the active and orphaned ones (`link_states`), checks them against the new snapshot
(`pipeline.review.resolve_manual_links`: follow replaced objects, orphan the rest), hands the
valid ones to the matcher as stage 0, and after the import stores the outcome
(`persist_outcomes`). A link whose objects vanished becomes `orphaned` plus a
`manual_match_orphaned` problem; it comes back to `active` if its objects do.

Deleting is soft (status `deleted`, with who and when in the evidence history): what a person
wrote stays readable. Functions flush and never commit.

What a reader sees of a link is its *state* (`link_states_now`): `pending` until a successful
run has read it, then `active` (applied: a `manual` match, or no match for a forbidden pair),
`not_applied` (read, but its OSM object went to another manual link), `orphaned` (its objects
vanished) or `deleted`. "Read by a run" means: the person's last change (the `at` of the last
`created`/`updated` history entry) is older than the start of the last successful run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, tuple_

from app.services.registry import find_registry_stop, registry_for
from database import db
from database.models import ManualMatch, Match, OsmStop, PipelineRun, RegistryStopRow, User
from pipeline.geo import haversine_m
from pipeline.review import ManualLinkOutcome, ManualLinkState, atlas_evidence, osm_evidence

logger = logging.getLogger(__name__)

ACTIONS = ("link", "unlink")
STATUSES = ("active", "orphaned", "deleted")
# What a reader is shown (see the module docstring); `STATUSES` is what is stored.
STATES = ("pending", "active", "not_applied", "orphaned", "deleted")
# History entries a person writes; the pipeline's own entries (orphaned, migrated, ...) carry a run id.
PERSON_EVENTS = frozenset({"created", "updated"})
MAX_NOTE_LENGTH = 5000


class ManualMatchError(ValueError):
    """The request cannot be stored as asked."""


class ManualMatchNotFoundError(LookupError):
    """No such stop, object or manual match."""


def _now() -> str:
    # Microseconds: a link saved in the same second a run started must still read as pending.
    return dt.datetime.now(dt.UTC).isoformat()


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def changed_by_person_at(row: ManualMatch) -> dt.datetime | None:
    """When a person last created or changed the link (not the pipeline's own updates)."""
    for entry in reversed((row.evidence or {}).get("history", [])):
        if isinstance(entry, Mapping) and entry.get("event") in PERSON_EVENTS:
            found = _parse_time(entry.get("at"))
            if found is not None:
                return found
    return row.created_at


def last_applied_run_started_at() -> dt.datetime | None:
    """Start of the last successful run: it read every link changed before that moment."""
    return db.session.scalar(
        select(PipelineRun.started_at)
        .where(PipelineRun.status == "succeeded")
        .order_by(PipelineRun.started_at.desc())
        .limit(1)
    )


def link_states_now(rows: Iterable[ManualMatch]) -> dict[int, str]:
    """The state of each link (`STATES`), in two queries whatever the number of links."""
    rows = list(rows)
    if not rows:
        return {}
    run_started = last_applied_run_started_at()
    # (source, stop_id, osm_key): another registry's match of a stop with the same id is not this link's.
    pairs = {(r.source, r.stop_id, r.osm_key) for r in rows}
    matched = {
        (source, stop_id, key): method
        for source, stop_id, key, method in db.session.execute(
            select(Match.source, Match.stop_id, Match.osm_key, Match.method).where(
                tuple_(Match.source, Match.stop_id, Match.osm_key).in_(sorted(pairs))
            )
        )
    }
    states: dict[int, str] = {}
    for row in rows:
        changed = changed_by_person_at(row)
        if row.status in ("deleted", "orphaned"):
            states[row.id] = row.status
        elif run_started is None or (changed is not None and changed >= run_started):
            states[row.id] = "pending"
        elif row.action == "link":
            states[row.id] = (
                "active" if matched.get((row.source, row.stop_id, row.osm_key)) == "manual" else "not_applied"
            )
        else:
            states[row.id] = "not_applied" if (row.source, row.stop_id, row.osm_key) in matched else "active"
    return states


def manual_match_as_dict(
    row: ManualMatch, author: str | None = None, state: str | None = None
) -> dict[str, Any]:
    """The public shape of a manual match; `state` from `link_states_now` (None: not computed)."""
    evidence = row.evidence or {}
    return {
        "id": row.id,
        "source": row.source,
        "stop_id": row.stop_id,
        "osm_key": row.osm_key,
        "action": row.action,
        "status": row.status,
        "state": state,
        "note": row.note,
        "author": author,
        "distance_m": evidence.get("distance_m"),
        "orphaned": evidence.get("orphaned"),
        "history": evidence.get("history", []),
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _author_names(rows: Iterable[ManualMatch]) -> dict[int, str]:
    ids = {r.author_id for r in rows if r.author_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def as_dicts(rows: list[ManualMatch]) -> list[dict[str, Any]]:
    """Public shapes of many links, with author names and states (a fixed number of queries)."""
    names = _author_names(rows)
    states = link_states_now(rows)
    return [
        manual_match_as_dict(r, names.get(r.author_id) if r.author_id else None, states.get(r.id))
        for r in rows
    ]


def current_evidence(stop: RegistryStopRow, obj: OsmStop) -> dict[str, Any]:
    return {
        "atlas": atlas_evidence(stop),
        "osm": osm_evidence(obj),
        "distance_m": round(haversine_m(stop.lat, stop.lon, obj.lat, obj.lon), 2),
    }


def save_manual_match(
    stop_id: str,
    osm_key: str,
    action: str,
    note: str,
    author: User | None,
    origin: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> tuple[ManualMatch, bool]:
    """Create the link (or unlink), or update the existing one for this pair. Returns (row, created).

    Both objects must exist in the current snapshot: the link's evidence (positions, identifiers)
    is what lets later runs follow them when they are replaced. `origin` (e.g. the decision that
    asked for it) is written into the history entry.
    """
    if action not in ACTIONS:
        raise ManualMatchError(f"action must be one of {', '.join(ACTIONS)}")
    if len(note) > MAX_NOTE_LENGTH:
        raise ManualMatchError(f"note must have at most {MAX_NOTE_LENGTH} characters")
    session = db.session
    stop = find_registry_stop(stop_id, source)
    obj = session.get(OsmStop, osm_key)
    missing = [name for name, found in (("stop_id", stop), ("osm_key", obj)) if found is None]
    if missing or stop is None or obj is None:
        raise ManualMatchNotFoundError(", ".join(missing))
    evidence = current_evidence(stop, obj)
    author_id = author.id if author is not None else None
    row = session.scalar(
        select(ManualMatch)
        .where(
            ManualMatch.source == stop.source, ManualMatch.stop_id == stop_id, ManualMatch.osm_key == osm_key
        )
        .with_for_update()
    )
    entry = {
        "at": _now(),
        "by": author.username if author else None,
        "action": action,
        "note": note,
        **(origin or {}),
    }
    if row is None:
        row = ManualMatch(
            source=stop.source,
            stop_id=stop_id,
            osm_key=osm_key,
            action=action,
            status="active",
            note=note,
            author_id=author_id,
            evidence={**evidence, "history": [{**entry, "event": "created"}]},
        )
        session.add(row)
        session.flush()
        logger.info("manual %s %s ↔ %s created", action, stop_id, osm_key)
        return row, True
    history = [*(row.evidence or {}).get("history", []), {**entry, "event": "updated"}]
    row.action = action
    row.note = note
    row.status = "active"
    row.author_id = author_id
    row.evidence = {**evidence, "history": history}
    session.flush()
    return row, False


def get_manual_match(match_id: int) -> ManualMatch:
    row = db.session.get(ManualMatch, match_id)
    if row is None:
        raise ManualMatchNotFoundError(str(match_id))
    return row


def delete_manual_match(match_id: int, author: User | None) -> ManualMatch:
    """Soft delete: the matcher stops applying it from the next run; the row and its history remain."""
    row = get_manual_match(match_id)
    if row.status == "deleted":
        return row
    evidence = dict(row.evidence or {})
    evidence["history"] = [
        *evidence.get("history", []),
        {"at": _now(), "by": author.username if author else None, "event": "deleted", "status": row.status},
    ]
    row.evidence = evidence
    row.status = "deleted"
    db.session.flush()
    logger.info("manual %s %s ↔ %s deleted", row.action, row.stop_id, row.osm_key)
    return row


def manual_matches_for(*, stops: Iterable[tuple[str, str]], osm_keys: Iterable[str]) -> list[dict[str, Any]]:
    """Every manual link or unlink about these registry stops ((source, stop_id)) or OSM objects
    (deleted ones too: they are history), newest first."""
    pairs, osm_keys = list(stops), list(osm_keys)
    if not pairs and not osm_keys:
        return []
    rows = list(
        db.session.scalars(
            select(ManualMatch)
            .where(
                tuple_(ManualMatch.source, ManualMatch.stop_id).in_(pairs) | ManualMatch.osm_key.in_(osm_keys)
            )
            .order_by(ManualMatch.id.desc())
        )
    )
    return as_dicts(rows)


def list_manual_matches(
    *,
    stop_id: str | None = None,
    source: str | None = None,
    osm_key: str | None = None,
    statuses: Iterable[str] = ("active", "orphaned"),
    limit: int = 100,
    before_id: int | None = None,
) -> tuple[list[ManualMatch], int | None]:
    """Newest first; returns (page, id to continue before). `stop_id` names a stop of registry
    `source` (None: `registry.registry_for` decides)."""
    query = select(ManualMatch).order_by(ManualMatch.id.desc()).limit(limit + 1)
    wanted = list(statuses)
    if wanted:
        query = query.where(ManualMatch.status.in_(wanted))
    if stop_id:
        # Registry stops are (source, stop_id): another registry's stop may reuse the id.
        query = query.where(
            ManualMatch.source == registry_for(stop_id, source), ManualMatch.stop_id == stop_id
        )
    if osm_key:
        query = query.where(ManualMatch.osm_key == osm_key)
    if before_id is not None:
        query = query.where(ManualMatch.id < before_id)
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


# ---------------------------------------------------------------------------------------------
# The pipeline side
# ---------------------------------------------------------------------------------------------


def link_states() -> list[ManualLinkState]:
    """Every manual match a run must consider (active and orphaned; deleted ones are history)."""
    rows = db.session.scalars(
        select(ManualMatch).where(ManualMatch.status.in_(("active", "orphaned"))).order_by(ManualMatch.id)
    )
    return [
        ManualLinkState(
            id=r.id,
            stop_id=r.stop_id,
            osm_key=r.osm_key,
            action=r.action,
            status=r.status,
            evidence=r.evidence or {},
            note=r.note,
            source=r.source,
        )
        for r in rows
    ]


def persist_outcomes(outcomes: Iterable[ManualLinkOutcome], states: Iterable[ManualLinkState] = ()) -> int:
    """Store what a run found out about the manual links (status, successor). Returns rows written.

    A link a person changed or deleted while the run was working is left alone (next run's turn).
    """
    read = {state.id: state for state in states}
    pending = [o for o in outcomes if o.updates]
    if not pending:
        return 0
    rows = {
        r.id: r
        for r in db.session.scalars(
            select(ManualMatch).where(ManualMatch.id.in_([o.id for o in pending])).with_for_update()
        )
    }
    for link_id, locked in list(rows.items()):
        state = read.get(link_id)
        if state is not None and (
            (locked.stop_id, locked.osm_key, locked.action, locked.status, locked.evidence or {})
            != (state.stop_id, state.osm_key, state.action, state.status, state.evidence)
        ):
            rows.pop(link_id)
    # A moving link frees its old (stop_id, osm_key) first, so a swap between two links cannot collide.
    moving = [o for o in pending if "stop_id" in o.updates or "osm_key" in o.updates]
    for outcome in moving:
        row = rows.get(outcome.id)
        if row is not None:
            row.osm_key = f"~moving:{outcome.id}"
    if moving:
        db.session.flush()
    written = 0
    for outcome in pending:
        row = rows.get(outcome.id)
        if row is None or row.status == "deleted":
            continue
        for name, value in outcome.updates.items():
            setattr(row, name, value)
        if outcome in moving and "osm_key" not in outcome.updates:
            row.osm_key = outcome.osm_key
        written += 1
    db.session.flush()
    return written
