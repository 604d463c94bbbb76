"""Getting source files: from a directory (offline) or over HTTP (live), with a content fingerprint.

`fetch_source` decides per source: its downloads (one or several: ATLAS fetches the traffic- and the
service-point export, each with its own cached copy and `source_states` row), else its files in the
source directory, else it is disabled (an error for a source the matcher needs).

HTTP downloads are conditional (If-None-Match / If-Modified-Since from the last successful run),
retried with exponential backoff on network errors and 429/500/502/503/504 (honouring Retry-After),
size-limited, hashed (SHA-256) while streaming, and written to a temporary file next to the cached
copy. `FetchedSource.promote()` renames it over the cached copy only after the data has been parsed
and validated, so a broken download never replaces the last good file.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import FetchError, SourceError
from pipeline.sources.base import HttpRequest, Source, file_sha256, sniff
from pipeline.text import ascii_int

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 2.0  # waits 2, 4, 8 ... seconds between attempts
BACKOFF_MAX_S = 120.0  # never wait longer than this, whatever Retry-After says
CHUNK_BYTES = 1 << 20
USER_AGENT = "StopSync/0.1 (+https://github.com/stopsync; ATLAS-OSM stop synchronisation)"


@dataclass(frozen=True)
class PreviousState:
    """What the last successful run recorded for a source (a `source_states` row)."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


@dataclass
class FetchedSource:
    """The files of one source for this run, their fingerprint and whether they changed."""

    source: str
    paths: list[Path]
    sha256: str
    size_bytes: int
    changed: bool
    origin: str
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    # Which download of the source this is (`atlas`, `atlas.service_points`): the `source_states` row.
    key: str = ""
    _pending: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary file, final cached file)

    def __post_init__(self) -> None:
        self.key = self.key or self.source

    def promote(self) -> None:
        """Move validated downloads over the cached copies (atomic rename on the same filesystem)."""
        for temporary, final in self._pending:
            os.replace(temporary, final)
        self.paths = [final for _tmp, final in self._pending] or self.paths
        self._pending = []

    def discard(self) -> None:
        """Delete downloads that were not promoted (the run failed)."""
        for temporary, _final in self._pending:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        self._pending = []

    def version(self) -> dict[str, object]:
        """What `pipeline_runs.source_versions` records for this source."""
        return {
            "origin": self.origin,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "changed": self.changed,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "http_status": self.http_status,
            "files": [p.name for p in self.paths],
        }


def fetch_from_directory(
    source: Source, directory: Path, previous: PreviousState | None, max_bytes: int | None = None
) -> FetchedSource:
    """The source's files in `directory` (offline mode); unchanged when their hash equals the last one.

    A file larger than `max_bytes` (the download limit, HTTP_MAX_BYTES) is refused before it is
    read: hashing and parsing a runaway file would take minutes, and one giant line makes the CSV
    reader hold it whole in memory (a 4 GiB file of NULs peaked at 8 GiB: tests/faults).
    """
    paths = source.find_files(directory)
    if max_bytes is not None:
        for path in paths:
            size = path.stat().st_size
            if size > max_bytes:
                raise SourceError(
                    source.name,
                    f"file of {size:,} bytes exceeds the size limit of {max_bytes:,} (HTTP_MAX_BYTES)",
                    path=path.name,
                )
    digest = file_sha256(paths)
    return FetchedSource(
        source=source.name,
        paths=paths,
        sha256=digest,
        size_bytes=sum(p.stat().st_size for p in paths),
        changed=previous is None or previous.sha256 != digest,
        origin=f"file:{directory}",
    )


def fetch_source(
    source: Source,
    requests: Sequence[HttpRequest],
    directory: Path | None,
    cache_dir: Path,
    previous: Mapping[str, PreviousState],
    policy: HttpPolicy,
) -> list[FetchedSource]:
    """One source's files for this run: its downloads when it has any, else its files in `directory`.

    Without either the source is disabled (its URL settings are empty and there is no source
    directory): a required source makes the run fail with a message naming the settings. When one
    of several downloads fails, the ones already made are discarded (no partial file stays behind).
    """
    if requests:
        done: list[FetchedSource] = []
        try:
            for request in requests:
                key = request.key(source.name)
                done.append(fetch_http(source, request, cache_dir, previous.get(key), policy))
        except BaseException:
            for fetched in done:
                fetched.discard()
            raise
        return done
    if directory is None:
        if not source.required:
            return []
        names = " and ".join(source.url_settings) or "its URL"
        raise SourceError(
            source.name,
            f"disabled: {names} empty and no PIPELINE_SOURCE_DIR; the matcher needs this source "
            "(unset the URL for the live default, or give a URL or a source folder)",
        )
    if not source.required and not any(
        p.is_file() for pat in source.file_patterns for p in directory.glob(pat)
    ):
        return []  # an optional source (GTFS) without a file in the folder is simply absent
    return [fetch_from_directory(source, directory, previous.get(source.name), max_bytes=policy.max_bytes)]


