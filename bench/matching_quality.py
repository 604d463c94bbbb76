"""Matching quality on labelled real data: precision, pair recall and stop recall, per set, mode and method.

    .venv/bin/python -m bench --only quality      (or: .venv/bin/python -m bench.matching_quality)

Sets and how their labels are derived: `bench/build_labels.py` (a platform-level sample and the stop-level
Liechtenstein demo). Two modes:
- "identifiers": the data as mapped; the exact stage should carry it.
- "blind": every OSM identifier removed (`uic_ref`, `uic_name`, `ref:IFOPT`, `ref:sloid`, `ref`, every
  `*:ref` key, and the same on stop-area relations), so only names, `local_ref` and positions remain, as
  for a new user's OSM extract.
Per method: matches; correct (a labelled same-stop pair), wrong (a labelled non-pair), unlabelled (an
object without identifiers: neither right nor wrong, counted); precision = correct / (correct + wrong);
pair recall = labelled pairs found / labelled pairs; stop recall = registry stops with at least one correct
match / registry stops with at least one labelled pair. Every wrong match is listed with both names and
the distance, and each target of issue 13 gets PASS or FAIL.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.build_labels import SETS, LabelledSet
from bench.common import Figure, format_table
from pipeline.geo import haversine_m
from pipeline.matching import match_stops
from pipeline.records import OsmObject

IDENTIFIER_KEYS = frozenset({"uic_ref", "uic_name", "ref:IFOPT", "ref:sloid", "ref"})
MODES = ("identifiers", "blind")

# Targets of issue 13 for blind mode, on every labelled set.
BLIND_MIN_PAIR_RECALL = 0.85
BLIND_MIN_STOP_RECALL = 0.97
MIN_PRECISION = 0.99
# Identifier mode before issue 13 (commit 1befaba, measured with this benchmark): must be no worse.
IDENTIFIER_BASELINE: dict[str, dict[str, float]] = {
    "sample_pair": {"precision": 1.0, "pair_recall": 94 / 96, "stop_recall": 1.0},
    "li_demo": {"precision": 388 / 389, "pair_recall": 1.0, "stop_recall": 1.0},
}


def is_identifier_key(key: str) -> bool:
    """An OSM key that identifies a stop rather than describes it (blind mode removes it)."""
    return key in IDENTIFIER_KEYS or key.endswith(":ref")


def strip_identifiers(obj: OsmObject) -> OsmObject:
    """The object as a blind matcher sees it: names, local_ref and position, no identifiers."""
    tags = {k: v for k, v in obj.tags.items() if not is_identifier_key(k)}
    return dataclasses.replace(obj, tags=tags, uic_ref=None, ifopt=None, uic_name=None)


def strip_structure(structure: Any) -> Any:
    """Stop-area relations without their identifiers (uic_ref, uic_name and identifier tags)."""
    if structure is None or not getattr(structure, "stop_areas", None):
        return structure
    areas = tuple(
        dataclasses.replace(
            area,
            uic_ref=None,
            uic_name=None,
            tags={k: v for k, v in area.tags.items() if not is_identifier_key(k)},
        )
        for area in structure.stop_areas
    )
    return dataclasses.replace(structure, stop_areas=areas)


def _match(registry: list, osm: list, structure: Any):
    """`match_stops`, with the OSM structure when the matcher takes one (the stop-area stage)."""
    if structure is not None and "osm_structure" in inspect.signature(match_stops).parameters:
        return match_stops(registry, osm, osm_structure=structure)
    return match_stops(registry, osm)


@dataclass
class Row:
    matches: int = 0
    correct: int = 0
    wrong: int = 0
    unlabelled: int = 0
    found_stops: set[str] = field(default_factory=set)


@dataclass
class Outcome:
    """The judged matches of one set in one mode."""

    labelled: LabelledSet
    mode: str
    rows: dict[str, Row]
    total: Row
    positives: int
    labelled_stops: int
    wrong: list[tuple[str, str, str, str, float]]  # method, registry name, OSM name, osm key, metres

    @staticmethod
    def precision(row: Row) -> float | None:
        judged = row.correct + row.wrong
        return row.correct / judged if judged else None

    def pair_recall(self, row: Row) -> float:
        return row.correct / self.positives if self.positives else 0.0

    def stop_recall(self, row: Row) -> float:
        return len(row.found_stops) / self.labelled_stops if self.labelled_stops else 0.0


def evaluate(labelled: LabelledSet, mode: str, use_structure: bool = True) -> Outcome:
    """Run the matcher on one set in one mode and judge every match against the labels.

    `use_structure=False` leaves the OSM relations out: the stages that need none, measured alone.
    """
    labels = json.loads(labelled.labels_file.read_text(encoding="utf-8"))
    positives = {(p["stop_id"], p["osm_key"]) for p in labels["positives"]}
    negatives = {(p["stop_id"], p["osm_key"]) for p in labels["negatives"]}
    registry, osm, structure = labelled.load()
    if mode == "blind":
        osm = [strip_identifiers(o) for o in osm]
        structure = strip_structure(structure)
    result = _match(registry, osm, structure if use_structure else None)
    stops = {s.stop_id: s for s in registry}
    objects = {o.osm_key: o for o in osm}
    rows: dict[str, Row] = defaultdict(Row)
    total = Row()
    wrong = []
    for m in result.matches:
        pair = (m.stop_id, m.osm_key)
        for row in (rows[m.method], total):
            row.matches += 1
            if pair in positives:
                row.correct += 1
                row.found_stops.add(m.stop_id)
            elif pair in negatives:
                row.wrong += 1
            else:
                row.unlabelled += 1
        if pair in negatives:
            s, o = stops[m.stop_id], objects[m.osm_key]
            distance = haversine_m(s.lat, s.lon, o.lat, o.lon)
            wrong.append((m.method, s.name or s.stop_id, o.name or "-", o.osm_key, distance))
    return Outcome(
        labelled=labelled,
        mode=mode,
        rows=dict(sorted(rows.items())),
        total=total,
        positives=len(positives),
        labelled_stops=len({s for s, _ in positives}),
        wrong=sorted(wrong),
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(outcomes: list[Outcome]) -> list[str]:
    """The per set x mode x method table, the wrong matches and the verdict per target, as text lines."""
    head = (
        f"{'set':<12}{'mode':<12}{'method':<22}{'matches':>8}{'correct':>8}{'wrong':>6}"
        f"{'unlab.':>7}{'precision':>10}{'pair rec.':>10}{'stop rec.':>10}"
    )
    lines = [head, "-" * len(head)]
    for out in outcomes:
        for method, row in [*out.rows.items(), ("ALL", out.total)]:
            lines.append(
                f"{out.labelled.name:<12}{out.mode:<12}{method:<22}{row.matches:>8}{row.correct:>8}"
                f"{row.wrong:>6}{row.unlabelled:>7}{_fmt(out.precision(row)):>10}"
                f"{_fmt(out.pair_recall(row)):>10}{_fmt(out.stop_recall(row)):>10}"
            )
    lines.append("")
    wrong = [(out, w) for out in outcomes for w in out.wrong]
    lines.append(f"wrong matches: {len(wrong)}")
    for out, (method, reg_name, osm_name, key, metres) in wrong:
        lines.append(
            f"  {out.labelled.name} {out.mode} {method}: {reg_name!r} ~ {osm_name!r} ({key}), {metres:.0f} m"
        )
    lines.append("")
    for name, ok, text in verdicts(outcomes):
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name}: {text}")
    return lines


def verdicts(outcomes: list[Outcome]) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for every target of issue 13 on every set."""
    out = []
    for o in outcomes:
        p, pr, sr = o.precision(o.total), o.pair_recall(o.total), o.stop_recall(o.total)
        tag = f"{o.labelled.name} {o.mode}"
        if o.mode == "blind":
            out.append((f"{tag} precision >= {MIN_PRECISION}", p is None or p >= MIN_PRECISION, _fmt(p)))
            out.append(
                (f"{tag} pair recall >= {BLIND_MIN_PAIR_RECALL}", pr >= BLIND_MIN_PAIR_RECALL, _fmt(pr))
            )
            out.append(
                (f"{tag} stop recall >= {BLIND_MIN_STOP_RECALL}", sr >= BLIND_MIN_STOP_RECALL, _fmt(sr))
            )
        else:
            base = IDENTIFIER_BASELINE[o.labelled.name]
            for key, value in (("precision", p), ("pair_recall", pr), ("stop_recall", sr)):
                ok = value is not None and value >= base[key] - 1e-9
                out.append((f"{tag} {key} no worse than before ({base[key]:.3f})", ok, _fmt(value)))
    return out


