"""Static files: our own JS/CSS under /static, the vendored libraries under /vendor.

Templates link assets through `asset_url()` / `vendor_url()`, which append a short content hash
(`?v=...`). A request carrying the current hash may be cached for a year (the URL changes with the
content); any other request gets a short max-age, so a deploy is visible within minutes either way.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from flask import Response, abort, request, send_from_directory
from werkzeug.security import safe_join

from app.extensions import limiter
from app.pages.blueprint import bp

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
VENDOR_DIR = Path(__file__).resolve().parents[2] / "frontend_vendor"
VENDOR_MANIFEST = VENDOR_DIR / "manifest.json"

LONG_MAX_AGE_S = 365 * 24 * 3600
SHORT_MAX_AGE_S = 300


@lru_cache(maxsize=512)
def _file_hash(path: str, mtime_ns: int) -> str:
    """Hash of one file; the mtime is part of the cache key so an edited file gets a new hash."""
    del mtime_ns
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _version_of(directory: Path, filename: str) -> str | None:
    joined = safe_join(str(directory), filename)
    if joined is None:
        return None
    path = Path(joined)
    try:
        return _file_hash(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@bp.app_template_global()
def asset_url(filename: str) -> str:
    """URL of one of our files under app/static, with its content hash."""
    version = _version_of(STATIC_DIR, filename)
    return f"/static/{filename}" + (f"?v={version}" if version else "")


@lru_cache(maxsize=1)
def vendor_hashes() -> dict[str, str]:
    """path -> sha256 of every vendored file, from frontend_vendor/manifest.json."""
    manifest = json.loads(VENDOR_MANIFEST.read_text(encoding="utf-8"))
    return {entry["path"]: entry["sha256"] for package in manifest["packages"] for entry in package["files"]}


@bp.app_template_global()
def vendor_url(filename: str) -> str:
    """URL of a vendored file under frontend_vendor, with the hash the manifest records for it."""
    digest = vendor_hashes().get(filename)
    if digest is None:
        # A typo in a template would otherwise only show up as a broken page in a browser.
        raise KeyError(f"{filename} is not in frontend_vendor/manifest.json")
    return f"/vendor/{filename}?v={digest[:12]}"


def _send(directory: Path, filename: str, expected_version: str | None) -> Response:
    requested = request.args.get("v")
    cacheable_forever = requested is not None and requested == expected_version
    response = send_from_directory(
        directory, filename, max_age=LONG_MAX_AGE_S if cacheable_forever else SHORT_MAX_AGE_S
    )
    if cacheable_forever:
        response.cache_control.immutable = True
    response.cache_control.public = True
    return response


@bp.get("/static/<path:filename>")
@limiter.exempt  # cheap, cacheable files: counting them would let one page load eat a visitor's budget
def static_file(filename: str) -> Response:
    version = _version_of(STATIC_DIR, filename)
    if version is None:
        abort(404)
    return _send(STATIC_DIR, filename, version)


@bp.get("/vendor/<path:filename>")
@limiter.exempt
def vendor_file(filename: str) -> Response:
    # Only what the manifest lists is served: the licence texts and built files, never stray files.
    digest = vendor_hashes().get(filename)
    if digest is None:
        abort(404)
    return _send(VENDOR_DIR, filename, digest[:12])
