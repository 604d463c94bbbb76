"""Server-rendered pages (Jinja templates in pages/templates).

Handlers stay thin: they pick a template and hand it what only the server knows (the data extent,
labels, the stop being shown). Lists and counts the pages update live come from the JSON API, so
the pages and scripts use exactly what API clients use.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.pages import catalog
from app.services import map_view

bp = Blueprint("pages", __name__)

# Features per /api/v1/stops call from the map page: enough to cover a town at street zoom, small
# enough that a phone renders it quickly. The API caps it at 10,000 anyway.
MAP_FEATURE_LIMIT = 3000


@bp.app_context_processor
def _catalog_context() -> dict:
    """Labels for codes in every template, and the same tables as JSON for the page scripts."""
    return {
        "catalog": {
            "methods": catalog.as_dicts(catalog.MATCH_METHODS),
            "problems": catalog.as_dicts(catalog.PROBLEM_TYPES),
            "priorities": catalog.as_dicts(catalog.PRIORITIES),
            "decisions": catalog.as_dicts(catalog.DECISIONS),
        },
        "label_method": lambda code: catalog.label_for(catalog.MATCH_METHODS, code),
        "label_problem": lambda code: catalog.label_for(catalog.PROBLEM_TYPES, code),
        "label_decision": lambda code: catalog.label_for(catalog.DECISIONS, code),
    }


@bp.get("/")
def index():
    """The map of all stops."""
    return render_template("index.html", bounds=map_view.data_bounds(), map_limit=MAP_FEATURE_LIMIT)


@bp.get("/review")
def review():
    """The queue of undecided problems, worked with the keyboard."""
    return render_template("review.html")


@bp.get("/stats")
def stats():
    """Dashboard: match methods, problems, operators, last run."""
    return render_template("stats.html")


@bp.get("/login")
def login():
    """The sign-in form; it posts to POST /login (app.auth), which redirects back here on failure."""
    return render_template("login.html", next_url=request.args.get("next", "/"))
