"""The REST API under /api/v1: one module per resource, each adding routes to `bp`."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Resource modules register their routes on `bp` when imported.
# One line per module, so each owner adds or removes their own line.
from app.api import (  # noqa: E402
    decisions,  # noqa: F401
    exports,  # noqa: F401
    guards,  # noqa: F401
    openapi,  # noqa: F401
    operators,  # noqa: F401
    pipeline,  # noqa: F401
    problems,  # noqa: F401
    review,  # noqa: F401
    routes,  # noqa: F401
    search,  # noqa: F401
    stats,  # noqa: F401
    stops,  # noqa: F401
    tiles,  # noqa: F401
    users,  # noqa: F401
)
