"""Name normalisation and scoring for the name stage.

Names in ATLAS and OSM differ in ways that do not make them different stops: case, diacritics,
abbreviations ("Bhf" / "Bahnhof", "Str." / "Strasse", "Pl." / "Place"), a municipality prefix
("Bex, Vasselin" vs "Vasselin") and an operator prefix ("PostAuto Vaduz"). `name_variants` returns
the normalised forms of a name; `name_score` compares two names over all variant pairs (0-100).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz

from pipeline.text import has_foreign_characters

# Whole-token abbreviations, applied after lower-casing and diacritic removal.
ABBREVIATIONS: dict[str, str] = {
    "bhf": "bahnhof",
    "bf": "bahnhof",
    "hbf": "hauptbahnhof",
    "str": "strasse",
    "pl": "place",
    "pza": "piazza",
    "st": "sankt",
    "ste": "sainte",
    "ch": "chemin",
    "av": "avenue",
    "rte": "route",
    "sta": "stazione",
    "stz": "stazione",
    "gare": "bahnhof",
    "stazione": "bahnhof",
    "staz": "bahnhof",
    "station": "bahnhof",
    "ctr": "centre",
    "center": "centre",
}

# Token endings that are abbreviations glued to a word ("Bahnhofstr" → "Bahnhofstrasse").
SUFFIXES: tuple[tuple[str, str], ...] = (("str", "strasse"), ("gasse", "gasse"), ("pl", "platz"))

# Operator names and abbreviations some mappers put in front of a stop name.
OPERATOR_PREFIXES: frozenset[str] = frozenset(
    {
        "sbb",
        "cff",
        "ffs",
        "pag",
        "postauto",
        "carpostal",
        "autopostale",
        "bls",
        "vbz",
        "tpg",
        "tl",
        "bvb",
        "vbl",
        "bernmobil",
        "rhb",
        "mgb",
        "zb",
        "sob",
        "llb",
        "tpf",
        "tpn",
        "ags",
    }
)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case, diacritics removed, "ß" → "ss", punctuation → single spaces."""
    text = text.replace("ß", "ss").replace("ẞ", "ss")
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", stripped).strip()


def _expand(token: str) -> str:
    if token in ABBREVIATIONS:
        return ABBREVIATIONS[token]
    for short, full in SUFFIXES:
        if len(token) > len(short) + 2 and token.endswith(short) and not token.endswith(full):
            return token[: -len(short)] + full
    return token


def normalise(text: str) -> str:
    """One canonical form: folded, abbreviations expanded."""
    return " ".join(_expand(tok) for tok in fold(text).split())


@lru_cache(maxsize=200_000)
def name_variants(name: str) -> tuple[str, ...]:
    """The normalised full name, without municipality prefix, and without operator prefix."""
    variants: list[str] = []
    full = normalise(name)
    if full:
        variants.append(full)
    if "," in name:
        stop_part = normalise(name.split(",", 1)[1])
        if stop_part and stop_part not in variants:
            variants.append(stop_part)
    tokens = full.split()
    if len(tokens) > 1 and tokens[0] in OPERATOR_PREFIXES:
        rest = " ".join(tokens[1:])
        if rest not in variants:
            variants.append(rest)
    return tuple(variants)


def name_score(a: str | None, b: str | None) -> float:
    """Similarity of two stop names, 0-100 (100 = the same after normalisation); 0 when one is missing."""
    if not a or not b:
        return 0.0
    best = 0.0
    for va in name_variants(a):
        for vb in name_variants(b):
            if va == vb:
                return 100.0
            score = fuzz.token_sort_ratio(va, vb)
            best = max(best, score)
    return round(best, 1)


def best_name_score(registry_name: str | None, osm_names: tuple[str | None, ...]) -> float:
    """The best score of a registry name against any of an OSM object's names (name, uic_name, ...)."""
    return max((name_score(registry_name, n) for n in osm_names if n), default=0.0)


def normalise_ref(ref: str | None) -> str | None:
    """A platform code in comparable form: "01" == "1", "a" == "A"; None when empty, or when it holds a
    character no platform code can ("²", which folding would turn into "2"; a control or bidi mark)."""
    if ref is None or has_foreign_characters(ref):
        return None
    folded = fold(ref).replace(" ", "")
    if not folded:
        return None
    return folded.lstrip("0") or "0"
