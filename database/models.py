"""The schema, in two families of tables.

Snapshot tables (`registry_stops`, `osm_stops`, `matches`, `problems`, the OSM structure:
`osm_stop_areas`, `osm_routes`, `osm_route_masters` with their member tables, and the timetable's
`gtfs_routes` and `gtfs_route_stops`) hold the result of the latest pipeline run. An import
replaces their whole content in one transaction.

Persistent tables (`users`, `user_sessions`, `decisions`, `decision_events`, `manual_matches`,
`pipeline_runs`, `source_states`, `problem_changes`) hold what people wrote and what runs recorded.
No import ever deletes a row from them. They refer to snapshot rows only through stable identities
(stop_id, OSM key such as ``node/123``, problem identity), never through foreign keys, so a snapshot
can be replaced without touching them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from database.base import SRID_WGS84, Model


def _point() -> Geometry:
    return Geometry("POINT", srid=SRID_WGS84, spatial_index=True)


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# --------------------------------------------------------------------------------------------
# Snapshot tables: replaced as a whole by every successful import.
# --------------------------------------------------------------------------------------------


class RegistryStopRow(Model):
    """One registry stop (an ATLAS traffic point or service point, a NaPTAN stop point, ...), keyed by
    the registry plug-in's name and the registry's own id (`pipeline.records.RegistryStop`)."""

    __tablename__ = "registry_stops"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    stop_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(40), nullable=False)
    code: Mapped[str | None] = mapped_column(String(40), index=True)
    platform_code: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    # Lower case, accents removed: what search compares, computed by PostgreSQL when the row is written.
    name_fold: Mapped[str | None] = mapped_column(Text, Computed("stopsync_fold(name)", persisted=True))
    operator_code: Mapped[str | None] = mapped_column(String(60), index=True)
    operator_name: Mapped[str | None] = mapped_column(String(200))
    modes: Mapped[str | None] = mapped_column(String(200))
    country_code: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(40))
    parent_id: Mapped[str | None] = mapped_column(String(100))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[Any] = mapped_column(_point(), nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Registry-specific extras (NaPTAN stop type and status, OSGB easting/northing, ...).
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class OsmStop(Model):
    """One OpenStreetMap stop object (node, or way reduced to its centre)."""

    __tablename__ = "osm_stops"

    osm_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # "node/123" or "way/45"
    osm_type: Mapped[str] = mapped_column(String(8), nullable=False)
    osm_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    name_fold: Mapped[str | None] = mapped_column(Text, Computed("stopsync_fold(name)", persisted=True))
    uic_ref: Mapped[str | None] = mapped_column(String(40), index=True)
    uic_name: Mapped[str | None] = mapped_column(String(200))
    ifopt: Mapped[str | None] = mapped_column(String(100), index=True)
    local_ref: Mapped[str | None] = mapped_column(String(40))
    operator: Mapped[str | None] = mapped_column(String(200))
    network: Mapped[str | None] = mapped_column(String(200))
    public_transport: Mapped[str | None] = mapped_column(String(40))
    railway: Mapped[str | None] = mapped_column(String(40))
    highway: Mapped[str | None] = mapped_column(String(40))
    amenity: Mapped[str | None] = mapped_column(String(40))
    aerialway: Mapped[str | None] = mapped_column(String(40))
    tags: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[Any] = mapped_column(_point(), nullable=False)
    row_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # True when the node is a vertex of a way (fix exports never move it); NULL when the source did
    # not say, and for ways.
    way_member: Mapped[bool | None] = mapped_column(Boolean)


class Match(Model):
    """A pair found by the matcher: one registry stop and one OSM object."""

    __tablename__ = "matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    stop_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    osm_key: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    method: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    distance_m: Mapped[float] = mapped_column(Float, nullable=False)
    name_score: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


class Problem(Model):
    """A detected disagreement. `identity` is stable across runs for the same underlying issue."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    problem_type: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    source: Mapped[str | None] = mapped_column(String(40))
    stop_id: Mapped[str | None] = mapped_column(String(100), index=True)
    osm_key: Mapped[str | None] = mapped_column(String(40), index=True)
    operator_code: Mapped[str | None] = mapped_column(String(60), index=True)
    distance_m: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[Any] = mapped_column(_point(), nullable=False)


