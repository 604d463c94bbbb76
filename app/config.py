"""Settings, read only from environment variables, typed and validated at start-up.

Every variable is listed in `.env.example` with its default. Defaults are safe for production
except `SECRET_KEY`, which must be set there (start-up fails with a clear message otherwise).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use."""


def _str(raw: str) -> str:
    return raw


def _int(raw: str) -> int:
    return int(raw)


def _float(raw: str) -> float:
    return float(raw)


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


_DEV_SECRET = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production by validate()

# The live sources' published permalinks (opentransportdata.swiss "actual-date" exports) and the
# public Overpass API: production's defaults.
LIVE_ATLAS_TRAFFIC_POINTS_URL = (
    "https://data.opentransportdata.swiss/dataset/traffic-point-v2/resource_permalink/"
    "actual-date-world-traffic-point.csv"
)
LIVE_ATLAS_SERVICE_POINTS_URL = (
    "https://data.opentransportdata.swiss/dataset/service-point-v2/resource_permalink/"
    "actual-date-swiss-service-point.csv"
)
LIVE_OVERPASS_URL = "https://overpass-api.de/api/interpreter"
# The Swiss national GTFS feed of the current timetable year ({year} is filled in at each download).
LIVE_GTFS_URL = "https://data.opentransportdata.swiss/en/dataset/timetable-{year}-gtfs2020/permalink"
# Development and test keep the bundled data when these are unset: no download, the demo folder.
BUNDLED_SOURCES: dict[str, str] = {
    "PIPELINE_SOURCE_DIR": "data/demo",
    "ATLAS_URL": "",
    "ATLAS_SERVICE_POINTS_URL": "",
    "OSM_URL": "",
    "GTFS_URL": "",
}


