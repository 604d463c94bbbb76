"""Name normalisation and scoring for the name stage.

Names in ATLAS and OSM differ in ways that do not make them different stops. Each rule below is general
(a class of spellings, never one stop), and each has a unit test in `tests/unit/test_name_rules.py`.

1. **Folding**: case, diacritics ("Zürich" = "Zurich"), "ß" = "ss", punctuation and hyphens = spaces.
2. **Abbreviations and language variants** (`ABBREVIATION_CLASSES`): every written form of a class is
   replaced by the class's canonical token, so "Bhf", "Bf", "Gare" and "Stazione" compare equal.

   | canonical | written forms (after folding) | why they are one thing |
   |---|---|---|
   | bahnhof | bahnhof, bhf, bf, gare, g, stazione, staz, stz, station, stn | railway station, de/fr/it/en |
   | hauptbahnhof | hauptbahnhof, hbf, hb | main station ("Zürich HB") |
   | strasse | strasse, str | street; also as a word ending: "Bahnhofstr." = "Bahnhofstrasse" |
   | gasse | gasse, gass | lane; Swiss German writes both ("Haldengass"); also as a word ending |
   | platz | platz, pl, place, piazza, pza | square, de/fr/it; also as a word ending ("Guisanpl.") |
   | st | sankt, st, saint, san, santo | saint (masculine), de/fr/it: "St. Gallen", "St-Imier" |
   | ste | sainte, ste | saint (feminine, fr) |
   | santa / bahnhof | sta | ambiguous: "Sta. Maria" (Santa) in ATLAS, "Sta." (Station) by mappers: both |
   | dorf | dorf, village, paese | the village centre, de/fr/it |
   | post | post, poste, posta, ptt | the post office stop, de/fr/it |
   | schulhaus | schulhaus, schulh, schulhs | school house |
   | abzweigung | abzweigung, abzw, abzweig, bifurcation, bif, bivio | road junction, de/fr/it |
   | talstation | talstation, talst, talstat | aerialway valley station |
   | bergstation | bergstation, bergst, bergstat | aerialway top station |
   | restaurant | restaurant, rest, ristorante, rist | restaurant |
   | zentrum | zentrum, zentr, centre, center, ctr, centro | centre, de/fr/it |
   | chemin / avenue / route | ch / av / rte | French street types |
   | bei | bei, b | "Blatten b. Naters" |
   | grand | grand, gd | French "Gd" |
   | kindergarten | kindergarten, kiga | "KiGa" |

3. **Variants** of one name (`scored_variants`), each with a penalty subtracted from its similarity:
   - the whole name (0);
   - the municipality prefix absent: "Vaduz, Post" also reads "Post" (0), on one side only:
     "Opfikon, Bahnhof" and "Glattbrugg, Bahnhof" are two stations;
   - a region or country code after the municipality absent: "Mauren FL, Binza" = "Mauren Binza" (0);
   - an operator prefix absent: "PostAuto Vaduz" = "Vaduz" (0);
   - a qualifier in parentheses absent: "Bissone (lago)" = "Bissone" (`QUALIFIER_PENALTY`);
   - a generic place word absent (`GENERIC_WORDS`: bahnhof, dorf): "Mittelmuhen, Bahnhof" = "Mittelmuhen",
     the station named after its place (`GENERIC_PENALTY`);
   - one part of a name made of alternatives "A/B": "Duxgass/Kresta" reads "Duxgass" and "Kresta"
     (`ALTERNATIVE_PENALTY`).
4. **Word order** does not count: "Bahnhof Mittelmuhen" = "Mittelmuhen, Bahnhof" (tokens are compared
   as a multiset).
5. **Truncated words**: ATLAS shortens words with a dot ("Cast. Montebello", "Kath. Kirche",
   "Luftseilb."); a word of 3+ letters with a dot stands for any word it begins
   (`TRUNCATION_PENALTY`).
6. **Similar, not equal** (`similarity`): the words both names share are set aside and only the rest is
   compared, so a shared municipality or "Bahnhof" does not make two stops alike; a name with an extra
   word and nothing else different is another stop ("Baden, Bahnhof" / "Baden, Bahnhof Ost",
   "Fribourg, Musy 4" / "Fribourg, Musy 24" after the shared words: "4" vs "24").

`name_score` compares two names over all variant pairs (0-100, 100 = the same after normalisation).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from functools import lru_cache

from rapidfuzz import fuzz

from pipeline.text import has_foreign_characters

# (canonical token, written forms): see the table in the module docstring.
ABBREVIATION_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bahnhof", ("bahnhof", "bhf", "bf", "gare", "g", "stazione", "staz", "stz", "station", "stn")),
    ("hauptbahnhof", ("hauptbahnhof", "hbf", "hb")),
    ("strasse", ("strasse", "str")),
    ("gasse", ("gasse", "gass")),
    ("platz", ("platz", "pl", "place", "piazza", "pza")),
    ("st", ("sankt", "st", "saint", "san", "santo")),
    ("ste", ("sainte", "ste")),
    ("santa", ("santa",)),
    ("dorf", ("dorf", "village", "paese")),
    ("post", ("post", "poste", "posta", "ptt")),
    ("schulhaus", ("schulhaus", "schulh", "schulhs")),
    ("abzweigung", ("abzweigung", "abzw", "abzweig", "bifurcation", "bif", "bivio")),
    ("talstation", ("talstation", "talst", "talstat")),
    ("bergstation", ("bergstation", "bergst", "bergstat")),
    ("restaurant", ("restaurant", "rest", "ristorante", "rist")),
    ("zentrum", ("zentrum", "zentr", "centre", "center", "ctr", "centro")),
    ("chemin", ("chemin", "ch")),
    ("avenue", ("avenue", "av")),
    ("route", ("route", "rte")),
    ("bei", ("bei", "b")),
    ("grand", ("grand", "gd")),
    ("kindergarten", ("kindergarten", "kiga")),
)

# Written forms with more than one meaning: each reading is a variant of its own (no penalty).
AMBIGUOUS: dict[str, tuple[str, ...]] = {"sta": ("santa", "bahnhof")}

# Whole-token forms → canonical token (built from the table above).
ABBREVIATIONS: dict[str, str] = {form: canon for canon, forms in ABBREVIATION_CLASSES for form in forms}

# Word endings that are a street type glued to a name ("Bahnhofstr" → "Bahnhofstrasse").
SUFFIXES: tuple[tuple[str, str], ...] = (("str", "strasse"), ("gass", "gasse"), ("pl", "platz"))

# Words that name the kind of place rather than the place: "X, Bahnhof" and "X" are often the same stop.
GENERIC_WORDS: frozenset[str] = frozenset({"bahnhof", "dorf"})

# Two-letter codes ATLAS appends to an ambiguous municipality ("Buchs SG", "Mauren FL"); OSM often omits them.
CANTON_CODES: frozenset[str] = frozenset(
    {"AG", "AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE", "NW", "OW", "SG"}
    | {"SH", "SO", "SZ", "TG", "TI", "UR", "VD", "VS", "ZG", "ZH", "FL"}
)

# Penalties (score points) of the looser variants: an exact reading always beats a looser one.
QUALIFIER_PENALTY = 5.0
TRUNCATION_PENALTY = 2.0
GENERIC_PENALTY = 5.0
ALTERNATIVE_PENALTY = 8.0

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
_WORD = re.compile(r"([0-9a-z]+)(\.?)")
_PARENTHESES = re.compile(r"\([^)]*\)")
_MAX_AMBIGUOUS_READINGS = 4


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
    """One canonical form: folded, abbreviations expanded (an ambiguous form takes its first reading)."""
    return " ".join(AMBIGUOUS[tok][0] if tok in AMBIGUOUS else _expand(tok) for tok in fold(text).split())


def _tokens(text: str) -> list[str]:
    """Folded words; a word of 3+ letters written with a dot keeps it ("Cast." → "cast."): a truncated
    word, which `similarity` lets stand for any word it begins."""
    out = []
    for match in _WORD.finditer(fold_keep_dots(text)):
        word, dot = match.group(1), match.group(2)
        known = word in ABBREVIATIONS or word in AMBIGUOUS or _expand(word) != word
        out.append(word + "." if dot and not known and len(word) >= 3 and word.isalpha() else word)
    return out


def fold_keep_dots(text: str) -> str:
    """`fold`, except that a dot after a word stays."""
    text = text.replace("ß", "ss").replace("ẞ", "ss")
    decomposed = unicodedata.normalize("NFKD", text.lower())
    if decomposed.isascii():
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=400_000)
def _readings(text: str) -> tuple[str, ...]:
    """Every canonical form of `text`: one per combination of readings of its ambiguous tokens."""
    options = [AMBIGUOUS.get(tok) or (_expand(tok),) for tok in _tokens(text)]
    combos = itertools.islice(itertools.product(*options), _MAX_AMBIGUOUS_READINGS)
    return tuple(" ".join(combo) for combo in combos if combo)


def _without_canton(municipality: str) -> str:
    """ "Mauren FL" → "Mauren": an upper-case region/country code after the first word is dropped."""
    words = municipality.split()
    kept = [w for i, w in enumerate(words) if i == 0 or w.strip(".") not in CANTON_CODES]
    return " ".join(kept)


@lru_cache(maxsize=200_000)
def scored_variants(name: str) -> tuple[tuple[str, float, bool], ...]:
    """The normalised readings of a name: (form, penalty of the rule that produced it, whether the
    municipality was dropped). See the module docstring, section 3. Best first, each form once."""
    found: dict[str, tuple[float, bool]] = {}

    def add_form(form: str, penalty: float, short: bool) -> None:
        if form and (penalty, short) < found.get(form, (float("inf"), True)):
            found[form] = (penalty, short)

    def add(text: str, penalty: float, short: bool) -> None:
        for form in _readings(text):
            add_form(form, penalty, short)
            tokens = form.split()
            if len(tokens) > 1 and tokens[0] in OPERATOR_PREFIXES:
                add_form(" ".join(tokens[1:]), penalty, short)
            generic_free = [t for t in tokens if t not in GENERIC_WORDS]
            if generic_free and len(generic_free) < len(tokens):
                add_form(" ".join(generic_free), penalty + GENERIC_PENALTY, short)

    head, sep, tail = name.partition(",")

    def add_with_parts(text: str, penalty: float, short: bool) -> None:
        add(text, penalty, short)
        bare = _PARENTHESES.sub(" ", text)
        if bare.strip() and bare != text:
            add(bare, penalty + QUALIFIER_PENALTY, short)
        if "/" in bare:
            # A part of "Municipality, A/B" may lack the municipality; a part of "A/B" lacks nothing.
            for part in bare.split("/"):
                if fold(part):
                    add(part, penalty + ALTERNATIVE_PENALTY, short or bool(sep))

    add_with_parts(name, 0.0, False)
    municipality = _without_canton(head)
    if municipality != head.strip():
        add_with_parts(municipality + sep + tail, 0.0, False)
    if sep and fold(tail):
        add_with_parts(tail, 0.0, True)
        if "/" in _PARENTHESES.sub(" ", tail):
            for part in _PARENTHESES.sub(" ", tail).split("/"):
                if fold(part):
                    add(f"{head} {part}", ALTERNATIVE_PENALTY, False)
    ranked = sorted(found.items(), key=lambda item: (item[1], item[0]))
    return tuple((form, penalty, short) for form, (penalty, short) in ranked)


@lru_cache(maxsize=200_000)
def full_forms(name: str) -> frozenset[tuple[str, ...]]:
    """The whole name, municipality included, as sorted tokens (one per reading, with and without a
    region code): two names share a full form when they are the same full name in another spelling."""
    head, sep, tail = name.partition(",")
    texts = {name, _without_canton(head) + sep + tail}
    return frozenset(tuple(sorted(form.split())) for text in texts for form in _readings(text) if form)


def same_full_name(registry_name: str | None, osm_name: str | None) -> bool:
    """True when the OSM name is the registry's full official name ("Ulmiz FR, Ausserdorf" =
    "Ulmiz Ausserdorf"), not only its stop part ("Ausserdorf") or a loose reading."""
    if not registry_name or not osm_name:
        return False
    return not full_forms(registry_name).isdisjoint(full_forms(osm_name))


def name_variants(name: str) -> tuple[str, ...]:
    """The normalised forms of a name (see `scored_variants`), best first."""
    return tuple(form for form, _penalty, _short in scored_variants(name))


def similarity(a: str, b: str) -> float:
    """Similarity (0-100) of two normalised forms, judged on the words they do not share.

    The same words in any order: 100. Otherwise the shared words are set aside and the rest compared
    (rapidfuzz `ratio`), so a long shared municipality does not make two stops alike:
    "triesenberg samina" vs "triesenberg almeina" compares "samina" with "almeina". When one side has
    words the other lacks and nothing else differs ("bahnhof" vs "bahnhof sud", "musy 24" vs "musy"),
    they are two stops: 0.
    """
    ta, tb = a.split(), b.split()
    if sorted(ta) == sorted(tb):
        return 100.0
    ca, cb = Counter(ta), Counter(tb)
    common = ca & cb
    rest_a, rest_b = sorted((ca - common).elements()), sorted((cb - common).elements())
    truncated = _absorb_truncations(rest_a, rest_b) + _absorb_truncations(rest_b, rest_a)
    if not rest_a and not rest_b:
        # The same up to truncated words ("cast." = "castello"): a prefix may begin several words.
        return 100.0 - TRUNCATION_PENALTY if truncated else 100.0
    if not rest_a or not rest_b:
        return 0.0
    return float(fuzz.ratio(" ".join(rest_a), " ".join(rest_b)))


def _absorb_truncations(short: list[str], full: list[str]) -> int:
    """Remove each truncated word of `short` ("cast.") with the first word of `full` it begins
    ("castello"), in place; the number removed."""
    removed = 0
    for word in [w for w in short if w.endswith(".")]:
        stem = word[:-1]
        for other in full:
            if not other.endswith(".") and len(other) > len(stem) and other.startswith(stem):
                short.remove(word)
                full.remove(other)
                removed += 1
                break
    return removed


@lru_cache(maxsize=400_000)
def name_score(a: str | None, b: str | None, loose: bool = True) -> float:
    """Similarity of two stop names, 0-100 (100 = the same after normalisation); 0 when one is missing.

    The best over all variant pairs of `similarity` (word order does not count, shared words set
    aside) minus the penalty of the variant. At most one side may use a loose (penalised) reading,
    none when `loose` is False (the strict score: folding, abbreviations, prefixes, region codes and
    word order only); at most one side may drop its municipality.
    """
    if not a or not b:
        return 0.0
    best = 0.0
    for va, pa, sa in scored_variants(a):
        if pa > 0 and not loose:
            continue
        for vb, pb, sb in scored_variants(b):
            if pb > 0 and not loose:
                continue
            # One loose reading per comparison: "Dietfurt, Bahnhof" and "Dietfurt, Dorf" both read
            # "Dietfurt" without their generic word, yet they are two stops. And the municipality may
            # be absent on one side only: "Opfikon, Bahnhof" is not "Glattbrugg, Bahnhof".
            if (pa > 0 and pb > 0) or (sa and sb) or 100.0 - pa - pb <= best:
                continue
            best = max(best, similarity(va, vb) - pa - pb)
            if best >= 100.0:
                return 100.0
    return round(max(best, 0.0), 1)


def best_name_score(
    registry_name: str | None, osm_names: tuple[str | None, ...], loose: bool = True
) -> float:
    """The best score of a registry name against any of an OSM object's names (name, uic_name, ...)."""
    return max((name_score(registry_name, n, loose) for n in osm_names if n), default=0.0)


def normalise_ref(ref: str | None) -> str | None:
    """A platform code in comparable form: "01" == "1", "a" == "A"; None when empty, or when it holds a
    character no platform code can ("²", which folding would turn into "2"; a control or bidi mark)."""
    if ref is None or has_foreign_characters(ref):
        return None
    folded = fold(ref).replace(" ", "")
    if not folded:
        return None
    return folded.lstrip("0") or "0"