class OsmStopAreaRow(Model):
    """A `public_transport=stop_area` relation: the OSM objects that form one stop."""

    __tablename__ = "osm_stop_areas"

    osm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    uic_ref: Mapped[str | None] = mapped_column(String(40), index=True)
    uic_name: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)


class OsmStopAreaMember(Model):
    """One member of a stop area, in the relation's order (`osm_key` may name an object that is not a
    stop object, such as a station building, or one outside the snapshot)."""

    __tablename__ = "osm_stop_area_members"

    stop_area_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(255), nullable=False)
    osm_key: Mapped[str] = mapped_column(String(40), nullable=False, index=True)


class OsmRouteRow(Model):
    """A public-transport route relation (one variant or direction of a line)."""

    __tablename__ = "osm_routes"

    osm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int | None] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(40), nullable=False)  # the mode: bus, tram, train, ...
    ref: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    from_name: Mapped[str | None] = mapped_column(String(255))  # tag `from`
    to_name: Mapped[str | None] = mapped_column(String(255))  # tag `to`
    via: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[str | None] = mapped_column(String(255))
    network: Mapped[str | None] = mapped_column(String(255))
    gtfs_route_id: Mapped[str | None] = mapped_column(String(255), index=True)
    ref_trips: Mapped[str | None] = mapped_column(String(255))
    pt_version: Mapped[str | None] = mapped_column(String(40))
    master_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)


class OsmRouteMember(Model):
    """A stop or platform of a route, in travel order (the route's ways are not stored)."""

    __tablename__ = "osm_route_members"

    route_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(255), nullable=False)
    osm_key: Mapped[str] = mapped_column(String(40), nullable=False, index=True)


class OsmRouteMasterRow(Model):
    """A `type=route_master` relation: a line, grouping its routes (`osm_routes.master_id`)."""

    __tablename__ = "osm_route_masters"

    osm_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int | None] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(40))
    ref: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[str | None] = mapped_column(String(255))
    network: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)


# Search (app/services/search.py): over the stored folded names (`stopsync_fold`: lower + unaccent,
# declared IMMUTABLE by a migration so a generated column can use it) a GIN trigram index (fuzzy) and
# a btree prefix index (prefix, in name order); a prefix index on sloids; the problem queue's order.
for _model in (RegistryStopRow, OsmStop):
    Index(
        f"ix_{_model.__tablename__}_name_fold_trgm",
        _model.__table__.c.name_fold,
        postgresql_using="gin",
        postgresql_ops={"name_fold": "gin_trgm_ops"},
    )
    Index(
        f"ix_{_model.__tablename__}_name_fold_prefix",
        _model.__table__.c.name_fold,
        postgresql_ops={"name_fold": "text_pattern_ops"},
    )
Index(
    "ix_registry_stops_stop_id_pattern",
    RegistryStopRow.stop_id,
    postgresql_ops={"stop_id": "varchar_pattern_ops"},
)
Index("ix_problems_priority_id", Problem.priority, Problem.id)


