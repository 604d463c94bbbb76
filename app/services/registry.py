"""Registry stops by their key (source, stop_id), for services that are handed a stop id."""

from __future__ import annotations

from sqlalchemy import select

from database import db
from database.models import RegistryStopRow


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
