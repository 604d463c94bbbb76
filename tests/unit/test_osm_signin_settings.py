"""Settings of sign-in with OpenStreetMap: off by default, openstreetmap.org's endpoints, never admins."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings
from app.services.osm_accounts import OsmAccountError, identity_from_user_details

PRODUCTION = {"SECRET_KEY": "s" * 40}
CLIENT = {"OSM_OAUTH_CLIENT_ID": "client-id", "OSM_OAUTH_CLIENT_SECRET": "client-secret"}


def test_osm_signin_is_off_by_default_and_points_at_openstreetmap_org():
    settings = load_settings(PRODUCTION)
    assert settings.osm_signin_enabled is False
    assert settings.OSM_OAUTH_BASE_URL == "https://www.openstreetmap.org"
    assert settings.OSM_API_BASE_URL == "https://api.openstreetmap.org"
    assert settings.OSM_SIGNIN_ROLE == "editor"


def test_osm_signin_is_on_with_a_client_id_and_secret():
    assert load_settings({**PRODUCTION, **CLIENT}).osm_signin_enabled is True


@pytest.mark.parametrize("name", ["OSM_OAUTH_CLIENT_ID", "OSM_OAUTH_CLIENT_SECRET"])
def test_a_client_id_without_a_secret_or_the_reverse_is_refused(name):
    with pytest.raises(ConfigError, match="go together"):
        load_settings({**PRODUCTION, name: "only-one"})


def test_osm_signin_role_admin_is_refused():
    with pytest.raises(ConfigError, match="OSM_SIGNIN_ROLE"):
        load_settings({**PRODUCTION, **CLIENT, "OSM_SIGNIN_ROLE": "admin"})


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_osm_signin_role_may_be_viewer_or_editor(role):
    settings = load_settings({**PRODUCTION, **CLIENT, "OSM_SIGNIN_ROLE": role})
    assert settings.osm_signin_enabled


@pytest.mark.parametrize("name", ["OSM_OAUTH_BASE_URL", "OSM_API_BASE_URL"])
def test_plain_http_endpoints_are_refused_in_production(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({**PRODUCTION, **CLIENT, name: "http://www.openstreetmap.org"})


@pytest.mark.parametrize(
    "url", ["ftp://osm.example", "https://user:pw@osm.example", "https://osm.example/?x=1", "osm.example"]
)
def test_malformed_endpoints_are_refused(url):
    with pytest.raises(ConfigError, match="OSM_OAUTH_BASE_URL"):
        load_settings({"STOPSYNC_ENV": "test", "OSM_OAUTH_BASE_URL": url})


def test_the_timeout_is_bounded():
    with pytest.raises(ConfigError, match="OSM_OAUTH_TIMEOUT_S"):
        load_settings({**PRODUCTION, "OSM_OAUTH_TIMEOUT_S": "0"})


def test_user_details_give_the_id_and_the_trimmed_display_name():
    identity = identity_from_user_details({"user": {"id": 4711, "display_name": " Anna Mapper "}})
    assert (identity.uid, identity.display_name) == (4711, "Anna Mapper")


@pytest.mark.parametrize(
    "name", ["Zoë", "李小龍", "a" * 255, "name with 'quotes' & <tags>"], ids=["accent", "cjk", "255", "html"]
)
def test_user_details_keep_any_printable_display_name(name):
    assert identity_from_user_details({"user": {"id": 1, "display_name": name}}).display_name == name


@pytest.mark.parametrize("name", ["a\u0085b", "a\u200b\x07", "\ufffe", "a" * 256, "#4711"])
def test_user_details_refuse_control_characters_overlong_and_parked_looking_names(name):
    with pytest.raises(OsmAccountError):
        identity_from_user_details({"user": {"id": 1, "display_name": name}})