class MapFeature(Model):
    """One stop of either side as the map shows it, precomputed by the importer in the swap transaction.

    `feature` is the exact GeoJSON text /api/v1/stops returns; the other columns are the map's filters,
    so a bounding-box request is one GiST index scan with no per-stop joins.
    """

    __tablename__ = "map_features"

    kind: Mapped[str] = mapped_column(String(5), primary_key=True)
    # A registry stop's registry plug-in ('' on the OSM side): two registries may use one id (`key`).
    source: Mapped[str] = mapped_column(String(40), primary_key=True, server_default="")
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    geom: Mapped[Any] = mapped_column(_point(), nullable=False)
    priority: Mapped[int | None] = mapped_column(Integer)
    matched: Mapped[bool] = mapped_column(Boolean, nullable=False)
    methods: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    problem_types: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # "type:priority" of each problem, so a filter on both asks for one problem having both.
    problem_pairs: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # The stop's own operator / transports plus its registry partners' (the OSM side's filter semantics).
    operators: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    transports: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    feature: Mapped[str] = mapped_column(Text, nullable=False)
    # The position in Web Mercator (EPSG:3857), computed once per import: tiles select and clip by it
    # instead of re-projecting every stop of a tile per request.
    geom_3857: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=3857, spatial_index=True),
        Computed("ST_Transform(geom, 3857)", persisted=True),
        nullable=False,
    )


class MapTile(Model):
    """A pre-rendered vector tile of the published snapshot: the unfiltered tiles (counted cells,
    and stops from zoom 14) of zooms 0..TILE_PRERENDER_MAX_ZOOM, built by the import in staging
    (database/snapshot/map_tiles.py) and byte for byte what the tile endpoint would render; only tiles
    with stops are stored."""

    __tablename__ = "map_tiles"

    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    x: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    y: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    mvt: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The snapshot (run) it was rendered from: served only while that one is published.
    run_id: Mapped[int] = mapped_column(Integer, nullable=False)


class GtfsRouteRow(Model):
    """A timetable route (GTFS), the registry side of the route stage and of the route pages."""

    __tablename__ = "gtfs_routes"

    route_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The id without its timetable year, as OSM's gtfs:route_id compares (pipeline.matching.route).
    route_key: Mapped[str | None] = mapped_column(String(255), index=True)
    agency_id: Mapped[str | None] = mapped_column(String(255))
    agency_name: Mapped[str | None] = mapped_column(String(255))
    short_name: Mapped[str | None] = mapped_column(String(255))
    long_name: Mapped[str | None] = mapped_column(String(255))
    route_type: Mapped[str | None] = mapped_column(String(40))


class GtfsRouteStop(Model):
    """A stop of a route's most frequent itinerary in one direction, in travel order, with the
    registry stop its GTFS stop_id resolved to (None: unresolved)."""

    __tablename__ = "gtfs_route_stops"

    route_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    direction_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "" when the feed has none
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stop_id: Mapped[str] = mapped_column(String(255), nullable=False)
    stop_name: Mapped[str | None] = mapped_column(String(255))
    registry_stop_id: Mapped[str | None] = mapped_column(String(100), index=True)
    trips: Mapped[int] = mapped_column(Integer, nullable=False)


SNAPSHOT_TABLES = (
    "registry_stops",
    "osm_stops",
    "matches",
    "problems",
    "osm_stop_areas",
    "osm_stop_area_members",
    "osm_routes",
    "osm_route_members",
    "osm_route_masters",
    "gtfs_routes",
    "gtfs_route_stops",
)


# --------------------------------------------------------------------------------------------
# Persistent tables: never emptied by an import.
# --------------------------------------------------------------------------------------------


