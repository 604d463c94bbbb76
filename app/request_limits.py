"""The request body limit (MAX_CONTENT_LENGTH_BYTES), enforced before any view or check reads a body.

Flask's MAX_CONTENT_LENGTH alone is enforced lazily and not always: a body with a Content-Length over
it is refused only when something reads it, and a chunked body (no Content-Length; gunicorn hands it
over as a stream it terminates itself) is cut silently at the limit by Werkzeug's `get_data()`, so
an oversized JSON body was a 400 "not JSON" and an oversized form could lose its tail unnoticed.
Here every oversized body is a 413 (app/errors.py gives it the JSON error shape under /api), read
at most one byte past the limit.
"""

from __future__ import annotations

import io

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

_READ_PIECE_BYTES = 64 * 1024


def refuse_oversized_bodies() -> None:
    """before_request: 413 for a body over MAX_CONTENT_LENGTH, declared or chunked."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return
    environ = request.environ
    # Read from the environ, not `request.content_length`: that one is cached, and changes below.
    declared = get_content_length(environ)
    if declared is not None:
        if declared > limit:
            raise RequestEntityTooLarge()
        return
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    if not environ.get("wsgi.input_terminated"):
        return  # a server that does not end chunked bodies itself: Werkzeug reads none of it anyway
    pieces: list[bytes] = []
    size = 0
    stream = environ["wsgi.input"]
    while piece := stream.read(min(_READ_PIECE_BYTES, limit + 1 - size)):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            raise RequestEntityTooLarge()
    # From here on an ordinary body of known length, read from memory by whatever parses it.
    environ["wsgi.input"] = io.BytesIO(b"".join(pieces))
    environ["CONTENT_LENGTH"] = str(size)
    del environ["HTTP_TRANSFER_ENCODING"]


def init_request_limits(app: Flask) -> None:
    """Register the body check; call it before anything else that may read a body (CSRF, views)."""
    app.before_request(refuse_oversized_bodies)
