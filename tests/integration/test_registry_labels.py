"""The map page names the instance's own registry (its display name), never ATLAS on a UK instance."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture
def uk(app, monkeypatch):
    """This app as a UK instance: PIPELINE_SOURCES=naptan,osm."""
    settings = dataclasses.replace(app.config["SETTINGS"], PIPELINE_SOURCES="naptan,osm")
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    return app


def test_the_map_filter_and_legend_of_a_uk_instance_speak_of_naptan_stops(uk, client):
    html = client.get("/").get_data(as_text=True)
    assert "NaPTAN stops" in html
    assert "NaPTAN stop, unmatched" in html
    assert "round: NaPTAN ·" in html
    assert "ATLAS stop" not in html


# One request per test: the test app context keeps the first request's locale.
@pytest.mark.parametrize(("language", "label"), [("en", "ATLAS stops"), ("de", "ATLAS-Haltestellen")])
def test_the_swiss_map_still_speaks_of_atlas_stops_in_every_language(client, language, label):
    assert label in client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)


@pytest.mark.parametrize(("language", "label"), [("de", "NaPTAN-Haltestellen"), ("it", "Fermate NaPTAN")])
def test_the_registry_name_is_translated_around_not_inside(uk, client, language, label):
    assert label in client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)


def test_the_footer_and_map_credit_the_uk_instances_registry_publisher(uk, client):
    footer = client.get("/stats").get_data(as_text=True)  # the map page has no footer
    assert '<a href="https://naptan.api.dft.gov.uk/">Department for Transport</a> / NaPTAN' in footer
    assert "opentransportdata.swiss" not in footer
    assert 'data-registry-credit="NaPTAN: Department for Transport"' in client.get("/").get_data(as_text=True)


def test_the_swiss_footer_and_map_still_credit_opentransportdata_swiss(client):
    footer = client.get("/stats").get_data(as_text=True)
    assert '<a href="https://opentransportdata.swiss/">opentransportdata.swiss</a> / ATLAS' in footer
    assert 'data-registry-credit="ATLAS: opentransportdata.swiss"' in client.get("/").get_data(as_text=True)