@dataclass(frozen=True)
class Settings:
    """All settings of every StopSync process. Field name = environment variable name."""

    STOPSYNC_ENV: str = "production"  # production | development | test
    DATABASE_URL: str = "postgresql+psycopg://stopsync:stopsync@localhost:5432/stopsync"
    REDIS_URL: str = "redis://localhost:6379/0"
    # Kept apart from pipeline state so a flood of rate-limit keys never touches the lock.
    RATELIMIT_STORAGE_URL: str = ""
    SECRET_KEY: str = _DEV_SECRET
    LOG_LEVEL: str = "INFO"

    DB_CONNECT_TIMEOUT_S: int = 5
    DB_STATEMENT_TIMEOUT_MS: int = 15000
    DB_POOL_SIZE: int = 5
    # Optional PostgreSQL streaming replica for the read-only endpoints (database/read_routing.py).
    # Empty: every query goes to DATABASE_URL. Reads fall back to the primary while the replica
    # lags more than DATABASE_READ_MAX_LAG_S, misses the latest snapshot, or is down; that check
    # is cached for DATABASE_READ_CHECK_INTERVAL_S per process.
    DATABASE_READ_URL: str = ""
    DATABASE_READ_MAX_LAG_S: float = 5.0
    DATABASE_READ_CHECK_INTERVAL_S: float = 1.0

    FORCE_HTTPS: bool = False
    HSTS_ENABLED: bool = False
    SESSION_COOKIE_SECURE: bool = True
    SESSION_LIFETIME_HOURS: int = 12  # a sign-in lasts this long, then the cookie is refused
    # Sign-in hardening (app/auth.py, app/services/users.py): the largest request body accepted (413
    # above it), and the zxcvbn score (0-4) a new password must reach besides its minimum length.
    MAX_CONTENT_LENGTH_BYTES: int = 1_048_576
    PASSWORD_MIN_SCORE: int = 3
    TRUST_PROXY_HOPS: int = 0

    # Check every JSON answer of the API against its response model (app/api/schemas/) before it
    # leaves: empty = on in development and test (every test checks the real bodies), off in
    # production (a full pydantic validation plus a walk of the body per request); true/false force it.
    API_VALIDATE_RESPONSES: str = ""

    RATELIMIT_DEFAULT: str = "600 per minute"
    RATELIMIT_WRITE: str = "60 per minute"
    RATELIMIT_LOGIN: str = "10 per minute"
    RATELIMIT_RUN_TRIGGER: str = "5 per hour"

    PIPELINE_CRON: str = "0 2 * * *"  # nightly, UTC
    PIPELINE_TIMEZONE: str = "UTC"
    PIPELINE_LOCK_TTL_S: int = 120
    PIPELINE_HEARTBEAT_S: int = 10
    PIPELINE_REQUEST_POLL_S: float = 2.0
    # Live view (SSE): a connection ends after this long and the browser reconnects (resuming after
    # Last-Event-ID), so a stream never outlives a deploy or a changed setting for long; a comment
    # line keeps idle proxies open and lets the server notice a client that went away.
    PIPELINE_STREAM_MAX_S: int = 45
    PIPELINE_STREAM_KEEPALIVE_S: int = 15
    # Open live-view connections per client address (after TRUST_PROXY_HOPS) and in total, counted
    # in Redis across every worker and replica; one more gets 429. Streams hold no request thread
    # (gevent workers), but each holds a Redis connection and a file descriptor.
    STREAM_MAX_PER_CLIENT: int = 4
    STREAM_MAX_TOTAL: int = 100
    # Map tiles (app/services/tiles.py): rendered tiles kept in Redis, per snapshot at most
    # TILE_CACHE_MAX_BYTES (0: none kept) for TILE_CACHE_TTL_S; browsers and proxies keep a tile
    # TILE_MAX_AGE_S (its URL names the snapshot, so it never changes) and the TileJSON, which names
    # the current snapshot, TILEJSON_MAX_AGE_S. TILE_CACHE_WARM: after each import, the pre-rendered
    # tiles are copied into Redis (lowest zooms first, up to the cap: the whole of Switzerland's,
    # zooms 0-16, take about 70 MB with Redis's own overhead).
    TILE_CACHE_MAX_BYTES: int = 128 * 1024 * 1024
    TILE_CACHE_WARM: bool = True
    TILE_CACHE_TTL_S: int = 86400
    TILE_MAX_AGE_S: int = 7 * 86400
    TILEJSON_MAX_AGE_S: int = 60
    # The import pre-renders the unfiltered tiles of zooms 0..TILE_PRERENDER_MAX_ZOOM in staging (-1:
    # none): every first request after an import of such a tile is a key lookup. Default 16, every
    # zoom a tile has (the counted cells of 0-13 and the stops of 14-16, about 2.5 s of import for
    # the stops zooms at national size); lower it to trade import time for on-demand renders.
    TILE_PRERENDER_MAX_ZOOM: int = 16
    # Offline source files (sources whose URLs are empty are read from here). Unset: none in
    # production, the bundled demo data in development and test (see BUNDLED_SOURCES).
    PIPELINE_SOURCE_DIR: str = ""
    PIPELINE_CACHE_DIR: str = "data/cache"

    # Live sources. Unset in production: the published permalinks; unset in development and test:
    # empty. Empty: not downloaded, read from PIPELINE_SOURCE_DIR; without that folder the source
    # is disabled, which start-up refuses for the sources the matcher needs (ATLAS, OSM). OSM_URL is
    # an Overpass interpreter, or an extract file (.osm.pbf, .osm, .json) fetched as it is.
    ATLAS_URL: str = LIVE_ATLAS_TRAFFIC_POINTS_URL
    ATLAS_SERVICE_POINTS_URL: str = LIVE_ATLAS_SERVICE_POINTS_URL
    OSM_URL: str = LIVE_OVERPASS_URL
    # Optional timetable for the route stage (pipeline/sources/gtfs.py): a GTFS zip ({year} = the
    # current year); empty: read gtfs*.zip from PIPELINE_SOURCE_DIR if there is one, else no route
    # evidence (no error). Its unzipped files may be this large (the national stop_times is 2.5 GB),
    # and DuckDB, which reads them, is capped at this much memory (it spills to disk beyond it).
    GTFS_URL: str = LIVE_GTFS_URL
    GTFS_MAX_UNZIPPED_BYTES: int = 10_000_000_000
    GTFS_DUCKDB_MEMORY_LIMIT: str = "768MB"
    # The registry whose stops the timetable's stop_ids name (the Swiss timetable: ATLAS sloids and
    # UIC numbers): GTFS stops are resolved against that registry's stops only.
    GTFS_REGISTRY: str = "atlas"
    # NaPTAN, Great Britain's registry (pipeline/sources/naptan.py; chosen with PIPELINE_SOURCES=naptan,osm):
    # the export's URL (the DfT access-nodes API, XML or CSV; empty: naptan*.xml or Stops.csv from
    # PIPELINE_SOURCE_DIR), and how many metres a stop's OSGB36 grid and WGS84 positions may differ
    # before the registry contradicts itself (problem `registry_position_mismatch`).
    NAPTAN_URL: str = ""
    NAPTAN_POSITION_MISMATCH_M: float = 25.0
    # The Overpass query's areas: comma-separated area tags (key=value) or Overpass area ids.
    OVERPASS_AREAS: str = "ISO3166-1=CH,ISO3166-1=LI"
    OVERPASS_MAXSIZE_BYTES: int = 1_073_741_824  # [maxsize:] of the query (server-side memory)
    HTTP_TIMEOUT_S: float = 60.0
    HTTP_RETRIES: int = 3
    HTTP_MAX_BYTES: int = 2_000_000_000
    # Pipeline parsing and import (pipeline/run.py): registry rows kept by UIC country code
    # (comma-separated; empty = all), the country polygon for the inside-the-country filter (empty =
    # off), the share of the previous snapshot a new one must keep (guard against a truncated source;
    # 0 = off), the import transaction's statement timeout, and the Overpass server-side timeout.
    PIPELINE_UIC_COUNTRY_CODES: str = "85"
    # "declared" (default): the union of the boundaries the selected registries declare
    # (RegistryDeclaration.boundary: ATLAS CH+LI, NaPTAN GB); a file path: that file; empty: off.
    PIPELINE_BOUNDARY_FILE: str = "declared"
    # Which registered sources a run fetches and parses (pipeline/sources; at least one registry and
    # osm): a source not named is never downloaded and its missing files are no error. A UK instance:
    # naptan,osm. A registry's own boundary (<SOURCE>_BOUNDARY, e.g. ATLAS_BOUNDARY) replaces
    # PIPELINE_BOUNDARY_FILE for that source; empty: PIPELINE_BOUNDARY_FILE.
    PIPELINE_SOURCES: str = "atlas,osm,gtfs"
    ATLAS_BOUNDARY: str = ""
    PIPELINE_MIN_ROW_RATIO: float = 0.5
    PIPELINE_IMPORT_TIMEOUT_S: float = 600.0
    # How long one attempt of the snapshot swap waits for its table locks before it lets queued
    # readers through and tries again (database/snapshot/swap.py). Below PostgreSQL's 1 s
    # deadlock_timeout, so a reader is never the one cancelled; readers wait at most about this long.
    PIPELINE_SWAP_LOCK_TIMEOUT_S: float = 0.5
    OVERPASS_QUERY_TIMEOUT_S: int = 300

    # Review workflow (pipeline/review/): the evidence categories whose change sends a decision
    # back to review (position,name,uic_ref,local_ref,operator,identifier,transport,version,
    # atlas_row,distance,priority), and how far (metres) a stop may move before "position" counts.
    DECISION_EXPIRE_FIELDS: str = "position,name,uic_ref,local_ref,operator,identifier"
    DECISION_MOVE_THRESHOLD_M: float = 10.0
    # Webhooks for new priority-1 problems (app/services/feeds.py): targets separated by spaces or
    # ";", each target's filters in its URL fragment (#operator=PAG&region=BE&bbox=...), bodies
    # signed with HMAC-SHA256 using WEBHOOK_SECRET (required in production when targets are set).
    WEBHOOK_URLS: str = ""
    WEBHOOK_SECRET: str = ""
    WEBHOOK_TIMEOUT_S: float = 5.0
    # Absolute links in feeds, webhooks and reports and the authority of feed ids (where people reach
    # this app; never taken from a request's Host header), and an optional link template to the
    # registry's own page of a stop ({stop_id} and {number} are replaced). Unset, links fall back to
    # this fixed local address: wrong for readers elsewhere, but never attacker-chosen.
    PUBLIC_BASE_URL: str = "http://localhost:5001"
    # ATLAS's public service-point directory, by the stop's 7-digit number (the link the reference
    # system uses); empty turns the column off.
    REGISTRY_STOP_URL: str = (
        "https://atlas.app.sbb.ch/service-point-directory/service-points/{number}/traffic-point-elements"
    )
    # Whether a new OSM stop proposed by the fix exports and "Add in JOSM" carries `ref:IFOPT`:
    # `where_used` (only where OSM stop objects within NEW_STOP_IFOPT_RADIUS_M already carry
    # `ref:IFOPT` or `ref:sloid`, i.e. where the local community uses the tag), `always` or `never`.
    NEW_STOP_IFOPT: str = "where_used"
    NEW_STOP_IFOPT_RADIUS_M: float = 5000.0

    # Sign in with OpenStreetMap (app/osm_signin.py): an OAuth 2.0 application registered on
    # openstreetmap.org (redirect URI PUBLIC_BASE_URL + /login/osm/callback, scope read_prefs). Both
    # empty: no button, and /login/osm is a 404. OSM_SIGNIN_ROLE is what a first sign-in gets:
    # viewer or editor, never admin (anyone can open an OSM account; admins stay local accounts).
    OSM_OAUTH_CLIENT_ID: str = ""
    OSM_OAUTH_CLIENT_SECRET: str = ""
    OSM_OAUTH_BASE_URL: str = "https://www.openstreetmap.org"
    OSM_API_BASE_URL: str = "https://api.openstreetmap.org"
    OSM_SIGNIN_ROLE: str = "editor"
    OSM_OAUTH_TIMEOUT_S: float = 10.0

    BACKUP_DIR: str = "backups"
    BACKUP_KEEP: int = 7
    BACKUP_CRON: str = "30 1 * * *"  # backup sidecar (compose profile `backup`), UTC
    MIGRATOR_BACKUP: bool = False
    MIGRATOR_DB_WAIT_S: float = 60.0

    @property
    def ratelimit_storage_url(self) -> str:
        return self.RATELIMIT_STORAGE_URL or self.REDIS_URL

    @property
    def validate_api_responses(self) -> bool:
        """Whether API answers are checked against their response models (API_VALIDATE_RESPONSES)."""
        if self.API_VALIDATE_RESPONSES.strip():
            return _bool(self.API_VALIDATE_RESPONSES)
        return self.STOPSYNC_ENV != "production"

    @property
    def osm_signin_enabled(self) -> bool:
        """Whether "Sign in with OpenStreetMap" is offered (an OAuth client is configured)."""
        return bool(self.OSM_OAUTH_CLIENT_ID and self.OSM_OAUTH_CLIENT_SECRET)

    def validate(self) -> None:
        """Refuse combinations that are unsafe or cannot work, with a message naming the variable."""
        if self.STOPSYNC_ENV not in {"production", "development", "test"}:
            raise ConfigError(
                f"STOPSYNC_ENV must be production, development or test, not {self.STOPSYNC_ENV!r}"
            )
        if self.STOPSYNC_ENV == "production" and self.SECRET_KEY == _DEV_SECRET:
            raise ConfigError("SECRET_KEY must be set to a long random value in production")
        if self.API_VALIDATE_RESPONSES.strip():
            try:
                _bool(self.API_VALIDATE_RESPONSES)
            except ValueError:
                raise ConfigError("API_VALIDATE_RESPONSES must be empty, true or false") from None
        if not self.DATABASE_URL.startswith("postgresql"):
            raise ConfigError("DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://...)")
        if self.DATABASE_READ_URL and not self.DATABASE_READ_URL.startswith("postgresql"):
            raise ConfigError(
                "DATABASE_READ_URL must be empty or a PostgreSQL URL (postgresql+psycopg://...)"
            )
        if self.DATABASE_READ_MAX_LAG_S < 0 or self.DATABASE_READ_CHECK_INTERVAL_S <= 0:
            raise ConfigError(
                "DATABASE_READ_MAX_LAG_S must be 0 or more and DATABASE_READ_CHECK_INTERVAL_S positive"
            )
        if self.BACKUP_KEEP < 1:
            raise ConfigError("BACKUP_KEEP must be at least 1 (the backup just written is always kept)")
        if self.PIPELINE_HEARTBEAT_S * 3 > self.PIPELINE_LOCK_TTL_S:
            raise ConfigError("PIPELINE_LOCK_TTL_S must be at least three heartbeats (PIPELINE_HEARTBEAT_S)")
        if self.PIPELINE_HEARTBEAT_S < 1 or self.PIPELINE_REQUEST_POLL_S <= 0:
            raise ConfigError("PIPELINE_HEARTBEAT_S and PIPELINE_REQUEST_POLL_S must be positive")
        if self.PIPELINE_STREAM_MAX_S < 1 or self.PIPELINE_STREAM_KEEPALIVE_S < 1:
            raise ConfigError("PIPELINE_STREAM_MAX_S and PIPELINE_STREAM_KEEPALIVE_S must be positive")
        if self.STREAM_MAX_PER_CLIENT < 1 or self.STREAM_MAX_TOTAL < self.STREAM_MAX_PER_CLIENT:
            raise ConfigError("STREAM_MAX_PER_CLIENT must be positive and STREAM_MAX_TOTAL at least as large")
        if self.TILE_CACHE_MAX_BYTES < 0 or self.TILE_CACHE_TTL_S < 1:
            raise ConfigError("TILE_CACHE_MAX_BYTES must be 0 or more and TILE_CACHE_TTL_S positive")
        if self.TILE_MAX_AGE_S < 0 or self.TILEJSON_MAX_AGE_S < 0:
            raise ConfigError("TILE_MAX_AGE_S and TILEJSON_MAX_AGE_S must be 0 or more (seconds)")
        if not -1 <= self.TILE_PRERENDER_MAX_ZOOM <= 16:
            raise ConfigError("TILE_PRERENDER_MAX_ZOOM must be from -1 (none) to 16 (the deepest tile)")
        if not 0 < self.PIPELINE_SWAP_LOCK_TIMEOUT_S <= 10:
            raise ConfigError("PIPELINE_SWAP_LOCK_TIMEOUT_S must be more than 0 and at most 10 seconds")
        if not self.NAPTAN_POSITION_MISMATCH_M > 0:
            raise ConfigError("NAPTAN_POSITION_MISMATCH_M must be a positive number of metres")
        if self.MAX_CONTENT_LENGTH_BYTES < 1024:
            raise ConfigError("MAX_CONTENT_LENGTH_BYTES must be at least 1024 (bytes)")
        if self.NEW_STOP_IFOPT not in {"where_used", "always", "never"}:
            raise ConfigError(
                f"NEW_STOP_IFOPT must be where_used, always or never, not {self.NEW_STOP_IFOPT!r}"
            )
        if self.NEW_STOP_IFOPT_RADIUS_M <= 0:
            raise ConfigError("NEW_STOP_IFOPT_RADIUS_M must be positive (metres)")
        if not 0 <= self.PASSWORD_MIN_SCORE <= 4:
            raise ConfigError("PASSWORD_MIN_SCORE must be a zxcvbn score from 0 to 4")
        self._validate_review_workflow()
        self._validate_public_base_url()
        self._validate_osm_signin()
        self._validate_sources()

    def _validate_sources(self) -> None:
        # Imported here, like the review workflow's policy: the sources own their URL settings.
        from pipeline.sources import all_sources, selected_sources
        from pipeline.sources.overpass import parse_areas

        try:
            selected = {s.name for s in selected_sources(self.PIPELINE_SOURCES)}
        except ValueError as exc:
            raise ConfigError(f"PIPELINE_SOURCES: {exc}") from None
        for source in all_sources():
            for name in source.url_settings:
                url = getattr(self, name)
                parts = urlsplit(url)
                if url and (
                    parts.scheme not in {"http", "https"}
                    or not parts.hostname
                    or any(c.isspace() for c in url)
                ):
                    raise ConfigError(f"{name} must be an http(s) URL or empty, not {url!r}")
            if (
                source.required
                and source.name in selected
                and not self.PIPELINE_SOURCE_DIR
                and not any(getattr(self, name) for name in source.url_settings)
            ):
                names = " and ".join(source.url_settings)
                raise ConfigError(
                    f"the {source.name} source is disabled: {names} empty and PIPELINE_SOURCE_DIR unset, "
                    "but the matcher needs it. Unset the URL for the live default, or give a URL or a folder"
                )
        try:
            parse_areas(self.OVERPASS_AREAS)
        except ValueError as exc:
            raise ConfigError(f"OVERPASS_AREAS: {exc}") from None
        limit = self.GTFS_DUCKDB_MEMORY_LIMIT
        if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]+)?\s*(KB|MB|GB|KiB|MiB|GiB)", limit):
            raise ConfigError(f"GTFS_DUCKDB_MEMORY_LIMIT must be a size like 768MB or 1GiB, not {limit!r}")
        if self.GTFS_MAX_UNZIPPED_BYTES < 1:
            raise ConfigError("GTFS_MAX_UNZIPPED_BYTES must be positive")
        if self.OVERPASS_MAXSIZE_BYTES < 1 or self.OVERPASS_QUERY_TIMEOUT_S < 1:
            raise ConfigError("OVERPASS_MAXSIZE_BYTES and OVERPASS_QUERY_TIMEOUT_S must be positive")

    def _validate_public_base_url(self) -> None:
        # Every absolute link and feed id is built from this, never from the request's Host or
        # X-Forwarded-Host (which a client or a proxy chain can forge): it must be a bare origin/path.
        parts = urlsplit(self.PUBLIC_BASE_URL)
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
            or any(c.isspace() for c in self.PUBLIC_BASE_URL)
        ):
            raise ConfigError(
                "PUBLIC_BASE_URL must be an http(s) URL without credentials, query or fragment, "
                f"like https://stopsync.example.org, not {self.PUBLIC_BASE_URL!r}"
            )

    def _validate_osm_signin(self) -> None:
        if bool(self.OSM_OAUTH_CLIENT_ID) != bool(self.OSM_OAUTH_CLIENT_SECRET):
            raise ConfigError(
                "OSM_OAUTH_CLIENT_ID and OSM_OAUTH_CLIENT_SECRET go together: set both to offer "
                "sign-in with OpenStreetMap, or neither"
            )
        # Anyone can open an OpenStreetMap account in a minute, so an OSM sign-in must never make an
        # admin (who manages users, tokens and runs): admins are local accounts with a password.
        if self.OSM_SIGNIN_ROLE not in {"viewer", "editor"}:
            raise ConfigError(
                f"OSM_SIGNIN_ROLE must be viewer or editor, not {self.OSM_SIGNIN_ROLE!r}: anyone can open "
                "an OpenStreetMap account, so admins stay local accounts"
            )
        if not 0 < self.OSM_OAUTH_TIMEOUT_S <= 60:
            raise ConfigError("OSM_OAUTH_TIMEOUT_S must be between 0 and 60 seconds")
        for name in ("OSM_OAUTH_BASE_URL", "OSM_API_BASE_URL"):
            url = getattr(self, name)
            parts = urlsplit(url)
            if (
                parts.scheme not in {"http", "https"}
                or not parts.hostname
                or parts.username is not None
                or parts.query
                or parts.fragment
                or any(c.isspace() for c in url)
            ):
                raise ConfigError(f"{name} must be an http(s) URL without credentials or query, not {url!r}")
            # The client secret, the authorization code and the access token travel to these.
            if self.STOPSYNC_ENV == "production" and parts.scheme != "https":
                raise ConfigError(f"{name} must be an https URL in production, not {url!r}")

    def _validate_review_workflow(self) -> None:
        # Imported here: settings must load without the pipeline's numeric stack at import time.
        from pipeline.review import ExpiryPolicy

        try:
            ExpiryPolicy.parse(self.DECISION_EXPIRE_FIELDS, self.DECISION_MOVE_THRESHOLD_M)
        except ValueError as exc:
            raise ConfigError(f"DECISION_EXPIRE_FIELDS / DECISION_MOVE_THRESHOLD_M: {exc}") from None
        if not 0 < self.WEBHOOK_TIMEOUT_S <= 60:
            raise ConfigError("WEBHOOK_TIMEOUT_S must be between 0 and 60 seconds")
        if self.WEBHOOK_URLS.strip():
            from app.services.feeds import parse_webhook_targets

            try:
                parse_webhook_targets(self.WEBHOOK_URLS)
            except ValueError as exc:
                raise ConfigError(f"WEBHOOK_URLS: {exc}") from None
            if self.STOPSYNC_ENV == "production" and not self.WEBHOOK_SECRET:
                raise ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URLS is (subscribers verify it)")


_COERCERS: dict[type | str, Callable[[str], Any]] = {
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from `environ` (default: the process environment), then apply overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(Settings):
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        raw = environ.get(field.name)
        if raw is None:
            continue
        coerce = _COERCERS[field.type if isinstance(field.type, str) else field.type.__name__]
        try:
            values[field.name] = coerce(raw)
        except ValueError as exc:
            raise ConfigError(f"{field.name}={raw!r} is not a valid {field.type}: {exc}") from None
    unknown = set(overrides) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings: {sorted(unknown)}")
    # Production runs on the live sources; development and test keep the bundled data. Only unset
    # variables take these defaults: an explicitly empty one stays empty (that source is not downloaded).
    if values.get("STOPSYNC_ENV", Settings.STOPSYNC_ENV) != "production":
        for name, default in BUNDLED_SOURCES.items():
            values.setdefault(name, default)
    settings = Settings(**values)
    settings.validate()
    return settings
