"""The interface's message catalogs (app/translations): complete in de/fr/it and up to date.

Both checks run scripts/i18n.py's own extraction, so a string wrapped for translation in a template,
a page script or a Python label fails here until it has a German, French and Italian translation.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def _i18n_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stopsync_i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def i18n() -> ModuleType:
    return _i18n_script()


@pytest.fixture(scope="module")
def planned(i18n: ModuleType) -> dict[Path, bytes]:
    return i18n.plan()


def test_every_message_has_a_german_french_and_italian_translation(i18n, planned):
    missing = []
    for path, content in planned.items():
        if path.suffix != ".po":
            continue
        catalog = read_po(io.BytesIO(content), locale=path.parts[-3])
        missing += [f"{path.relative_to(ROOT)}: {msgid!r}" for msgid in i18n.untranslated(catalog)]
    assert not missing, (
        "messages without a translation (python scripts/i18n.py update, then translate):\n"
        + ("\n".join(missing))
    )


def test_committed_catalogs_match_a_fresh_extraction_of_templates_and_scripts(planned):
    stale = [
        str(path.relative_to(ROOT))
        for path, content in planned.items()
        if not path.exists() or path.read_bytes() != content
    ]
    assert not stale, f"run python scripts/i18n.py update and commit: {stale}"


def test_catalogs_cover_german_french_and_italian_for_templates_and_scripts(planned):
    names = {str(path.relative_to(ROOT / "app" / "translations")) for path in planned}
    for locale in ("de", "fr", "it"):
        for domain in ("messages", "js"):
            assert f"{locale}/LC_MESSAGES/{domain}.po" in names
            assert f"{locale}/LC_MESSAGES/{domain}.mo" in names


def test_a_wrapped_string_without_translation_is_reported(i18n):
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="de")
    catalog.add("Map", "Karte")
    catalog.add("Brand-new text", "")
    catalog.add("Guessed", "Geraten", flags=["fuzzy"])
    assert i18n.untranslated(catalog) == ["Brand-new text", "Guessed"]


def test_translations_keep_every_placeholder_of_their_message(planned):
    """A translation that drops or renames `{n}` / `%(name)s` would show a raw brace or crash."""
    import re

    placeholder = re.compile(r"\{\w+\}|%\(\w+\)s")
    wrong = []
    for path, content in planned.items():
        if path.suffix != ".po":
            continue
        for message in read_po(io.BytesIO(content), locale=path.parts[-3]):
            if not message.id or not isinstance(message.id, str) or not message.string:
                continue
            if sorted(placeholder.findall(message.id)) != sorted(placeholder.findall(message.string)):
                wrong.append(f"{path.relative_to(ROOT)}: {message.id!r} -> {message.string!r}")
    assert not wrong, "\n".join(wrong)
