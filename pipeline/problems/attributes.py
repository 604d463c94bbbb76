"""`attributes`: a matched pair whose identifiers, names, platform codes or operators disagree, or
whose OSM identifiers are malformed.

- `attributes` (a match): P1 `uic_ref` ≠ number, or `uic_name` ≠ official name (case-insensitive);
  P2 `local_ref` ≠ platform_code; P3 operator differs, or `name` differs (only when there is no
  `uic_name`, name score below NAME_MISMATCH_BELOW). A malformed `uic_ref` (P1, or P2 when the
  registry has no number) or `local_ref` (P2) is a mismatch marked `"malformed": <why>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pipeline.declarations import declaration_for
from pipeline.matching.context import parse_uic
from pipeline.matching.normalize import fold, name_score, normalise_ref
from pipeline.problems.base import N_, ProblemContext, ProblemType
from pipeline.records import OsmObject, ProblemRecord, RegistryStop, problem_identity
from pipeline.text import has_foreign_characters

NAME_MISMATCH_BELOW = 70.0  # `name` (when there is no uic_name) counts as different below this score


# Operator spellings that mean the same company (OSM `operator` → registry abbreviation).
OPERATOR_ALIASES: dict[str, str] = {
    "cff": "sbb",
    "ffs": "sbb",
    "sbb cff ffs": "sbb",
    "schweizerische bundesbahnen": "sbb",
    "postauto": "pag",
    "carpostal": "pag",
    "autopostale": "pag",
    "postauto ag": "pag",
    "postauto schweiz": "pag",
    "liemobil": "vlm",  # Verkehrsbetrieb LIECHTENSTEINmobil
    "liechtensteinmobil": "vlm",
}


_COMMA = re.compile(r"\s*,\s*")
_SPACES = re.compile(r"\s+")


def _same_name(a: str, b: str) -> bool:
    """Equal up to case and spacing around commas and words ("Bern,  Bahnhof" == "bern, bahnhof")."""

    def canon(text: str) -> str:
        return _SPACES.sub(" ", _COMMA.sub(",", text.strip().lower()))

    return canon(a) == canon(b)


def _same_operator(stop: RegistryStop, operator: str) -> bool:
    osm_op = fold(operator)
    osm_op = OPERATOR_ALIASES.get(osm_op, osm_op)
    names = {fold(n) for n in (stop.operator_code, stop.operator_name) if n}
    names = {OPERATOR_ALIASES.get(n, n) for n in names}
    if osm_op in names:
        return True
    # "SBB" vs "SBB CFF FFS", "BLS" vs "BLS AG": one contains the other as whole words.
    return any(f" {n} " in f" {osm_op} " or f" {osm_op} " in f" {n} " for n in names if n)


MALFORMED_UIC_REF = "not a UIC number (ASCII digits 0-9 only)"
MALFORMED_LOCAL_REF = "holds a character no platform code can (a non-ASCII digit, a control or bidi mark)"


def malformed_uic_ref(value: str | None) -> bool:
    """A `uic_ref` that is neither a number nor a `;` list of numbers ("85O3000", "²", "8503000 A").

    Such a value is never an identifier for the matcher; it is reported as an attribute problem so a
    mapper can repair it. A `;` list is OSM's way of giving several values, not a typo.
    """
    if not value or not value.strip():
        return False
    return any(parse_uic(part) is None for part in value.split(";"))


def malformed_local_ref(value: str | None) -> bool:
    """A `local_ref` the matcher cannot use as a platform code although it is not empty."""
    return bool(value and value.strip()) and has_foreign_characters(value)


def malformed_tags(obj: OsmObject) -> dict[str, list[str]]:
    """`{"malformed": [tag, ...]}` naming the identifier tags of `obj` that are malformed, or {}."""
    bad = [
        tag
        for tag, malformed in (
            ("uic_ref", malformed_uic_ref(obj.uic_ref)),
            ("local_ref", malformed_local_ref(obj.local_ref)),
        )
        if malformed
    ]
    return {"malformed": bad} if bad else {}


def attribute_mismatches(stop: RegistryStop, obj: OsmObject) -> list[dict[str, Any]]:
    """Every attribute on which the pair disagrees, each with its priority. Only present values count.

    A malformed OSM identifier (`malformed_uic_ref`, `malformed_local_ref`) is a mismatch even when the
    registry has no value to compare with, marked `"malformed": <why>`.
    """
    out: list[dict[str, Any]] = []
    # Identifier and official-name tags are the stop's registry's (`RegistryDeclaration`): ATLAS's UIC
    # number in `uic_ref` and name in `uic_name`; another registry's code in its own tag.
    registry = declaration_for(stop.source)
    code_tags = registry.code.osm_tags if registry.code is not None else ()
    if "uic_ref" in code_tags:
        osm_uic = parse_uic(obj.uic_ref)
        if malformed_uic_ref(obj.uic_ref):
            out.append(
                {
                    "attribute": "uic_ref",
                    "registry": stop.code_number,
                    "osm": obj.uic_ref,
                    "malformed": MALFORMED_UIC_REF,
                    "priority": 1 if stop.code_number is not None else 2,
                }
            )
        elif obj.uic_ref and stop.code_number is not None and osm_uic != stop.code_number:
            out.append(
                {"attribute": "uic_ref", "registry": stop.code_number, "osm": obj.uic_ref, "priority": 1}
            )
    elif registry.code is not None and stop.code is not None:
        own = registry.code.normalise(stop.code)
        for tag, value in registry.code.of_osm(obj).items():
            if value != own:
                out.append({"attribute": tag, "registry": stop.code, "osm": obj.tags.get(tag), "priority": 1})
    official = stop.name
    official_tag = "uic_name" if "uic_name" in registry.name_tags else None
    if official and official_tag and obj.uic_name:
        if not _same_name(official, obj.uic_name):
            out.append({"attribute": "uic_name", "registry": official, "osm": obj.uic_name, "priority": 1})
    elif official and obj.name:
        score = name_score(official, obj.name)
        if score < NAME_MISMATCH_BELOW:
            out.append(
                {"attribute": "name", "registry": official, "osm": obj.name, "score": score, "priority": 3}
            )
    reg_ref, osm_ref = normalise_ref(stop.platform_code), normalise_ref(obj.local_ref)
    if malformed_local_ref(obj.local_ref):
        out.append(
            {
                "attribute": "local_ref",
                "registry": stop.platform_code,
                "osm": obj.local_ref,
                "malformed": MALFORMED_LOCAL_REF,
                "priority": 2,
            }
        )
    elif reg_ref is not None and osm_ref is not None and reg_ref != osm_ref:
        out.append(
            {"attribute": "local_ref", "registry": stop.platform_code, "osm": obj.local_ref, "priority": 2}
        )
    if obj.operator and (stop.operator_code or stop.operator_name) and not _same_operator(stop, obj.operator):
        out.append(
            {"attribute": "operator", "registry": stop.operator_code, "osm": obj.operator, "priority": 3}
        )
    return out


def detect(ctx: ProblemContext) -> Iterable[ProblemRecord]:
    for m in ctx.matches:
        stop, obj = ctx.stop_by_id[m.key], ctx.obj_by_key[m.osm_key]
        mismatches = attribute_mismatches(stop, obj)
        if not mismatches:
            continue
        names = ", ".join(x["attribute"] + (" (malformed)" if x.get("malformed") else "") for x in mismatches)
        yield ProblemRecord(
            identity=problem_identity("attributes", m.stop_id, m.osm_key, m.source),
            problem_type="attributes",
            priority=min(x["priority"] for x in mismatches),
            stop_id=m.stop_id,
            source=m.source,
            osm_key=m.osm_key,
            operator_code=stop.operator_code,
            distance_m=m.distance_m,
            message=f"{stop.name or m.stop_id} and {m.osm_key} disagree on {names}",
            details={"mismatches": mismatches, "method": m.method},
            lat=stop.lat,
            lon=stop.lon,
        )


TYPE = ProblemType(
    code="attributes",
    label=N_("Attributes differ"),
    description=N_("name, UIC number or platform code disagree or are malformed"),
    priority_rule="P1 uic_ref or uic_name differ (or uic_ref malformed); P2 local_ref differs or is "
    "malformed; P3 operator or name differ",
    pair=True,
    detect=detect,
)
