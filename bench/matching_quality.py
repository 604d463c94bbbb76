"""Matching quality on the labelled real sample: precision and recall per method.

    .venv/bin/python -m bench.matching_quality

Two passes over tests/data/sample_pair (labels: `bench/build_labels.py`):
- "identifiers": the data as mapped. The exact stage should carry it.
- "blind": OSM identifiers (uic_ref, ref:sloid, ref:IFOPT, uic_name) removed, so only names and
  positions remain: this measures the name and distance stages on their own.
Per method: matches, correct (labelled same stop), wrong (labelled different stops), unlabelled;
precision = correct / (correct + wrong); pair recall = labelled pairs found / all labelled pairs;
stop recall = registry stops with at least one correct match / stops that have a labelled pair.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from bench.build_labels import load_sample
from bench.common import Figure, format_table
from pipeline.matching import match_stops
from pipeline.records import OsmObject

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests/data/sample_pair/labels.json"
IDENTIFIER_TAGS = ("uic_ref", "ref:sloid", "ref:IFOPT", "uic_name")


def strip_identifiers(obj: OsmObject) -> OsmObject:
    tags = {k: v for k, v in obj.tags.items() if k not in IDENTIFIER_TAGS}
    return dataclasses.replace(obj, tags=tags, uic_ref=None, ifopt=None, uic_name=None)


def evaluate(mode: str) -> tuple[list[tuple], list[Figure]]:
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    positives = {(p["sloid"], p["osm_key"]) for p in labels["positives"]}
    negatives = {(p["sloid"], p["osm_key"]) for p in labels["negatives"]}
    registry, osm = load_sample()
    if mode == "blind":
        osm = [strip_identifiers(o) for o in osm]
    result = match_stops(registry, osm)
    per_method: dict[str, dict[str, int]] = defaultdict(lambda: {"matches": 0, "correct": 0, "wrong": 0})
    found: set[tuple[str, str]] = set()
    for m in result.matches:
        row = per_method[m.method]
        row["matches"] += 1
        pair = (m.sloid, m.osm_key)
        if pair in positives:
            row["correct"] += 1
            found.add(pair)
        elif pair in negatives:
            row["wrong"] += 1
    stops_with_label = {s for s, _ in positives}
    stops_found = {s for s, _ in found}
    rows, figures = [], []
    total = {"matches": 0, "correct": 0, "wrong": 0}
    for method in sorted(per_method):
        r = per_method[method]
        for key in total:
            total[key] += r[key]
        judged = r["correct"] + r["wrong"]
        precision = r["correct"] / judged if judged else None
        recall = r["correct"] / len(positives)
        rows.append((mode, method, r["matches"], r["correct"], r["wrong"], precision, recall))
        figures.append(Figure(f"matching {mode}: {method} precision", precision, "", note=f"{judged} judged"))
        figures.append(Figure(f"matching {mode}: {method} pair recall", recall, ""))
    judged = total["correct"] + total["wrong"]
    precision = total["correct"] / judged if judged else None
    rows.append(
        (
            mode,
            "ALL",
            total["matches"],
            total["correct"],
            total["wrong"],
            precision,
            len(found) / len(positives),
        )
    )
    figures.append(
        Figure(f"matching {mode}: overall precision", precision, "", target=0.95, lower_is_better=False)
    )
    figures.append(Figure(f"matching {mode}: overall pair recall", len(found) / len(positives), ""))
    figures.append(
        Figure(
            f"matching {mode}: stop recall",
            len(stops_found) / len(stops_with_label),
            "",
            lower_is_better=False,
        )
    )
    return rows, figures


def run() -> list[Figure]:
    figures: list[Figure] = []
    for mode in ("identifiers", "blind"):
        figures.extend(evaluate(mode)[1])
    return figures


def main() -> None:
    labels = json.loads(LABELS.read_text(encoding="utf-8"))
    print(
        f"labelled set: {len(labels['positives'])} same-stop pairs, {len(labels['negatives'])} non-pairs "
        "(40 ATLAS traffic points, 125 OSM nodes)\n"
    )
    header = (
        f"{'mode':<12}{'method':<22}{'matches':>8}{'correct':>9}{'wrong':>7}{'precision':>11}{'recall':>8}"
    )
    print(header)
    print("-" * len(header))
    stop_recall = {}
    for mode in ("identifiers", "blind"):
        rows, figures = evaluate(mode)
        for m, method, n, ok, bad, p, r in rows:
            ptxt = "-" if p is None else f"{p:.3f}"
            print(f"{m:<12}{method:<22}{n:>8}{ok:>9}{bad:>7}{ptxt:>11}{r:>8.3f}")
        stop_recall[mode] = next(f.value for f in figures if f.name.endswith("stop recall"))
    print()
    for mode, value in stop_recall.items():
        print(f"stop recall ({mode}): {value:.3f}  (registry stops with at least one correct match)")
    print("\n" + format_table(run()))


if __name__ == "__main__":
    main()