@dataclass(frozen=True)
class HttpPolicy:
    timeout_s: float = 60.0
    retries: int = 3
    max_bytes: int = 2_000_000_000
    backoff_base_s: float = BACKOFF_BASE_S
    sleep: Callable[[float], None] = time.sleep


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    seconds = ascii_int(value, max_digits=10)  # "²" passes isdigit() and breaks float()
    if seconds is not None:
        return float(seconds)
    value = value.strip()
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def fetch_http(
    source: Source,
    request: HttpRequest,
    cache_dir: Path,
    previous: PreviousState | None,
    policy: HttpPolicy,
) -> FetchedSource:
    """Download (or confirm unchanged) one source. Raises FetchError after the last failed attempt."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / f"{request.key(source.name)}{request.suffix}"
    conditional = previous is not None and final.exists() and previous.sha256 == _sha_or_none(final)
    attempts = max(1, policy.retries + 1)
    last_error = "no attempt made"
    for attempt in range(attempts):
        try:
            return _attempt(source, request, final, previous if conditional else None, policy)
        except _RetryableError as exc:
            last_error = str(exc)
            if attempt == attempts - 1:
                break
            wait = exc.retry_after if exc.retry_after is not None else policy.backoff_base_s * (2**attempt)
            wait = min(wait, BACKOFF_MAX_S)
            logger.warning(
                "fetch %s: %s; retrying in %.1f s (%d/%d)", source.name, exc, wait, attempt + 1, attempts - 1
            )
            policy.sleep(wait)
    raise FetchError(
        source.name, f"download from {request.url} failed after {attempts} attempts: {last_error}"
    )


def _sha_or_none(path: Path) -> str | None:
    try:
        return file_sha256([path])
    except OSError:
        return None


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _attempt(
    source: Source, request: HttpRequest, final: Path, previous: PreviousState | None, policy: HttpPolicy
) -> FetchedSource:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    if previous is not None:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    req = urllib.request.Request(request.url, data=request.body, headers=headers, method=request.method)  # noqa: S310 - URL from settings
    try:
        response = urllib.request.urlopen(req, timeout=policy.timeout_s)  # noqa: S310 - http(s) URL from settings
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and previous is not None:
            return FetchedSource(
                source=source.name,
                paths=[final],
                sha256=previous.sha256 or file_sha256([final]),
                size_bytes=final.stat().st_size,
                changed=False,
                origin=request.url,
                etag=exc.headers.get("ETag") or previous.etag,
                last_modified=exc.headers.get("Last-Modified") or previous.last_modified,
                http_status=304,
                key=request.key(source.name),
            )
        if exc.code in RETRY_STATUSES:
            raise _RetryableError(f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))) from None
        raise FetchError(source.name, f"HTTP {exc.code} {exc.reason} from {request.url}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise _RetryableError(f"network error: {getattr(exc, 'reason', exc)}") from None
    with response:
        content_type = (response.headers.get("Content-Type") or "").lower()
        if "text/html" in content_type:
            raise FetchError(
                source.name, f"got an HTML page instead of data from {request.url} ({content_type})"
            )
        # A server's header is outside input too: ASCII digits only, anything else is "not declared".
        declared = ascii_int(response.headers.get("Content-Length"), max_digits=19)
        if declared is not None and declared > policy.max_bytes:
            raise FetchError(
                source.name, f"response of {declared:,} bytes exceeds the limit of {policy.max_bytes:,}"
            )
        fd, tmp_name = tempfile.mkstemp(prefix=".part-", suffix=f"-{final.name}", dir=final.parent)
        temporary = Path(tmp_name)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    try:
                        chunk = response.read(CHUNK_BYTES)
                    except (TimeoutError, ConnectionError, OSError) as exc:
                        raise _RetryableError(f"connection broke after {size:,} bytes: {exc}") from None
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > policy.max_bytes:
                        raise FetchError(
                            source.name, f"response exceeds the limit of {policy.max_bytes:,} bytes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if declared is not None and size != declared:
                raise _RetryableError(f"truncated response: {size:,} of {declared:,} bytes")
            with temporary.open("rb") as handle:
                sniff(source.name, final, handle.read(4096))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        sha = digest.hexdigest()
        fetched = FetchedSource(
            source=source.name,
            paths=[temporary],
            sha256=sha,
            size_bytes=size,
            changed=previous is None or previous.sha256 != sha,
            origin=request.url,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            http_status=response.status,
            key=request.key(source.name),
        )
        fetched._pending.append((temporary, final))
        return fetched
