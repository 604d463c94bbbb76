"""The interface in English, German, French and Italian.

Locale: the `lang` cookie (set by the language switch, GET /lang/<code>?next=/path), else the best
match of the browser's Accept-Language among LOCALES, else English. Only the interface is
translated: stop names, operators, tags and every other data value are shown as they are stored.

Catalogs live in app/translations/<locale>/LC_MESSAGES/: `messages` for Python and Jinja, `js` for
the page scripts (app/static/js, `StopSync.t("...")`). Both .po and the compiled .mo files are
committed, so neither the Docker build nor CI compiles anything; `python scripts/i18n.py update`
re-extracts and compiles after a change, and tests/unit/test_translations.py fails when a message
lacks a translation or a committed file is out of date.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import Translations
from flask import Blueprint, Flask, Response, current_app, redirect, request
from flask_babel import Babel, get_locale
from werkzeug.wrappers import Response as BaseResponse

from app.auth import safe_next

DEFAULT_LOCALE = "en"
# English first: it is the source language and the answer when nothing else matches.
LOCALES: tuple[str, ...] = ("en", "de", "fr", "it")
# Each language under its own name, so a reader finds theirs whatever the page's language.
LOCALE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch", "fr": "Français", "it": "Italiano"}
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
JS_DOMAIN = "js"

babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The request's locale: cookie, then Accept-Language, then English."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES, default=DEFAULT_LOCALE) or DEFAULT_LOCALE


def current_locale() -> str:
    """The locale of the current request as a language code ("de"), English outside a request."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LOCALES else DEFAULT_LOCALE


@lru_cache(maxsize=len(LOCALES))
def js_messages(locale: str) -> dict[str, str]:
    """msgid -> translation of the page scripts' messages in `locale` (empty for English).

    Read once per process from the committed js.mo; an untranslated message is left out, so the
    script falls back to its English msgid.
    """
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return {}
    translations = Translations.load(str(TRANSLATIONS_DIR), [locale], domain=JS_DOMAIN)
    catalog = getattr(translations, "_catalog", {})
    return {key: value for key, value in catalog.items() if isinstance(key, str) and key and value}


@bp.get("/lang/<code>")
def switch_language(code: str) -> BaseResponse:
    """Remember the chosen language in the `lang` cookie and go back to `next` (a path on this site).

    A GET link on purpose: it changes nothing but the visitor's own display language, so a forged
    request can do no harm, and the switch works without JavaScript or a form.
    """
    target = safe_next(request.args.get("next"))
    response = redirect(target, code=303)
    if code in LOCALES:
        settings = current_app.config["SETTINGS"]
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=LANG_COOKIE_MAX_AGE_S,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def _vary_on_language(response: Response) -> Response:
    # A page's language depends on these two headers; a shared cache must not mix them up.
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def _template_context() -> dict:
    locale = current_locale()
    return {
        "current_locale": locale,
        "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
        "js_messages": js_messages(locale),
    }


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel, the language switch and the template helpers to `app`."""
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LOCALE,
        default_translation_directories=str(TRANSLATIONS_DIR),
        default_domain="messages",
    )
    # {% trans %} blocks collapse their whitespace, so a re-indented template keeps its msgids
    # (scripts/i18n.py extracts with the same option).
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)
    app.context_processor(_template_context)
    app.after_request(_vary_on_language)
