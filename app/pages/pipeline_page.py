"""The pipeline page (`/pipeline`): the live run (progress bar and log over SSE), recent runs, and
a "Run now" button for admins. The page script reads everything from the pipeline API."""

from __future__ import annotations

from flask import render_template

from app.auth import current_user
from app.coordination import STAGES
from app.pages.blueprint import bp


@bp.get("/pipeline")
def pipeline():
    """Live progress of the current run, the run history and (admins) "Run now"."""
    user = current_user()
    return render_template(
        "pipeline.html", stages=list(STAGES), can_run=bool(user is not None and user.role == "admin")
    )
