"""Labels the pages show for the codes stored in the database (match methods, problem types, decisions).

One table each, so the legend, the filters, the review keys and the stop pages agree. A code the
table does not know (a method added to the pipeline later) is still shown, under its raw name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    code: str
    label: str
    hint: str = ""


# In the matcher's order of trust: identifiers first, then names, then distance.
MATCH_METHODS: tuple[Label, ...] = (
    Label("manual", "Manual", "linked by a person"),
    Label("exact_sloid", "SLOID tag", "OSM ref:sloid equals the registry SLOID"),
    Label("exact_uic", "UIC number", "OSM uic_ref equals the registry UIC number"),
    Label("exact_uic_local_ref", "UIC + platform", "same UIC number and platform code"),
    Label("stop_area", "Stop area", "in an OSM stop area whose other objects carry the stop's identifier"),
    Label("name", "Name", "same or very similar name nearby"),
    Label("route", "Route", "served by the same lines"),
    Label("distance_unique", "Distance (only one)", "the only candidate nearby"),
    Label("distance_ratio", "Distance (clearly nearest)", "much nearer than the next candidate"),
)

PROBLEM_TYPES: tuple[Label, ...] = (
    Label("distance", "Too far apart", "matched, but the positions disagree"),
    Label("unmatched", "Unmatched", "no counterpart on the other side"),
    Label("attributes", "Attributes differ", "name, UIC number or platform code disagree or are malformed"),
    Label("duplicates", "Duplicate", "the same stop appears twice on one side"),
    Label("manual_match_orphaned", "Manual link orphaned", "a manual link's stop or object no longer exists"),
    Label("route_contradiction", "Routes disagree", "matched, but timetable and OSM name other lines"),
)

PRIORITIES: tuple[Label, ...] = (
    Label("1", "P1", "fix first"),
    Label("2", "P2", ""),
    Label("3", "P3", "minor"),
)

# The number is the review page's keyboard shortcut.
DECISIONS: tuple[Label, ...] = (
    Label("fixed_in_osm", "Fixed in OSM", "I corrected OpenStreetMap"),
    Label("atlas_wrong", "Registry wrong", "the registry (ATLAS) is wrong; OSM is right"),
    Label("not_a_problem", "Not a problem", "both sides are right"),
    Label("needs_survey", "Needs a survey", "someone has to look on the ground"),
    Label("osm_wrong_registry_right", "OSM wrong", "OSM is wrong and the registry right; not fixed yet"),
    Label("wrong_match", "Wrong match", "these two are different stops: unlink them from the next run on"),
)


def label_for(table: tuple[Label, ...], code: str | None) -> str:
    """Human label for a code, or the code itself when the table does not know it."""
    if code is None:
        return ""
    for entry in table:
        if entry.code == code:
            return entry.label
    return code


def as_dicts(table: tuple[Label, ...]) -> list[dict[str, str]]:
    """The table in a JSON-friendly shape, for the pages' scripts."""
    return [{"code": e.code, "label": e.label, "hint": e.hint} for e in table]
