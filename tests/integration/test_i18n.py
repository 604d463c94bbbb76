"""The interface language: cookie, then Accept-Language, then English; the /lang switch; JS messages."""

from __future__ import annotations

import json
import re

import pytest

from tests import factories as f


def _html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, "no <html lang>"
    return match.group(1)


def _js_messages(html: str) -> dict[str, str]:
    match = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html, re.S)
    assert match, "no i18n data block"
    return json.loads(match.group(1))


def test_english_is_the_language_without_a_cookie_or_accept_language(client):
    html = client.get("/stats").get_data(as_text=True)
    assert _html_lang(html) == "en"
    assert ">Map</a>" in html
    assert _js_messages(html) == {}


@pytest.mark.parametrize(
    ("header", "lang", "map_label"),
    [
        ("de-CH,de;q=0.9,en;q=0.5", "de", "Karte"),
        ("fr-CH, fr;q=0.9", "fr", "Carte"),
        ("it", "it", "Mappa"),
        ("rm-CH, ja;q=0.8", "en", "Map"),  # Romansh and Japanese are not offered: English
        ("es, it;q=0.3", "it", "Mappa"),
    ],
)
def test_accept_language_picks_the_best_offered_language(client, header, lang, map_label):
    html = client.get("/stats", headers={"Accept-Language": header}).get_data(as_text=True)
    assert _html_lang(html) == lang
    assert f">{map_label}</a>" in html


def test_the_lang_cookie_wins_over_accept_language(client):
    client.set_cookie("lang", "fr")
    html = client.get("/review", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert _html_lang(html) == "fr"
    assert ">Carte</a>" in html


def test_an_unknown_lang_cookie_falls_back_to_accept_language(client):
    client.set_cookie("lang", "xx")
    html = client.get("/review", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert _html_lang(html) == "it"


def test_the_switch_sets_a_year_long_cookie_and_returns_to_the_page(client):
    response = client.get("/lang/de?next=/stats?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/stats?x=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=de;")
    assert "Max-Age=31536000" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    html = client.get("/stats").get_data(as_text=True)
    assert _html_lang(html) == "de"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_the_switch_never_redirects_off_the_site(client, target):
    response = client.get("/lang/de", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_the_switch_ignores_a_language_it_does_not_offer(client):
    response = client.get("/lang/xx?next=/stats")
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers
    assert _html_lang(client.get("/stats").get_data(as_text=True)) == "en"


def test_every_page_offers_the_switch_with_the_current_language_marked(client):
    html = client.get("/stats", headers={"Accept-Language": "de"}).get_data(as_text=True)
    for code in ("en", "de", "fr", "it"):
        assert f'href="/lang/{code}?next=/stats"' in html
    assert re.search(r'href="/lang/de\?next=/stats"[^>]*aria-current="true"', html)


def test_pages_vary_on_accept_language_and_cookie(client):
    vary = client.get("/stats").headers["Vary"]
    assert "Accept-Language" in vary
    assert "Cookie" in vary


def test_the_page_scripts_get_their_messages_in_the_page_language(client):
    messages = _js_messages(client.get("/stats", headers={"Accept-Language": "de"}).get_data(as_text=True))
    assert messages, "the German page carries no script messages"
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in messages.items())


def test_labels_of_codes_are_translated_in_the_page_catalog(client):
    html = client.get("/review", headers={"Accept-Language": "de"}).get_data(as_text=True)
    match = re.search(r'<script type="application/json" id="catalog">(.*?)</script>', html, re.S)
    assert match
    decisions = {d["code"]: d["label"] for d in json.loads(match.group(1))["decisions"]}
    assert decisions["fixed_in_osm"] == "In OSM behoben"


def test_stop_names_and_data_values_are_never_translated(client):
    # "Map" and "Operator" are interface messages with German translations; as data they stay as stored.
    stop = f.atlas_stop(name="Map", operator_code="Operator", operator_name="Operator")
    html = client.get(f"/stops/atlas/{stop.stop_id}", headers={"Accept-Language": "de"}).get_data(
        as_text=True
    )
    assert _html_lang(html) == "de"
    assert "<h1>Map</h1>" in html
    assert "<title>Map · StopSync</title>" in html
    assert "<dd>Operator · Operator</dd>" in html
    assert ">Karte</a>" in html  # the navigation around it is German


def test_error_pages_speak_the_page_language(client):
    response = client.get("/stops/atlas/ch:1:sloid:does-not-exist", headers={"Accept-Language": "fr"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>404 Introuvable</h1>" in html
    assert "Aucun arrêt du registre ch:1:sloid:does-not-exist dans les données actuelles." in html
