"""The REST API under /api/v1: one module per resource, each adding routes to `bp`."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Resource modules register their routes on `bp` when imported.
from app.api import decisions, exports, pipeline, problems, review, search, stats, stops, users  # noqa: E402,F401