def _figures(outcomes: list[Outcome]) -> list[Figure]:
    figures = []
    for o in outcomes:
        tag = f"{o.labelled.name} {o.mode}"
        blind = o.mode == "blind"
        base = IDENTIFIER_BASELINE[o.labelled.name]
        precision = o.precision(o.total)
        figures += [
            Figure(
                f"{tag}: precision",
                precision,
                "",
                target=MIN_PRECISION if blind else base["precision"],
                lower_is_better=False,
                note=f"{o.total.correct + o.total.wrong} judged, {o.total.unlabelled} unlabelled",
            ),
            Figure(
                f"{tag}: pair recall",
                o.pair_recall(o.total),
                "",
                target=BLIND_MIN_PAIR_RECALL if blind else base["pair_recall"],
                lower_is_better=False,
                note=f"{o.total.correct} of {o.positives} pairs",
            ),
            Figure(
                f"{tag}: stop recall",
                o.stop_recall(o.total),
                "",
                target=BLIND_MIN_STOP_RECALL if blind else base["stop_recall"],
                lower_is_better=False,
                note=f"{len(o.total.found_stops)} of {o.labelled_stops} stops",
            ),
        ]
    return figures


def measure() -> list[Outcome]:
    """Every set in every mode."""
    return [evaluate(labelled, mode) for labelled in SETS for mode in MODES]


def run() -> list[Figure]:
    """`python -m bench` entry: print the report (the parent shows it) and return the figures."""
    outcomes = measure()
    print("\n".join(report(outcomes)), flush=True)
    return _figures(outcomes)


def main() -> None:
    figures = run()
    print("\n" + format_table(figures))


if __name__ == "__main__":
    main()
