"""Reads from a PostgreSQL streaming replica while it is fresh, everything else on the primary.

The web app binds one request's session to the replica (`bind_reads`) when the request is a
read-only one (the policy lives in `app/read_routing.py`) and `ReadRouter.health()` says the
replica may be used: connected, no further behind than `max_lag_s`, and holding the same
published snapshot as the primary. That check costs two tiny queries and is cached for
`check_interval_s` per process, so a request pays nothing for it.

`RoutingSession` (read_routing_session.py) is the session class of `db.session`: while a read
engine is bound it sends every SELECT there; a flush or an INSERT/UPDATE/DELETE statement still
goes to the primary, and nothing is bound outside a read-only request (scheduler, CLI, writes), so
those never touch the replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from database.snapshot import current_snapshot_id

logger = logging.getLogger(__name__)

# On the replica: is it a standby, the WAL position replayed, and the age of the last replayed commit.
REPLICA_POSITION_SQL = sa.text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(),"
    " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)
# pg_current_wal_lsn() fails on a standby; the primary is never one.
PRIMARY_POSITION_SQL = sa.text("SELECT pg_current_wal_lsn()")


@dataclass(frozen=True)
class ReplicaHealth:
    """The outcome of one replica check."""

    usable: bool
    reason: str  # fresh | lagging | snapshot | down | primary_check_failed | error
    lag_s: float | None = None
    replica_snapshot: Any = None
    primary_snapshot: Any = None
    checked_at: float = 0.0
    detail: str = ""  # the exception's class when a check or a request failed


def _lsn(value: str | None) -> int | None:
    """A WAL position ("16/B374D848") as a number, so positions compare."""
    if not value:
        return None
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def replica_lag_s(
    primary_lsn: int | None, replay_lsn: int | None, replay_age_s: float | None
) -> float | None:
    """How far the replica is behind, in seconds (None: unknown, i.e. nothing replayed yet).

    A replica that has replayed everything the primary had written when we asked is not behind at
    all, however old its last replayed commit is (an idle primary writes nothing). Otherwise the
    age of its last replayed commit bounds how stale its data may be.
    """
    if primary_lsn is not None and replay_lsn is not None and replay_lsn >= primary_lsn:
        return 0.0
    if replay_age_s is None:
        return None
    return max(0.0, float(replay_age_s))


SnapshotQuery = Callable[[Connection], Any]


def published_snapshot(connection: Connection) -> Any:
    """The id of the snapshot this database publishes (the same query on primary and replica): the
    publication row the swap writes in its own transaction, so a replica that shows it has replayed
    the whole swap."""
    return current_snapshot_id(connection)


def _is_replica_failure(error: DBAPIError) -> bool:
    """A lost or refused replica connection, or a standby cancelling a query that conflicts with
    replay: worth answering from the primary. A statement timeout is not (it would time out there too)."""
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate is None or sqlstate == "40001" or sqlstate.startswith(("08", "57P"))


class ReadRouter:
    """Decides, at most once per `check_interval_s`, whether reads may go to the replica."""

    def __init__(
        self,
        read_engine: Engine,
        primary_engine: Callable[[], Engine],
        *,
        max_lag_s: float,
        check_interval_s: float,
        snapshot_query: SnapshotQuery = published_snapshot,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_engine = read_engine
        self._primary_engine = primary_engine
        self.max_lag_s = max_lag_s
        self.check_interval_s = check_interval_s
        self._snapshot_query = snapshot_query
        self._clock = clock
        self._health: ReplicaHealth | None = None
        # One check at a time per process; under gevent this lock is cooperative.
        self._lock = threading.Lock()

    def health(self) -> ReplicaHealth:
        """The cached check, refreshed when older than the interval (by one caller; others keep the last)."""
        health = self._health
        if health is not None and self._clock() - health.checked_at < self.check_interval_s:
            return health
        # While one caller checks (a dead replica may take the connect timeout), others use the last result.
        if not self._lock.acquire(blocking=health is None):
            return health  # type: ignore[return-value]  # blocking=False only when health is set
        try:
            if self._health is not None and self._clock() - self._health.checked_at < self.check_interval_s:
                return self._health
            return self._store(self._check())
        finally:
            self._lock.release()

    def mark_failed(self, error: BaseException) -> None:
        """A request lost its replica connection: read the primary until the next check says otherwise."""
        self._store(ReplicaHealth(False, "error", checked_at=self._clock(), detail=type(error).__name__))

    def _store(self, health: ReplicaHealth) -> ReplicaHealth:
        previous = self._health
        self._health = health
        # One line per change of state, not one per check: an operator sees when and why.
        if previous is None or previous.usable != health.usable or previous.reason != health.reason:
            if health.usable:
                logger.info("reads go to the replica (lag %.1f s)", health.lag_s or 0.0)
            else:
                logger.warning(
                    "reads fall back to the primary: replica %s", _describe(health, self.max_lag_s)
                )
        return health

    def _check(self) -> ReplicaHealth:
        now = self._clock()
        # Any failure (not only the driver's) means "read the primary": a broken check must never
        # turn into an error on every read request.
        try:
            with self._primary_engine().connect() as primary:
                primary_lsn = _lsn(primary.execute(PRIMARY_POSITION_SQL).scalar())
                primary_snapshot = self._snapshot_query(primary)
        except Exception as error:
            return ReplicaHealth(False, "primary_check_failed", checked_at=now, detail=type(error).__name__)
        try:
            with self.read_engine.connect() as replica:
                in_recovery, replay_lsn, replay_age = replica.execute(REPLICA_POSITION_SQL).one()
                replica_snapshot = self._snapshot_query(replica)
        except Exception as error:
            return ReplicaHealth(
                False, "down", primary_snapshot=primary_snapshot, checked_at=now, detail=type(error).__name__
            )
        # A server that is not (or no longer) a standby has no replay position: it is current.
        lag = replica_lag_s(primary_lsn, _lsn(replay_lsn), replay_age) if in_recovery else 0.0
        if lag is None or lag > self.max_lag_s:
            reason, usable = "lagging", False
        elif replica_snapshot != primary_snapshot:
            reason, usable = "snapshot", False
        else:
            reason, usable = "fresh", True
        return ReplicaHealth(usable, reason, lag, replica_snapshot, primary_snapshot, now)


def _describe(health: ReplicaHealth, max_lag_s: float) -> str:
    if health.reason == "lagging":
        lag = "unknown" if health.lag_s is None else f"{health.lag_s:.1f} s"
        return f"lags {lag} (bound {max_lag_s:g} s)"
    if health.reason == "snapshot":
        return f"has snapshot {health.replica_snapshot}, primary has {health.primary_snapshot}"
    detail = f" ({health.detail})" if health.detail else ""
    if health.reason == "down":
        return f"unreachable{detail}"
    if health.reason == "error":
        return f"connection failed during a request{detail}"
    if health.reason == "primary_check_failed":
        return f"not checked: the primary did not answer{detail}"
    return health.reason


def is_replica_failure(error: BaseException) -> bool:
    """Whether `error` (raised while a session read from the replica) should be retried on the primary."""
    return isinstance(error, DBAPIError) and _is_replica_failure(error)
