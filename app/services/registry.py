"""Registry stops by their key (source, stop_id), for services that are handed a stop id."""

from __future__ import annotations

from sqlalchemy import select

from database import db
from database.models import RegistryStopRow
from pipeline.records import LEGACY_IDENTITY_SOURCE


def find_registry_stop(stop_id: str, source: str | None = None) -> RegistryStopRow | None:
    """The registry stop `stop_id` of registry `source`, or None.

    Without `source` (an older client, a decision made before registries were plug-ins) the id is
    looked up in every registry: registries' ids do not overlap in practice (an ATLAS sloid starts
    with a country prefix, a NaPTAN AtcoCode is digits), and when two registries do share an id the
    answer is None rather than a guess.
    """
    if source is not None:
        return db.session.get(RegistryStopRow, (source, stop_id))
    rows = db.session.scalars(
        select(RegistryStopRow).where(RegistryStopRow.stop_id == stop_id).limit(2)
    ).all()
    return rows[0] if len(rows) == 1 else None


def registry_for(stop_id: str, source: str | None = None) -> str:
    """The registry a filter on `stop_id` means: `source` when given, else the one registry holding the
    id, else ATLAS (an old `sloid=` client; an id several registries hold; a stop gone from the data).
    A filter keyed by the id alone would also answer with another registry's stop that reuses it."""
    if source:
        return source
    found = db.session.scalars(
        select(RegistryStopRow.source).where(RegistryStopRow.stop_id == stop_id).limit(2)
    ).all()
    return found[0] if len(found) == 1 else LEGACY_IDENTITY_SOURCE
