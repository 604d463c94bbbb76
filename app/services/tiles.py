"""The map as Mapbox vector tiles (MVT), keyed by the published snapshot.

A snapshot is immutable between imports, so every tile of it is too: a tile URL names the snapshot
(`/api/v1/tiles/<snapshot>/<z>/<x>/<y>.mvt`, the id from database/snapshot/publication.py, which
changes in the swap's own commit), browsers and any HTTP cache keep it (`immutable`), and rendered
tiles are kept in Redis under a per-snapshot key prefix, dropped by a post-swap hook (and by the
first process that notices a newer snapshot, should the hook not have run: another process kind, a
Redis hiccup).

Two layers, built by PostGIS `ST_AsMVT` from the map read model (`map_features`, one row per stop of
either side with its filter columns, written by the importer):

- `stops` (zoom >= STOPS_MIN_ZOOM): one point per stop with the properties the popup shows.
- `cells` (below): the stops aggregated on a CELLS_PER_SIDE x CELLS_PER_SIDE grid per tile, with
  counts by side, status and problem priority. A stop belongs to exactly one tile and one cell (half-open
  bounds), so the cell counts of all tiles of a zoom add up to the stop count for the same filters:
  the whole country is visible at once and its totals are right, where the old bounding-box map cut
  every view at a few thousand stops.

Positions are read in Web Mercator as stored by the import (`map_features.geom_3857`), never
re-projected per request; the unfiltered tiles of zooms 0..TILE_PRERENDER_MAX_ZOOM (by default every
zoom: the `cells` and the `stops` layer) are pre-rendered by the import in staging (`map_tiles`,
database/snapshot/map_tiles.py, byte for byte the on-demand rendering). The import's post-swap hook
copies them into Redis (`warm_tiles`, TILE_CACHE_WARM, lowest zooms first up to the cap), so a first
request after an import is a Redis hit like a later one; a tile that did not fit is read from
`map_tiles` by one prepared primary-key lookup (`_stored_tile_row`), and a tile without stops of a
pre-rendered zoom is empty without a render. Filtered tiles, and tiles of zooms not pre-rendered, are
rendered on demand. Every answer is kept in Redis under the cap.

Redis keys (contract in app/coordination.py): `stopsync:tiles:<snapshot>:<z>/<x>/<y>:<filter hash>`
(the tile bytes), `stopsync:tiles:<snapshot>:bytes` (what that snapshot's tiles use) and
`stopsync:tiles:current` (the snapshot whose tiles are kept). A tile is stored only while its
snapshot stays under TILE_CACHE_MAX_BYTES (one Lua script, so concurrent workers cannot overshoot;
the warming counts its bytes the same way).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, cast
from urllib.parse import quote

import numpy as np
import psycopg
import redis
from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app import coordination
from app.extensions import redis_client
from app.services import stops as stop_service
from app.services.stops import StopFilters
from database import db
from database.snapshot import map_tiles, publication

logger = logging.getLogger(__name__)

# Stops one by one from this zoom on; grid cells with counts below it. At zoom 14 a 256 px tile covers
# about 1.6 km in Switzerland: a busy city tile holds a few hundred stops, which the map clusters.
# (Defined with the tile SQL, which the import's pre-render shares.)
STOPS_MIN_ZOOM = map_tiles.STOPS_MIN_ZOOM
# Deeper zooms are drawn from the zoom-16 tiles (Leaflet's maxNativeZoom): at 4096 units per tile a
# zoom-16 position is within 15 cm, and deeper tiles would only multiply the URLs to cache.
MAX_ZOOM = map_tiles.MAX_ZOOM
# The tile SQL and its grid live with the import, which pre-renders every zoom from the same texts.
EXTENT = map_tiles.EXTENT
CELLS_PER_SIDE = map_tiles.CELLS_PER_SIDE
# Query parameters of a tile URL, in their canonical order (alphabetical), and which the map sends.
FILTER_PARAMS: tuple[str, ...] = (
    "method",
    "operator",
    "priority",
    "problem_type",
    "side",
    "status",
    "transport",
)
# What a snapshot id may look like in a URL: the run id and the first characters of its uuid.
SNAPSHOT_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
# Nothing published yet: tiles are answered all the same (empty, or whatever map_features holds).
NO_SNAPSHOT = "0"
# How long a process trusts the snapshot id it read (per process; a tile of another snapshot is
# always checked against the database before it is refused).
SNAPSHOT_CHECK_S = 1.0

TILE_KEY_PREFIX = coordination.TILES_KEY_PREFIX
CURRENT_SNAPSHOT_KEY = f"{TILE_KEY_PREFIX}:current"

# Store a tile only while its snapshot's tiles stay under the cap; count the bytes in the same step.
# KEYS[1] tile key, KEYS[2] the snapshot's byte counter; ARGV: bytes, cap, ttl.
_STORE_SCRIPT = """
local size = string.len(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + size > tonumber(ARGV[2]) then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]), 'NX') then
  redis.call('INCRBY', KEYS[2], size)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
  return 1
