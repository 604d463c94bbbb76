"""Labels the pages show for the codes stored in the database (match methods, problem types, decisions).

One table each, so the legend, the filters, the review keys and the stop pages agree. A code the
table does not know (a method added to the pipeline later) is still shown, under its raw name.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext

from app.i18n_markers import N_
from pipeline.problems import registry as problem_registry


@dataclass(frozen=True)
class Label:
    code: str
    label: str
    hint: str = ""


# In the matcher's order of trust: identifiers first, then names, then distance.
MATCH_METHODS: tuple[Label, ...] = (
    Label("manual", N_("Manual"), N_("linked by a person")),
    # The stored codes keep their ATLAS-era names (stored matches, the API vocabulary, the Swiss
    # golden file); what they mean is the registry's declared identifiers (RegistryDeclaration):
    # exact_sloid = its stop id (ATLAS sloid ↔ ref:IFOPT / ref:sloid, NaPTAN AtcoCode ↔
    # naptan:AtcoCode), exact_uic = its stop code (ATLAS UIC number ↔ uic_ref, NaPTAN NaptanCode ↔
    # naptan:NaptanCode), exact_uic_local_ref = that code shared by several stops + platform code.
    Label("exact_sloid", N_("Stop id"), N_("an OSM tag carries the registry's stop id")),
    Label("exact_uic", N_("Stop code"), N_("an OSM tag carries the registry's stop code, of this stop only")),
    Label(
        "exact_uic_local_ref",
        N_("Stop code + platform"),
        N_("the registry's stop code and the platform code both agree"),
    ),
    Label(
        "stop_area",
        N_("Stop area"),
        N_("in an OSM stop area whose other objects carry the stop's identifier"),
    ),
    Label("name", N_("Name"), N_("same or very similar name nearby")),
    Label("route", N_("Route"), N_("served by the same lines")),
    Label("distance_unique", N_("Distance (only one)"), N_("the only candidate nearby")),
    Label("distance_ratio", N_("Distance (clearly nearest)"), N_("much nearer than the next candidate")),
)

# From the problem type registry (`pipeline/problems/`): its labels are marked there (N_) and
# extracted into the catalogs with this module's (scripts/i18n.py).
PROBLEM_TYPES: tuple[Label, ...] = tuple(
    Label(problem_type.code, problem_type.label, problem_type.description)
    for problem_type in problem_registry.PROBLEM_TYPES
)

PRIORITIES: tuple[Label, ...] = (
    Label("1", N_("P1"), N_("fix first")),
    Label("2", N_("P2"), ""),
    Label("3", N_("P3"), N_("minor")),
)

# The registry's means of transport (app/services/vocabulary.py TRANSPORTS), as the filters show them.
TRANSPORTS: tuple[Label, ...] = (
    Label("BUS", N_("bus")),
    Label("TRAM", N_("tram")),
    Label("TRAIN", N_("train")),
    Label("METRO", N_("metro")),
    Label("RACK_RAILWAY", N_("rack railway")),
    Label("CABLE_RAILWAY", N_("cable railway")),
    Label("CABLE_CAR", N_("cable car")),
    Label("CHAIRLIFT", N_("chairlift")),
    Label("ELEVATOR", N_("elevator")),
    Label("BOAT", N_("boat")),
    Label("UNKNOWN", N_("unknown")),
)

# The number is the review page's keyboard shortcut.
DECISIONS: tuple[Label, ...] = (
    Label("fixed_in_osm", N_("Fixed in OSM"), N_("I corrected OpenStreetMap")),
    Label("atlas_wrong", N_("Registry wrong"), N_("the registry (ATLAS) is wrong; OSM is right")),
    Label("not_a_problem", N_("Not a problem"), N_("both sides are right")),
    Label("needs_survey", N_("Needs a survey"), N_("someone has to look on the ground")),
    Label(
        "osm_wrong_registry_right", N_("OSM wrong"), N_("OSM is wrong and the registry right; not fixed yet")
    ),
    Label(
        "wrong_match",
        N_("Wrong match"),
        N_("these two are different stops: unlink them from the next run on"),
    ),
)


# How a stop of a line compares with the partner line of the other side (app/services/routes.py).
ROUTE_STOP_STATUSES: tuple[Label, ...] = (
    Label("agree", N_("Agrees"), N_("the other side's line serves this stop too")),
    Label(
        "only_here",
        N_("Only on this side"),
        N_("the stop is known on both sides, but the other line does not serve it"),
    ),
    Label("unknown", N_("Cannot compare"), N_("not resolved to a registry stop, or not matched to one")),
    Label("no_partner", N_("No partner line"), N_("no line of the other side pairs with this one")),
)


def label_for(table: tuple[Label, ...], code: str | None) -> str:
    """Human label for a code in the request's language, or the code itself when the table does not
    know it."""
    if code is None:
        return ""
    for entry in table:
        if entry.code == code:
            return gettext(entry.label)
    return code


def as_dicts(table: tuple[Label, ...]) -> list[dict[str, str]]:
    """The table in a JSON-friendly shape, for the pages' scripts, in the request's language."""
    return [
        {"code": e.code, "label": gettext(e.label), "hint": gettext(e.hint) if e.hint else ""} for e in table
    ]