class User(Model):
    """A person who can sign in. Anonymous visitors have no row and may only read."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Local accounts: at most 80 characters (app/services/users.py). OpenStreetMap accounts:
    # "osm:" + the OSM display name, which may have 255.
    username: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    # Argon2id; an OpenStreetMap account holds a marker that no password ever verifies against.
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="editor")  # viewer | editor | admin
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = _created_at()
    # Set for accounts that sign in with OpenStreetMap: the OSM user id (stable) and the display
    # name it had at the last sign-in (display names can change; the id never does).
    osm_uid: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    osm_display_name: Mapped[str | None] = mapped_column(String(255))

    @property
    def auth_provider(self) -> str:
        """How this account signs in: "osm" (OpenStreetMap) or "local" (username and password)."""
        return "osm" if self.osm_uid is not None else "local"


class UserSession(Model):
    """One browser sign-in. The signed session cookie names it; sign-out deletes the row, so a copy
    of the cookie kept from before is refused (a signed cookie alone cannot be forgotten)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # SHA-256 (hex) of the random key in the cookie: a database reader learns no usable session.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = _created_at()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Decision(Model):
    """The current human decision on one problem identity; its history is in `decision_events`."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_identity: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    problem_type: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str | None] = mapped_column(String(40))
    stop_id: Mapped[str | None] = mapped_column(String(100), index=True)
    osm_key: Mapped[str | None] = mapped_column(String(40), index=True)
    decision: Mapped[str] = mapped_column(String(40), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # active | needs_review | verified_fixed
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active", index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    review_diff: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list)
    verified_run_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class DecisionEvent(Model):
    """Append-only history of a decision: who did what, and what the pipeline noticed."""

    __tablename__ = "decision_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(30), nullable=False)  # created | updated | flagged | ...
    decision: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = _created_at()


class ManualMatch(Model):
    """A link (or a forbidden link) between a registry stop and an OSM object, made by a person."""

    __tablename__ = "manual_matches"
    __table_args__ = (
        UniqueConstraint("source", "stop_id", "osm_key", name="uq_manual_matches_source_stop_id_osm_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    stop_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    osm_key: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(10), nullable=False)  # link | unlink
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")  # active | orphaned
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class PipelineRun(Model):
    """One pipeline run, recorded when it starts and updated when it ends."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_uuid: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)  # scheduled | manual | cli
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    started_at: Mapped[dt.datetime] = _created_at()
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stage_seconds: Mapped[dict[str, float]] = mapped_column(JSONB, nullable=False, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    source_versions: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(80))


class SourceState(Model):
    """What we last fetched from a source: validators for conditional requests and the content hash."""

    __tablename__ = "source_states"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ProblemChange(Model):
    """A problem that appeared or was resolved by a given run: the raw material for trends."""

    __tablename__ = "problem_changes"
    __table_args__ = (Index("ix_problem_changes_run_id_change", "run_id", "change"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False)
    problem_identity: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    problem_type: Mapped[str] = mapped_column(String(40), nullable=False)
    change: Mapped[str] = mapped_column(String(10), nullable=False)  # appeared | resolved
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    operator_code: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = _created_at()


class SnapshotPublication(Model):
    """A published snapshot: the run whose data readers see from `published_at` on.

    Written in the swap transaction (database/snapshot), so the newest row changes in the same commit
    as the data; `database.snapshot.current_snapshot_id` reads it. Not a foreign key to
    `pipeline_runs`: pruning old runs must not unpublish anything.
    """

    __tablename__ = "snapshot_publications"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    run_uuid: Mapped[str | None] = mapped_column(String(36))
    published_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    row_counts: Mapped[dict[str, int]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )


class SearchName(Model):
    """Each distinct folded stop name of the published snapshot, and which sides use it: the fuzzy
    name lookup (app/services/search.py) runs its trigram search here, then reads the stops of the
    names it found through the sides' btree indexes. Names repeat (a stop's platforms, both sides
    naming one stop alike): 115k stops have 58k names on national data, so the GIN lookup rechecks
    about half as many candidates. Built by the import in staging (database/snapshot/derived.py)."""

    __tablename__ = "search_names"

    name_fold: Mapped[str] = mapped_column(Text, primary_key=True)
    # Whether a registry stop / an OSM object has this name: each side looks up only its own names.
    in_registry: Mapped[bool] = mapped_column(Boolean, nullable=False)
    in_osm: Mapped[bool] = mapped_column(Boolean, nullable=False)


Index(
    "ix_search_names_name_fold_trgm",
    SearchName.__table__.c.name_fold,
    postgresql_using="gin",
    postgresql_ops={"name_fold": "gin_trgm_ops"},
)
