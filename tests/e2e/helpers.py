"""What several browser tests do the same way: load the demo data, sign in, open the map on a stop."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from database import db
from database.models import Match, OsmStop
from runs.stages import RunOptions, run_pipeline
from tests import factories as f

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
TODAY = dt.date(2025, 8, 2)  # the demo registry extract's date: every row is valid on it


def load_demo_data(source_dir: Path = DEMO) -> None:
    """Run the real pipeline on the demo data (or a changed copy), as `flask pipeline run` would."""
    summary = run_pipeline(RunOptions(trigger="cli", source_dir=source_dir, offline=True, today=TODAY))
    assert summary.status == "succeeded", summary.error


def sign_in(page: Any, username: str, next_path: str) -> None:
    """Sign in through the login form, the way a person does, and land on `next_path`."""
    page.goto(f"/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f.DEFAULT_PASSWORD)
    page.click("form.stacked-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(next_path) + r"$"))


def click_a_matched_osm_node(page: Any) -> OsmStop:
    """Open the map at street zoom on an OSM node matched by UIC number and click its own marker.

    Its own marker, in the middle of the view: the first marker in the document may lie in the
    padding loaded beyond the visible edges, or so close to one that its popup pans the map.
    """
    osm_key = db.session.scalar(
        select(Match.osm_key).where(Match.method == "exact_uic").order_by(Match.osm_key).limit(1)
    )
    node = db.session.get(OsmStop, osm_key)
    page.goto(f"/#map=18/{node.lat}/{node.lon}")
    page.wait_for_selector("#map[data-loaded]")
    page.locator(f'.leaflet-marker-icon.method-exact_uic[title="{node.name} (OSM)"]').first.click()
    return node
