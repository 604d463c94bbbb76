"""Blind matching at national scale: real Swiss stop names and positions, an OSM side derived from them.

    .venv/bin/python -m bench --only quality-national   (about 10-20 s)

The labelled sets of `bench.matching_quality` are small; this checks the name and distance rules against
every real neighbour a stop has. Registry: the national ATLAS service-point export (2025-08-02, 50,399
stops kept). OSM side: `bench.pipeline_scale.derive_osm` (jitter, far moves, renames, municipality
dropped, abbreviations, stop positions, duplicates, unrelated objects at stated rates), with each
platform tagged by its stop's first mode (railway=halt, tram_stop, ferry_terminal, aerialway station or
bus_stop). Label: the stop a derived object was made from, known from the `uic_ref` it was given (an
object whose `uic_ref` the generator dropped is unlabelled). Then blind mode strips every identifier.
Synthetic perturbations, real names: read the figures as "how often do real neighbouring names fool the
rules", not as the recall on real OSM data (that is `bench.matching_quality`).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import Figure, format_table
from bench.matching_quality import MIN_PRECISION, strip_identifiers
from bench.pipeline_scale import SERVICE_POINTS, TODAY, derive_osm
from pipeline.matching import match_stops
from pipeline.sources import ParseOptions, get_source

SEED = 42
# Tags of a platform by the registry stop's first means of transport (anything else: a bus stop).
MODE_TAGS = {
    "TRAIN": {"railway": "halt"},
    "TRAM": {"railway": "tram_stop"},
    "BOAT": {"amenity": "ferry_terminal"},
    "CHAIRLIFT": {"aerialway": "station"},
    "CABLE_CAR": {"aerialway": "station"},
}


def run() -> list[Figure]:
    """Derive, strip, match, judge; print the wrong matches; return precision and recall figures."""
    zips = sorted(SERVICE_POINTS.glob("*.zip"))
    if not zips:
        return [Figure("national: not measured", None, "", note=f"missing {SERVICE_POINTS}")]
    options = ParseOptions(today=dt.date.fromisoformat(TODAY), uic_country_codes=None, boundary=None)
    registry = get_source("atlas").parse([zips[0]], options).records
    payload, _made = derive_osm(registry, SEED)
    by_number = {s.code: s for s in registry if s.code is not None}
    truth: dict[str, str] = {}
    for element in payload["elements"]:
        tags = element["tags"]
        source = by_number.get(int(tags["uic_ref"])) if "uic_ref" in tags else None
        if source is None:
            continue
        truth[f"node/{element['id']}"] = source.stop_id
        mode = (source.modes or "BUS").split("|")[0]
        if mode in MODE_TAGS and tags.get("public_transport") == "platform":
            tags.pop("highway", None)
            tags.update(MODE_TAGS[mode])
    with tempfile.TemporaryDirectory(prefix="stopsync-national-") as work:
        path = Path(work) / "osm_derived.json"
        path.write_text(json.dumps(payload), encoding="utf-8")
        objects = [strip_identifiers(o) for o in get_source("osm").parse([path], options).records]
    result = match_stops(registry, objects)
    stops = {s.stop_id: s for s in registry}
    names = {o.osm_key: o.name for o in objects}
    counts: Counter[str] = Counter()
    wrong = []
    for m in result.matches:
        label = truth.get(m.osm_key)
        verdict = "unlabelled" if label is None else "correct" if label == m.stop_id else "wrong"
        counts[verdict] += 1
        if verdict == "wrong":
            wrong.append(
                f"  {m.method}: {stops[m.stop_id].name!r} ~ {names[m.osm_key]!r} "
                f"(made from {stops[label].name!r}), {m.distance_m:.0f} m"
            )
    found = {(m.stop_id, m.osm_key) for m in result.matches}
    recall = sum(1 for key, stop_id in truth.items() if (stop_id, key) in found) / len(truth)
    judged = counts["correct"] + counts["wrong"]
    print(f"{len(registry)} registry stops, {len(objects)} derived OSM objects, {len(truth)} labelled")
    print(f"matches {len(result.matches)}: {dict(counts)}; wrong matches ({len(wrong)}):")
    print("\n".join(sorted(wrong)), flush=True)
    return [
        Figure(
            "national blind: precision",
            counts["correct"] / judged if judged else None,
            "",
            target=MIN_PRECISION,
            lower_is_better=False,
            note=f"{counts['wrong']} wrong of {judged} judged",
        ),
        Figure("national blind: pair recall", recall, "", note=f"of {len(truth)} labelled objects"),
    ]


def main() -> None:
    print("\n" + format_table(run()))


if __name__ == "__main__":
    main()
