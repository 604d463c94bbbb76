#!/usr/bin/env python3
"""Extract, update and compile the interface's message catalogs (app/translations).

    python scripts/i18n.py update    re-extract, merge into every .po, compile every .mo
    python scripts/i18n.py check     exit 1 when a message lacks a translation or a committed
                                     .po/.mo differs from what `update` would write

Two domains: `messages` (Python under app/ and the Jinja templates) and `js` (app/static/js, the
calls `S.t("...")`). The .po files carry file names but no line numbers and fixed dates, so an edit
elsewhere in a template does not change them and `check` only fails on a real difference. The .mo
files are committed: the Docker build and CI need no compile step.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
TRANSLATIONS = APP / "translations"
LOCALES = ("de", "fr", "it")  # English is the source language: its msgids are the text.
PROJECT = "StopSync"
# Fixed, so that re-running `update` without a message change writes byte-identical files.
FIXED_DATE = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Domain:
    name: str
    root: Path
    method_map: list[tuple[str, str]]
    options_map: dict[str, dict[str, str]]
    keywords: dict[str, tuple | None]
    # Python folders outside `root` whose N_ markers belong to this domain (the problem type
    # registry's labels live with the types, in the pipeline, which must not import the app).
    python_roots: tuple[Path, ...] = ()


DOMAINS = (
    Domain(
        "messages",
        APP,
        [("**.py", "python"), ("pages/templates/**.html", "jinja2.ext:babel_extract")],
        # trimmed: a {% trans %} block's whitespace is collapsed, as app/i18n.py tells Jinja to do.
        {"pages/templates/**.html": {"trimmed": "true"}},
        {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None},
        (ROOT / "pipeline" / "problems",),
    ),
    Domain(
        "js",
        APP / "static" / "js",
        [("**.js", "javascript")],
        {"**.js": {}},
        {"S.t": None, "StopSync.t": None, "t": None},
    ),
)


def extract(domain: Domain) -> Catalog:
    """The domain's messages as a template catalog (msgids with their files, no translations)."""
    template = Catalog(project=PROJECT, creation_date=FIXED_DATE, fuzzy=False)
    sources = [(domain.root, domain.method_map, domain.options_map)]
    sources += [(root, [("**.py", "python")], {}) for root in domain.python_roots]
    for root, method_map, options_map in sources:
        found = extract_from_dir(
            str(root),
            method_map=method_map,
            options_map=options_map,
            keywords=domain.keywords,
            comment_tags=("Translators:",),
            strip_comment_tags=True,
        )
        for filename, _lineno, message, comments, context in found:
            path = (root / filename).relative_to(ROOT).as_posix()
            template.add(message, None, [(path, None)], auto_comments=comments, context=context)
    return template


def po_path(locale: str, domain: Domain) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{domain.name}.po"


def merged(locale: str, domain: Domain, template: Catalog) -> Catalog:
    """The locale's catalog with the template's messages: kept translations, new ones empty."""
    path = po_path(locale, domain)
    if path.exists():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=domain.name)
    else:
        catalog = Catalog(locale=locale, domain=domain.name, project=PROJECT)
    # No fuzzy guesses: a new message stays visibly untranslated until someone translates it.
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.fuzzy = False
    catalog.header_comment = (
        f"# {locale} translations of the StopSync interface (stop names and data are never translated).\n"
        "# Fill in msgstr only; after changing a template or script run: python scripts/i18n.py update"
    )
    catalog.creation_date = FIXED_DATE
    catalog.revision_date = FIXED_DATE
    catalog.project = PROJECT
    catalog.version = "1"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "StopSync"
    catalog.language_team = locale
    return catalog


def render(catalog: Catalog) -> tuple[bytes, bytes]:
    """The .po and .mo bytes for a catalog."""
    po = io.BytesIO()
    write_po(po, catalog, width=100, include_lineno=False, ignore_obsolete=True, sort_by_file=False)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    return po.getvalue(), mo.getvalue()


def untranslated(catalog: Catalog) -> list[str]:
    """msgids without a (non-fuzzy) translation in every plural form."""
    missing = []
    for message in catalog:
        if not message.id:
            continue  # the header
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy or not all(strings):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def plan() -> dict[Path, bytes]:
    """Every catalog file `update` would write, with its bytes."""
    outputs: dict[Path, bytes] = {}
    for domain in DOMAINS:
        template = extract(domain)
        for locale in LOCALES:
            catalog = merged(locale, domain, template)
            po, mo = render(catalog)
            path = po_path(locale, domain)
            outputs[path] = po
            outputs[path.with_suffix(".mo")] = mo
    return outputs


def problems() -> list[str]:
    """Why `check` fails: untranslated messages and files that differ from a fresh `update`."""
    found = []
    for path, content in plan().items():
        name = path.relative_to(ROOT).as_posix()
        if not path.exists():
            found.append(f"missing: {name} (run python scripts/i18n.py update)")
        elif path.read_bytes() != content:
            found.append(f"out of date: {name} (run python scripts/i18n.py update)")
        if path.suffix == ".po":
            with io.BytesIO(content) as handle:
                catalog = read_po(handle, locale=path.parts[-3])
            found.extend(f"untranslated in {name}: {msgid!r}" for msgid in untranslated(catalog))
    return found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "update":
        for path, content in plan().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        remaining = [p for p in problems() if p.startswith("untranslated")]
        print("\n".join(remaining) or "every message is translated")
        return 0
    if command == "check":
        found = problems()
        print("\n".join(found) or "catalogs up to date, every message translated")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
