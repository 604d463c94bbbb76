"""The problem queue: filters, two sort orders and keyset (cursor) pagination.

Keyset pagination, not OFFSET: page 500 costs what page 1 costs, and a decision recorded while
someone pages does not shift the rows under them. The cursor is opaque to clients (base64 JSON of
the sort and the last row's sort key).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, INTEGER, TEXT
from sqlalchemy.types import TypeEngine

from app.services.decisions import DECISION_COLUMNS, DECISION_JOIN, PROBLEM_COLUMNS, problem_as_dict
from app.services.registry import registry_for
from database import db

SORTS = ("priority", "distance")


class InvalidCursorError(ValueError):
    """The cursor was not made by us, or for another sort order."""


@dataclass(frozen=True)
class ProblemFilters:
    problem_types: Sequence[str] = ()
    priorities: Sequence[int] = ()
    decided: bool | None = None
    # True: only problems whose decision a re-import sent back to review; False: none of those.
    needs_review: bool | None = None
    operators: Sequence[str] = ()
    bbox: Sequence[float] | None = None
    stop_id: str | None = None
    # The registry of `stop_id` (None: `registry.registry_for` decides).
    source: str | None = None
    osm_key: str | None = None


def encode_cursor(sort: str, key: Sequence[Any]) -> str:
    """An opaque cursor for the row after `key` in `sort` order."""
    raw = json.dumps({"s": sort, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The sort key inside a cursor; raises InvalidCursorError for anything we did not make."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidCursorError("cursor is not one this API returned") from None
    if not isinstance(data, dict) or data.get("s") != sort or not isinstance(data.get("k"), list):
        raise InvalidCursorError("cursor belongs to another sort order; start again without it")
    key = data["k"]
    expected = 2
    if len(key) != expected or not isinstance(key[1], int) or isinstance(key[1], bool):
        raise InvalidCursorError("cursor is not one this API returned")
    if not isinstance(key[0], int | float) or isinstance(key[0], bool):
        raise InvalidCursorError("cursor is not one this API returned")
    return key


def _where(filters: ProblemFilters, params: dict[str, Any]) -> list[str]:
    where: list[str] = []
    if filters.problem_types:
        params["problem_types"] = list(filters.problem_types)
        where.append("p.problem_type = ANY(:problem_types)")
    if filters.priorities:
        params["priorities"] = list(filters.priorities)
        where.append("p.priority = ANY(:priorities)")
    if filters.decided is True:
        where.append("d.id IS NOT NULL AND d.status <> 'needs_review'")
    elif filters.decided is False:
        # A decision the pipeline flagged for review is back in the queue.
        where.append("(d.id IS NULL OR d.status = 'needs_review')")
    if filters.needs_review is True:
        where.append("d.status = 'needs_review'")
    elif filters.needs_review is False:
        where.append("(d.id IS NULL OR d.status <> 'needs_review')")
    if filters.operators:
        params["operators"] = list(filters.operators)
        where.append("p.operator_code = ANY(:operators)")
    if filters.bbox is not None:
        params.update(w=filters.bbox[0], s=filters.bbox[1], e=filters.bbox[2], n=filters.bbox[3])
        where.append("p.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)")
    if filters.stop_id:
        # Registry stops are (source, stop_id): another registry's stop may reuse the id.
        params["stop_id"] = filters.stop_id
        params["stop_source"] = registry_for(filters.stop_id, filters.source)
        where.append("p.stop_id = :stop_id AND p.source = :stop_source")
    if filters.osm_key:
        params["osm_key"] = filters.osm_key
        where.append("p.osm_key = :osm_key")
    return where


# Sort key per order: (SQL expression, direction). Distance sorts farthest first; problems without a
# distance come last (coalesce to -1).
_ORDER = {
    "priority": ("p.priority", "ASC"),
    "distance": ("coalesce(p.distance_m, -1)", "DESC"),
}


def _statement(filters: ProblemFilters, sort: str, after: Sequence[Any] | None, limit: int | None):
    params: dict[str, Any] = {}
    where = _where(filters, params)
    expression, direction = _ORDER[sort]
    if after is not None:
        params["after_key"], params["after_id"] = after[0], after[1]
        comparison = ">" if direction == "ASC" else "<"
        where.append(
            f"({expression} {comparison} :after_key OR ({expression} = :after_key AND p.id > :after_id))"
        )
    sql = (
        f"SELECT {PROBLEM_COLUMNS}, {DECISION_COLUMNS}, {expression} AS sort_key"
        f" FROM problems p {DECISION_JOIN}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY {expression} {direction}, p.id ASC"
    )
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    types: dict[str, TypeEngine[Any]] = {
        "problem_types": ARRAY(TEXT),
        "operators": ARRAY(TEXT),
        "priorities": ARRAY(INTEGER),
    }
    statement = text(sql).bindparams(*(bindparam(n, type_=types[n]) for n in params if n in types))
    return statement, params


def list_problems(
    filters: ProblemFilters, *, sort: str = "priority", cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of problems and the cursor of the next page (None on the last page)."""
    after = decode_cursor(cursor, sort) if cursor else None
    statement, params = _statement(filters, sort, after, limit + 1)
    rows = list(db.session.execute(statement, params))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(sort, [last.sort_key, last.id])
        rows = rows[:limit]
    return [problem_as_dict(row) for row in rows], next_cursor


def iter_problems(
    filters: ProblemFilters, *, sort: str = "priority", yield_per: int = 1000
) -> Iterator[dict]:
    """Every matching problem, streamed from a server-side cursor (for exports)."""
    statement, params = _statement(filters, sort, None, None)
    for row in db.session.execute(statement.execution_options(yield_per=yield_per), params):
        yield problem_as_dict(row)
