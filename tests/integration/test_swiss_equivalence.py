"""The Swiss path behaves as it did before the registry-agnostic core.

The bundled Liechtenstein demo is run through the real pipeline twice (first import, then a
re-import after people recorded decisions), and the matches, problems, decisions and a set of API
answers are compared with `tests/data/swiss_equivalence/golden.json`. The golden file was written by
this same test on the code before the change (commit 2384c35, with `STOPSYNC_WRITE_GOLDEN=1`), so the
comparison is old code against new code on the same real data.

Field names changed with the registry rename (`sloid` → `stop_id`, `designation` → `platform_code`, ...):
`canonical()` maps both generations onto the new names, then drops values that differ by nature
between two runs (row ids, timestamps, run ids). Everything else must be equal. Keys a newer answer
adds (such as `source`) are allowed; keys that disappear are not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.factories import login_as

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data/demo"
GOLDEN = ROOT / "tests/data/swiss_equivalence/golden.json"

# Old key → new key (CONTRACT of the registry rename).
RENAMED_KEYS = {
    "sloid": "stop_id",
    "parent_sloid": "parent_id",
    "designation": "platform_code",
    "designation_official": "name",
    "uic_number": "code",
    "canton": "region",
    "operator_abbr": "operator_code",
    "means_of_transport": "modes",
    "atlas_stops": "registry_stops",
}
# Values that differ between two runs of the same data by nature.
VOLATILE_KEYS = frozenset(
    {
        "id",
        "decision_id",
        "run_id",
        "run_uuid",
        "created_at",
        "updated_at",
        "decided_at",
        "recorded_at",
        "at",
        "generated_at",
        "last_run",
        "last_import",
        "imported_at",
        "started_at",
        "finished_at",
        "snapshot",
        "snapshot_id",
        "duration_s",
        "next_cursor",
        "author",  # the test's user is `user<N>`, N counting the users the test session created
        # The run record inside /stats: stage timings and internal counters, not an answer about stops.
        "last_successful_run",
    }
)
STOP_PAGES = ("ch:1:sloid:10305", "ch:1:sloid:10770", "ch:1:sloid:74393")
SEARCHES = ("Vaduz", "Schaan Bahnhof", "8500")


def canonical(value: Any) -> Any:
    """Map an answer of either generation onto the new field names, without the volatile values."""
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in VOLATILE_KEYS:
            continue
        new_key = RENAMED_KEYS.get(key, key)
        if new_key == "code" and isinstance(item, int):
            item = str(item)
        if key == "source" and isinstance(item, str) and item.startswith("atlas:"):
            out["dataset"] = item.split(":", 1)[1]
            out["source"] = "atlas"
            continue
        out[new_key] = canonical(item)
    return out


def contained(golden: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences where `actual` does not carry what `golden` carries (extra keys in `actual` allowed)."""
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        out: list[str] = []
        for key, item in golden.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
                continue
            out.extend(contained(item, actual[key], f"{path}.{key}"))
        return out
    if isinstance(golden, list):
        if not isinstance(actual, list) or len(golden) != len(actual):
            size = len(actual) if isinstance(actual, list) else "-"
            return [f"{path}: expected a list of {len(golden)}, got {size}"]
        out = []
        for index, (item, other) in enumerate(zip(golden, actual, strict=True)):
            out.extend(contained(item, other, f"{path}[{index}]"))
        return out
    if isinstance(golden, float) and isinstance(actual, (int, float)):
        return (
            [] if abs(golden - actual) <= 1e-6 * max(1.0, abs(golden)) else [f"{path}: {golden} != {actual}"]
        )
    return [] if golden == actual else [f"{path}: {golden!r} != {actual!r}"]


def run_demo(app) -> None:
    """`flask pipeline run --source-dir data/demo`, wherever the command group lives (it moved to `runs/`)."""
    try:
        from runs.cli import pipeline_cli

        args: dict[str, Any] = {"cli": pipeline_cli, "args": ["run", "--source-dir", str(DEMO)]}
    except ImportError:  # the code before the change (2384c35), which wrote the golden file
        args = {"args": ["pipeline", "run", "--source-dir", str(DEMO)]}
    result = app.test_cli_runner().invoke(**args)
    assert result.exit_code == 0, result.output


def all_problems(client) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/problems", query_string=query).get_json()
        problems.extend(body["problems"])
        cursor = body.get("next_cursor")
        if not cursor:
            return sorted(problems, key=lambda p: p["identity"])


def match_rows(client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/exports/matches.geojson")
    assert response.status_code == 200
    rows = [feature["properties"] for feature in response.get_json()["features"]]
    return sorted(canonical(rows), key=lambda row: (row.get("stop_id") or "", row.get("osm_key") or ""))


def capture(app, client) -> dict[str, Any]:
    """Run the demo, decide on five problems, re-import, and read back everything a user sees."""
    run_demo(app)
    _, token = login_as(client, "editor")
    decided = [p["identity"] for p in all_problems(client)[:10:2]]
    for identity, decision in zip(
        decided,
        ["not_a_problem", "fixed_in_osm", "needs_survey", "osm_wrong_registry_right", "not_a_problem"],
        strict=True,
    ):
        response = client.post(
            "/api/v1/decisions",
            json={"problem_identity": identity, "decision": decision, "note": "equivalence"},
            headers={"X-CSRF-Token": token},
        )
        assert response.status_code in (200, 201), response.get_json()
    run_demo(app)
    answers: dict[str, Any] = {
        "matches": match_rows(client),
        "problems": canonical(all_problems(client)),
        "decisions": canonical(
            sorted(
                client.get("/api/v1/decisions").get_json()["decisions"], key=lambda d: d["problem_identity"]
            )
        ),
        "stats": canonical(client.get("/api/v1/stats").get_json()),
    }
    for sloid in STOP_PAGES:
        answers[f"stop {sloid}"] = canonical(client.get(f"/api/v1/stops/atlas/{sloid}").get_json())
    for term in SEARCHES:
        answers[f"search {term}"] = canonical(
            client.get("/api/v1/search", query_string={"q": term}).get_json()
        )
    return answers


def test_the_swiss_demo_gives_the_same_matches_problems_decisions_and_answers_as_before(app, client):
    answers = capture(app, client)
    if os.environ.get("STOPSYNC_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(answers, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        return  # only ever on the old code (2384c35), never in CI
    golden = canonical(json.loads(GOLDEN.read_text()))  # the same mapping on both sides
    assert set(golden) <= set(answers)
    differences = [d for key in golden for d in contained(golden[key], answers[key], key)]
    assert not differences, "\n".join(differences[:40]) + f"\n({len(differences)} differences)"
