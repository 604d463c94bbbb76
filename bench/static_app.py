"""The app with one extra route that serves a static file: the calibration of bench/map_tiles.py.

gunicorn runs `bench.static_app:create_app()` exactly as it runs `app:create_app()` in production
(same worker class, workers, middleware, rate limiter, session handling), and the extra route
`GET /bench-static/tile.mvt` answers the file named by BENCH_STATIC_FILE with Flask's `send_file`,
as the static route does. Its request rate is the practical limit of this machine for an answer of
that size through this stack: the map's tile rate is judged as a share of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, send_file

STATIC_PATH = "/bench-static/tile.mvt"


def create_app() -> Flask:
    """The production app plus the calibration route."""
    from app import create_app as create_production_app

    app = create_production_app()
    path = Path(os.environ["BENCH_STATIC_FILE"])

    @app.get(STATIC_PATH)
    def bench_static_file():
        return send_file(path, mimetype="application/vnd.mapbox-vector-tile", max_age=3600)

    return app
