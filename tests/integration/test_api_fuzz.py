"""Schema-driven fuzz of the whole API (schemathesis) against demo-like rows: never a 5xx, and every
response matches the status codes, content types and schemas the OpenAPI document declares.

Bounded so the suite stays fast: a few examples per operation; writes run with an admin token.
The SSE stream is left out (it holds the connection open by design).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import openapi_document
from tests import factories as f

MAX_EXAMPLES = 6


def seed_demo_like_rows() -> str:
    """A small Liechtenstein-like snapshot of every kind of row; returns an admin API token."""
    stop, node, _ = f.matched_pair(distance_m=42.0, method="exact_uic")
    f.problem("distance", stop_id=stop.stop_id, osm_key=node.osm_key, priority=2, distance_m=42.0)
    named, named_node, _ = f.matched_pair(lat=47.16, lon=9.51, method="name", name="Schaan, Post")
    f.problem(
        "attributes",
        stop_id=named.stop_id,
        osm_key=named_node.osm_key,
        priority=3,
        details={"uic_ref": [1, 2]},
    )
    lonely = f.atlas_stop(name="Vaduz, Äule", modes="BUS|TRAM", lat=47.14, lon=9.52)
    f.problem("unmatched", stop_id=lonely.stop_id, priority=1)
    stray = f.osm_stop("way/4242", name="Triesen Zentrum", lat=47.10, lon=9.53)
    decided = f.problem("unmatched", osm_key=stray.osm_key, priority=3)
    f.problem("duplicates", stop_id=lonely.stop_id, priority=2, identity=f"duplicates:{lonely.stop_id}:-")
    # a line on each side through the matched stop, so /routes answers with partners and stops
    f.osm_route(7001, [node.osm_key, stray.osm_key], ref="11", operator="LIEmobil", to_name="Triesen Zentrum")
    f.gtfs_route(
        "11-j21-1",
        {"0": [("Vaduz", stop.stop_id), ("Triesen", None)]},
        short_name="11",
        agency_name="LIEmobil",
        route_key="11-jxx-1",
    )
    admin = f.create_user("fuzz-admin", role="admin")
    f.decision(decided.identity, "needs_survey", author=admin, note="check")
    return f.api_token(admin)


@pytest.fixture
def admin_token(app) -> str:
    return seed_demo_like_rows()


# Built from the same pure-Python document /api/v1/openapi.json serves (no server needed to load it).
schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path="/pipeline/stream")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_keeps_its_description(case, app, admin_token):
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {admin_token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