end
return 0
"""


# --- the published snapshot -------------------------------------------------------------------

_snapshot_memo: dict[str, tuple[float, str]] = {}


def published_snapshot(*, fresh: bool = False) -> str:
    """Id of the published snapshot (NO_SNAPSHOT before the first import).

    Read at most once per SNAPSHOT_CHECK_S per process unless `fresh`; a change drops the tiles of
    every older snapshot from Redis (the first process to notice does it).
    """
    memo_key = str(db.engine.url)
    now = time.monotonic()
    cached = _snapshot_memo.get(memo_key)
    if not fresh and cached is not None and now - cached[0] < SNAPSHOT_CHECK_S:
        return cached[1]
    # `<run id>-<start of its uuid>` of the run whose swap published the snapshot: it changes in the
    # swap's own commit, and a database rebuilt from scratch (run ids from 1 again) never repeats one.
    snapshot = publication.current_snapshot_key(db.session) or NO_SNAPSHOT
    _snapshot_memo[memo_key] = (now, snapshot)
    if cached is None or cached[1] != snapshot:
        note_published(snapshot)
    return snapshot


def _text(value: bytes | str | None) -> str:
    """A Redis reply as text (the app's client answers bytes)."""
    return value.decode() if isinstance(value, bytes) else (value or "")


def note_published(snapshot: str) -> None:
    """Make `snapshot` the one whose tiles Redis keeps, dropping every other snapshot's tiles.

    Called after each swap (the snapshot's post-swap hook) and by any process that notices a new
    snapshot first; cheap when nothing changed (one GETSET). Redis down: tiles are just not cached.
    """
    try:
        client = redis_client.client
        # Synchronous clients: replies are values (redis-py types them `Awaitable[Any] | Any`).
        previous = _text(cast("bytes | str | None", client.getset(CURRENT_SNAPSHOT_KEY, snapshot)))
        if previous != snapshot:
            dropped = drop_tiles_except(snapshot)
            if dropped:
                logger.info("tiles: snapshot %s published, %d cached tiles dropped", snapshot, dropped)
    except redis.RedisError as exc:
        logger.warning("tiles: cannot reach Redis to drop old tiles: %s", type(exc).__name__)


def _drop_old_tiles_after_swap(published: publication.Publication) -> None:
    """Post-swap hook (runs in the importing process): the older snapshots' tiles leave Redis at
    once, not at the first tile request, and the new snapshot's pre-rendered tiles enter it
    (TILE_CACHE_WARM), so a first request after an import is a Redis hit like any other."""
    del published  # the key (with the uuid part) is read back as every reader reads it
    snapshot = publication.current_snapshot_key(db.session) or NO_SNAPSHOT
    note_published(snapshot)
    settings = current_app.config["SETTINGS"]
    if settings.TILE_CACHE_WARM and settings.TILE_CACHE_MAX_BYTES > 0 and snapshot != NO_SNAPSHOT:
        try:
            started = time.perf_counter()
            count, size = warm_tiles(snapshot, settings.TILE_CACHE_MAX_BYTES, settings.TILE_CACHE_TTL_S)
            logger.info(
                "tiles: %d pre-rendered tiles (%d bytes) of snapshot %s copied into Redis in %.2f s",
                count,
                size,
                snapshot,
                time.perf_counter() - started,
            )
        except redis.RedisError as exc:
            logger.warning("tiles: cannot reach Redis to warm the new tiles: %s", type(exc).__name__)


# Rows read from map_tiles and written to Redis per round trip while warming.
_WARM_BATCH = 1000


def warm_tiles(snapshot: str, max_bytes: int, ttl_s: int) -> tuple[int, int]:
    """Copy the published snapshot's pre-rendered tiles (`map_tiles`) into Redis under their
    unfiltered keys, zoom by zoom from 0 (the tiles every session asks for first), until the next
    one would pass `max_bytes` (what the store script's cap counts); (tiles, bytes) copied.

    Run once after the swap, by the importing process: a stream of PostgreSQL rows into pipelined
    SETs, about a second for the ~100k tiles of the whole of Switzerland, where the same tiles asked
    for one by one after an import each cost a Redis miss, a lookup and a store.
    """
    client = _binary_client()
    unfiltered = canonical(StopFilters())
    bytes_key = _bytes_key(snapshot)
    used = int(cast("bytes | None", client.get(bytes_key)) or 0)
    copied = 0
    statement = text(
        "SELECT z, x, y, mvt FROM map_tiles"
        f" WHERE run_id = ({publication.CURRENT_SNAPSHOT_SQL}) ORDER BY z, x, y"
    )
    # A connection of its own (streamed rows, a server-side cursor): the caller's session may hold
    # work of its own, which this must neither commit nor roll back.
    with db.engine.connect() as connection:
        rows = connection.execution_options(yield_per=_WARM_BATCH).execute(statement)
        for batch in rows.partitions():
            pipe = client.pipeline(transaction=False)
            added, full = 0, False
            for z, x, y, mvt in batch:
                data = bytes(mvt)
                if used + added + len(data) > max_bytes:
                    full = True
                    break
                pipe.set(tile_key(snapshot, z, x, y, unfiltered), data, ex=ttl_s)
                added += len(data)
                copied += 1
            pipe.incrby(bytes_key, added)
            pipe.expire(bytes_key, ttl_s)
            pipe.execute()
            used += added
            if full:
                break
    return copied, used


def init_app(app: Flask) -> None:
    """Register the post-swap hook that drops old tiles (once per process; the hook finds its app
    through the app context the pipeline runs in)."""
    del app
    publication.on_published(_drop_old_tiles_after_swap)


def drop_tiles_except(snapshot: str) -> int:
    """Delete the cached tiles (and byte counters) of every snapshot but `snapshot`; how many keys."""
    client = redis_client.client
    keep = f"{TILE_KEY_PREFIX}:{snapshot}:"
    dropped = 0
    batch: list[bytes | str] = []
    for key in client.scan_iter(match=f"{TILE_KEY_PREFIX}:*", count=1000):
        name = _text(key)
        if name.startswith(keep) or name == CURRENT_SNAPSHOT_KEY:
            continue
        batch.append(key)
        if len(batch) >= 1000:
            dropped += cast(int, client.unlink(*batch))
            batch = []
    if batch:
        dropped += cast(int, client.unlink(*batch))
    return dropped


# --- filters in URLs --------------------------------------------------------------------------


@dataclass(frozen=True)
class TileQuery:
    """The map's filters in their one canonical query-string form, and its short hash."""

    filters: StopFilters
    query: str  # "" or "a=x&b=y,z": parameters alphabetical, values sorted, no default values

    @property
    def digest(self) -> str:
        """12 hex characters of the query's SHA-256 ("all" without filters): part of ETag and cache key."""
        return hashlib.sha256(self.query.encode()).hexdigest()[:12] if self.query else "all"


def _values(values: Sequence[Any], every: Sequence[str] | None = None) -> list[str]:
    items = sorted({str(value) for value in values})
    # Every status (or side) ticked is no filter at all: one URL for it.
    if every is not None and set(items) >= set(every):
        return []
    return items


def canonical(filters: StopFilters) -> TileQuery:
    """The canonical form of `filters` (bbox is not a tile filter and is ignored)."""
    from app.services import vocabulary

    values = {
        "method": _values(filters.methods),
        "operator": _values(filters.operators),
        "priority": _values(filters.priorities),
        "problem_type": _values(filters.problem_types),
        "side": _values(filters.sides, vocabulary.SIDES),
        "status": _values(filters.statuses, vocabulary.MATCH_STATUSES),
        "transport": _values(filters.transports),
    }
    query = "&".join(
        f"{name}={','.join(quote(v, safe='') for v in values[name])}"
        for name in FILTER_PARAMS
        if values[name]
    )
    normalised = StopFilters(
        statuses=values["status"],
        sides=values["side"],
        methods=values["method"],
        problem_types=values["problem_type"],
        priorities=[int(v) for v in values["priority"]],
        operators=values["operator"],
        transports=values["transport"],
    )
    return TileQuery(normalised, query)


def tile_path(
    snapshot: str, tile_query: TileQuery, z: str | int = "{z}", x: str | int = "{x}", y: str | int = "{y}"
) -> str:
    """Path (and canonical query) of one tile, or with the defaults the `{z}/{x}/{y}` template."""
    path = f"/api/v1/tiles/{snapshot}/{z}/{x}/{y}.mvt"
    return f"{path}?{tile_query.query}" if tile_query.query else path


def etag(snapshot: str, tile_query: TileQuery) -> str:
    """The ETag of every tile (and the TileJSON) of one snapshot and filter set."""
    return f"{snapshot}.{tile_query.digest}"


# --- rendering --------------------------------------------------------------------------------


class SnapshotChangedError(Exception):
    """The snapshot a tile was asked for stopped being the published one while it was rendered."""

    def __init__(self, published: str):
        super().__init__(published)
        self.published = published


# A stored (pre-rendered) tile of the published snapshot, and which snapshot that is, in one small
# statement: cheap to plan, one primary-key lookup. Kept apart from the render statement on purpose:
# folded into it (COALESCE(stored, render)), every lookup planned the whole render too, which cost
# as much PostgreSQL CPU as rendering a stops tile (measured through the app: 0.56 vs 0.62 ms).
# psycopg placeholders: it runs on the driver connection, prepared once per connection.
# The third column: whether the import pre-rendered this zoom for the published snapshot, so that a
# tile absent from it holds no stop (every tile holding one is stored) and is empty without a render.
# The table is swapped whole with its snapshot (one run's rows): the first row of the zoom, by the
# primary key, says which run filled it, in one index probe even when an older importer's table
# is left behind.
_STORED_TILE_SQL = (
    f"SELECT coalesce(({publication.CURRENT_SNAPSHOT_KEY_SQL}), '{NO_SNAPSHOT}'),"
    " (SELECT t.mvt FROM map_tiles t WHERE t.z = %(z)s AND t.x = %(x)s AND t.y = %(y)s"
    f" AND t.run_id = ({publication.CURRENT_SNAPSHOT_SQL})),"
    " coalesce((SELECT t.run_id FROM map_tiles t WHERE t.z = %(z)s ORDER BY t.z, t.x, t.y LIMIT 1)"
    f" = ({publication.CURRENT_SNAPSHOT_SQL}), false)"
)


# Driver connections kept, per engine and process, for the stored-tile statement: idle in autocommit
# with the statement prepared. A connection from the pool costs a pre-ping round trip at every
# checkout (pool_pre_ping), as much as the lookup itself; a kept one is checked by the lookup itself
# (a connection that died while idle is dropped and the lookup runs on a fresh one from the pool).
# A few per process: a cold pass keeps about one lookup per worker in flight, a burst beyond them
# uses the pool as every other request does.
_KEPT_CONNECTIONS = 4
_kept: weakref.WeakKeyDictionary[Engine, list[tuple[float, psycopg.Connection[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _read_engine() -> Engine:
    """The engine this request reads from: the read replica when app/read_routing.py bound it to the
    request's session (which exists then: the routing hook made it), the primary otherwise."""
    if db.session.registry.has():
        return cast(Engine, db.session.get_bind())
    return db.engine


def _raise_as_sqlalchemy(error: psycopg.Error, params: dict[str, int], *, lost: bool) -> NoReturn:
    """A driver error as SQLAlchemy raises it, which the replica fallback and the app's error
    handlers expect (OperationalError for a lost connection, `connection_invalidated` set)."""
    raise DBAPIError.instance(
        _STORED_TILE_SQL, params, error, psycopg.Error, connection_invalidated=lost
    ) from error


def _stored_tile_row(z: int, x: int, y: int) -> tuple[str, bytes | None, bool]:
    """(published snapshot key, stored tile or None, whether the zoom is pre-rendered for it) in one
    round trip to the database.

    The first read of a tile after an import, so the whole of its cost counts: through the session it
    was a pool checkout with its pre-ping, BEGIN, the statement (parsed and planned each time: the
    pool's ROLLBACK makes psycopg drop its prepared statements) and the ROLLBACK at teardown, and
    SQLAlchemy's statement machinery around them. Here: a kept driver connection in autocommit (no
    transaction, nothing to roll back, so the statement stays prepared on it) and one prepared
    statement. Measured through one gunicorn gevent worker and PostgreSQL (demo data, 3,000 requests
    per figure), CPU per request for a stored tile: 1.7-2.2 ms through Redis miss + session + store;
    0.97-1.02 ms with a pool checkout (its pre-ping) per lookup; 0.86-0.88 ms with a kept connection,
    against 0.67-0.73 ms for a tile answered from Redis.
    """
    engine = _read_engine()
    params = {"z": z, "x": x, "y": y}
    kept = _kept.setdefault(engine, [])
    recycle_s = getattr(engine.pool, "_recycle", -1)
    while kept:
        born, connection = kept.pop()
        if recycle_s >= 0 and time.monotonic() - born > recycle_s:
            connection.close()  # as old as the pool would recycle
            continue
        try:
            row = connection.execute(_STORED_TILE_SQL, params, prepare=True).fetchone()
        except psycopg.Error as error:
            lost = _lost(connection)
            connection.close()
            if lost:
                continue  # died while idle (what the pool's pre-ping catches): try another
            _raise_as_sqlalchemy(error, params, lost=False)
        kept.append((born, connection))
        return _as_row(row)
    # None kept (the first lookups of a process, a burst): one from the pool, kept afterwards if
    # there is room, else returned to it.
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:  # the pool hands the driver's connect error on unwrapped
        _raise_as_sqlalchemy(error, params, lost=True)
    connection = cast("psycopg.Connection[Any]", pooled.driver_connection)
    try:
        # A checked-out connection is idle (the pool rolled it back on return): no round trip.
        connection.autocommit = True
        row = connection.execute(_STORED_TILE_SQL, params, prepare=True).fetchone()
    except psycopg.Error as error:
        lost = _lost(connection)
        if lost:
            pooled.invalidate(error)
        elif not connection.closed:
            connection.autocommit = False
        pooled.close()
        _raise_as_sqlalchemy(error, params, lost=lost)
    if len(kept) < _KEPT_CONNECTIONS:
        pooled.detach()  # out of the pool's count: this process keeps it
        kept.append((time.monotonic(), connection))
    else:
        connection.autocommit = False  # the pool's connections are transactional
        pooled.close()
    return _as_row(row)


def _lost(connection: psycopg.Connection[Any]) -> bool:
    """Whether `connection` is gone (what SQLAlchemy's psycopg dialect calls a disconnect)."""
    return connection.closed or connection.broken


def _as_row(row: Any) -> tuple[str, bytes | None, bool]:
    published, data, zoom_stored = row
    return published, None if data is None else bytes(data), bool(zoom_stored)


# The tiles holding a stop of each pre-rendered zoom, per process, for the published snapshot only:
# (snapshot, z) -> sorted x << 32 | y, or None when the import did not pre-render that zoom. A tile
# asked for that is not in it holds no stop, so it is answered empty without a database round trip
# (sessions ask for many such tiles around stops: lakes, mountains, the edges of a view). 8 bytes a
# tile: 0.8 MB for the whole of Switzerland, about 10 MB at Germany size.
_occupied: dict[tuple[str, int], np.ndarray | None] = {}

_OCCUPIED_SQL = text(
    f"SELECT ({publication.CURRENT_SNAPSHOT_KEY_SQL}),"
    " (SELECT array_agg((t.x::bigint << 32) | t.y ORDER BY t.x, t.y) FROM map_tiles t"
    f" WHERE t.z = :z AND t.run_id = ({publication.CURRENT_SNAPSHOT_SQL}))"
)


def _occupied_tiles(snapshot: str, z: int) -> np.ndarray | None:
    """The tiles holding a stop at zoom `z` of `snapshot` (see `_occupied`), read once per process;
    None when the zoom was not pre-rendered or `snapshot` is no longer the published one."""
    key = (snapshot, z)
    if key in _occupied:
        return _occupied[key]
    published, tiles = db.session.execute(_OCCUPIED_SQL, {"z": z}).one()
    if published != snapshot:
        return None
    occupied = None if tiles is None else np.sort(np.asarray(tiles, dtype=np.int64))
    for old in [k for k in _occupied if k[0] != snapshot]:
        del _occupied[old]  # an older snapshot's: never asked for again in this process
    _occupied[key] = occupied
    return occupied


def holds_no_stop(snapshot: str, z: int, x: int, y: int) -> bool:
    """Whether the unfiltered tile is known to be empty: its zoom was pre-rendered for `snapshot` and
    the tile is not among those holding a stop."""
    occupied = _occupied_tiles(snapshot, z)
    if occupied is None:
        return False
    wanted = (x << 32) | y
    at = int(np.searchsorted(occupied, wanted))
    return not (at < len(occupied) and int(occupied[at]) == wanted)


def stored_tile(z: int, x: int, y: int, snapshot: str | None = None) -> bytes | None:
    """The unfiltered tile the import pre-rendered for the published snapshot (`map_tiles`); empty
    (b"", what rendering it gives) for a tile without stops of a pre-rendered zoom; None when the
    zoom was not pre-rendered for that snapshot (TILE_PRERENDER_MAX_ZOOM, a failed pre-render, a
    table an older importer left). With `snapshot`, raises SnapshotChangedError unless that one is
    still the published one (read in the same statement)."""
    published, data, zoom_stored = _stored_tile_row(z, x, y)
    if snapshot is not None and published != snapshot:
        _snapshot_memo.clear()
        raise SnapshotChangedError(published)
    if data is None and zoom_stored:
        return b""
    return data


def render_tile(
    z: int,
    x: int,
    y: int,
    tile_query: TileQuery,
    snapshot: str | None = None,
    *,
    prerendered: bool = True,
) -> bytes:
    """One tile from map_features: stop points from STOPS_MIN_ZOOM on, counted grid cells below.

    An unfiltered tile the import pre-rendered (`map_tiles`, swapped with the snapshot; any layer) is
    read from there unless `prerendered` is False; any other tile (filtered, a zoom not pre-rendered,
    a tile without stops) is rendered now. With `snapshot`, the tile is answered only if that
    snapshot is still the published one, read in the same statement (so from the same data): raises
    SnapshotChangedError otherwise.
    """
    if prerendered and not tile_query.query:
        stored = stored_tile(z, x, y, snapshot)
        if stored is not None:
            return stored
    params: dict[str, Any] = {"z": z, "x": x, "y": y}
    where = stop_service._map_features_where(tile_query.filters, params)
    conditions = "".join(f" AND {condition}" for condition in where)
    layer = map_tiles.STOPS_SQL if z >= STOPS_MIN_ZOOM else map_tiles.CELLS_SQL
    sql = map_tiles.tile_sql(layer, conditions)
    if snapshot is None:
        data = db.session.execute(stop_service._bind(sql, params), params).scalar()
        return bytes(data or b"")
    params["snapshot"] = snapshot
    guarded = (
        f"WITH published AS"
        f" (SELECT coalesce(({publication.CURRENT_SNAPSHOT_KEY_SQL}), '{NO_SNAPSHOT}') AS key)"
        f" SELECT published.key, CASE WHEN published.key = :snapshot THEN ({sql}) END FROM published"
    )
    published, data = db.session.execute(stop_service._bind(guarded, params), params).one()
    if published != snapshot:
        _snapshot_memo.clear()
        raise SnapshotChangedError(published)
    return bytes(data or b"")


def tile_key(snapshot: str, z: int, x: int, y: int, tile_query: TileQuery) -> str:
    """Redis key of one rendered tile."""
    return f"{TILE_KEY_PREFIX}:{snapshot}:{z}/{x}/{y}:{tile_query.digest}"


_BINARY_CLIENT = "stopsync_redis_tiles"


def _binary_client() -> redis.Redis:
    """A client of the app's Redis that answers bytes: tiles are binary, the app's client decodes text.

    Same server, timeouts and health checks as `redis_client.client`; one per app, made on first use.
    """
    client = current_app.extensions.get(_BINARY_CLIENT)
    if client is None:
        pool = redis_client.client.connection_pool
        kwargs = {**pool.connection_kwargs, "decode_responses": False}
        client = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        current_app.extensions[_BINARY_CLIENT] = client
    return client


def _bytes_key(snapshot: str) -> str:
    return f"{TILE_KEY_PREFIX}:{snapshot}:bytes"


def cached_tile(snapshot: str, z: int, x: int, y: int, tile_query: TileQuery) -> bytes:
    """The tile: from Redis; else an unfiltered one the import pre-rendered from `map_tiles` (empty
    when its zoom is pre-rendered and the tile is not: it holds no stop), else rendered; either way
    stored in Redis while the snapshot's tiles fit the cap.

    Redis first for every tile: the map bench measured a prepared primary-key lookup for every
    request of an unfiltered tile (0.87 ms of CPU per request against 0.7 ms for a Redis hit) at
    warm p99 106 ms where Redis hits gave 20 ms at the same offered rate. The import's post-swap hook
    copies the pre-rendered tiles into Redis (`warm_tiles`), so the lookup here serves only what did
    not fit under TILE_CACHE_MAX_BYTES or was evicted.

    Redis down: looked up or rendered every time (the map keeps working, only slower).
    """
    settings = current_app.config["SETTINGS"]
    key = tile_key(snapshot, z, x, y, tile_query)
    client = _binary_client()
    reachable = True
    try:
        found = cast("bytes | None", client.get(key))
    except redis.RedisError:
        found, reachable = None, False
    if found is not None:
        return found
    if not tile_query.query and holds_no_stop(snapshot, z, x, y):
        return b""
    stored = stored_tile(z, x, y, snapshot) if not tile_query.query else None
    # Not pre-rendered (a filter, a zoom above TILE_PRERENDER_MAX_ZOOM): rendered now.
    data = stored if stored is not None else render_tile(z, x, y, tile_query, snapshot, prerendered=False)
    if reachable and settings.TILE_CACHE_MAX_BYTES > 0:
        try:
            client.eval(
                _STORE_SCRIPT,
                2,
                key,
                _bytes_key(snapshot),
                data,
                settings.TILE_CACHE_MAX_BYTES,
                settings.TILE_CACHE_TTL_S,
            )
        except redis.RedisError as exc:
            logger.warning("tiles: not cached, Redis error %s", type(exc).__name__)
    return data


def cached_bytes(snapshot: str) -> int:
    """Bytes of `snapshot`'s tiles in Redis, as the size cap counts them."""
    return int(cast("bytes | None", _binary_client().get(_bytes_key(snapshot))) or 0)


def tilejson(snapshot: str, tile_query: TileQuery, base_url: str, bounds: Sequence[float]) -> dict[str, Any]:
    """The TileJSON 3.0 document of one snapshot and filter set."""
    west, south, east, north = bounds
    stop_fields = {
        "kind": "atlas (registry) or osm",
        "key": "registry stop id or node|way|relation/<id>",
        "source": "registry of a registry stop (atlas, naptan), when the read model names it",
        "name": "String",
        "operator": "String",
        "status": "matched or unmatched",
        "method": "match method of the closest partner",
        "distance_m": "Number",
        "priority": "most urgent open problem (1 highest)",
        "local_ref": "String",
        "uic": "String",
        "problem_types": "JSON array of strings",
        "partner_keys": "JSON array of strings",
        "methods": "JSON array of strings",
        "transports": "JSON array of strings",
    }
    cell_fields = {
        "count": "stops in the cell",
        "atlas": "registry stops",
        "osm": "OSM objects",
        "matched": "Number",
        "unmatched": "Number",
        "with_problems": "stops with an open problem",
        "p1": "stops whose most urgent problem has priority 1",
        "p2": "Number",
        "p3": "Number",
    }
    return {
        "tilejson": "3.0.0",
        "name": "StopSync stops",
        "attribution": "© OpenStreetMap contributors · ATLAS: opentransportdata.swiss",
        "scheme": "xyz",
        "tiles": [base_url.rstrip("/") + tile_path(snapshot, tile_query)],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 8],
        "vector_layers": [
            {"id": "cells", "fields": cell_fields, "minzoom": 0, "maxzoom": STOPS_MIN_ZOOM - 1},
            {"id": "stops", "fields": stop_fields, "minzoom": STOPS_MIN_ZOOM, "maxzoom": MAX_ZOOM},
        ],
        # StopSync's own fields: which snapshot, and from which zoom on stops come one by one.
        "snapshot": snapshot,
        "stops_min_zoom": STOPS_MIN_ZOOM,
        "filters": tile_query.query,
    }
