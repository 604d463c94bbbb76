"""Field-level diffs between a decision's stored evidence and today's, each entry saying whether the
policy lets it expire the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.geo import haversine_m
from pipeline.review.evidence import OSM_EVIDENCE_TAGS
from pipeline.review.policy import ATLAS_FIELDS, OSM_TAG_CATEGORIES, ExpiryPolicy

# Movements below this are float noise of a re-export, not a move.
_POSITION_EPSILON_M = 0.1


def _fmt(value: Any) -> str:
    return "(none)" if value in (None, "") else repr(value)


def _entry(
    policy: ExpiryPolicy,
    field_name: str,
    category: str,
    side: str,
    old: Any,
    new: Any,
    message: str,
    moved_m: float | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "field": field_name,
        "category": category,
        "side": side,
        "old": old,
        "new": new,
        "message": message,
        "expires": policy.expires(category, moved_m),
    }
    if moved_m is not None:
        entry["moved_m"] = round(moved_m, 1)
    return entry


def _moved(old: Mapping[str, Any], new: Mapping[str, Any]) -> float:
    return haversine_m(float(old["lat"]), float(old["lon"]), float(new["lat"]), float(new["lon"]))


def diff_atlas(old: Mapping[str, Any], new: Mapping[str, Any], policy: ExpiryPolicy) -> list[dict[str, Any]]:
    """Field-level differences of a registry stop between two evidence records."""
    out: list[dict[str, Any]] = []
    if old.get("stop_id") != new.get("stop_id"):
        out.append(
            _entry(
                policy,
                "atlas.stop_id",
                "identity",
                "atlas",
                old.get("stop_id"),
                new.get("stop_id"),
                f"registry stop_id changed: {old.get('stop_id')} → {new.get('stop_id')}",
            )
        )
    for key, category, label in ATLAS_FIELDS:
        if old.get(key) != new.get(key):
            out.append(
                _entry(
                    policy,
                    f"atlas.{key}",
                    category,
                    "atlas",
                    old.get(key),
                    new.get(key),
                    f"{label} changed: {_fmt(old.get(key))} → {_fmt(new.get(key))}",
                )
            )
    moved = _moved(old, new)
    if moved > _POSITION_EPSILON_M:
        out.append(
            _entry(
                policy,
                "atlas.position",
                "position",
                "atlas",
                [old["lat"], old["lon"]],
                [new["lat"], new["lon"]],
                f"ATLAS stop moved {moved:.0f} m",
                moved_m=moved,
            )
        )
    if not out and old.get("row_hash") != new.get("row_hash"):
        # Only worth a line when none of the fields we track explains the new hash.
        out.append(
            _entry(
                policy,
                "atlas.row_hash",
                "atlas_row",
                "atlas",
                old.get("row_hash"),
                new.get("row_hash"),
                "ATLAS row changed in columns StopSync does not compare",
            )
        )
    return out


def diff_osm(old: Mapping[str, Any], new: Mapping[str, Any], policy: ExpiryPolicy) -> list[dict[str, Any]]:
    """Field-level differences of an OSM object between two evidence records."""
    out: list[dict[str, Any]] = []
    old_key, new_key = old.get("osm_key"), new.get("osm_key")
    if old_key != new_key:
        out.append(
            _entry(
                policy,
                "osm.osm_key",
                "identity",
                "osm",
                old_key,
                new_key,
                f"OSM object replaced: {old_key} → {new_key}",
            )
        )
    elif old.get("version") != new.get("version"):
        out.append(
            _entry(
                policy,
                "osm.version",
                "version",
                "osm",
                old.get("version"),
                new.get("version"),
                f"OSM version {old.get('version')} → {new.get('version')}",
            )
        )
    old_tags, new_tags = old.get("tags") or {}, new.get("tags") or {}
    for tag in OSM_EVIDENCE_TAGS:
        before, after = old_tags.get(tag), new_tags.get(tag)
        if before == after:
            continue
        if before is None:
            message = f"OSM tag {tag} added: {_fmt(after)}"
        elif after is None:
            message = f"OSM tag {tag} removed (was {_fmt(before)})"
        else:
            message = f"OSM tag {tag} changed: {_fmt(before)} → {_fmt(after)}"
        out.append(_entry(policy, f"osm.tags.{tag}", OSM_TAG_CATEGORIES[tag], "osm", before, after, message))
    moved = _moved(old, new)
    if moved > _POSITION_EPSILON_M:
        kind = new.get("osm_type") or "object"
        out.append(
            _entry(
                policy,
                "osm.position",
                "position",
                "osm",
                [old["lat"], old["lon"]],
                [new["lat"], new["lon"]],
                f"OSM {kind} moved {moved:.0f} m",
                moved_m=moved,
            )
        )
    return out


def diff_evidence(
    old: Mapping[str, Any], new: Mapping[str, Any], policy: ExpiryPolicy
) -> list[dict[str, Any]]:
    """Every difference between the evidence a decision was made on and the current one."""
    out: list[dict[str, Any]] = []
    for side, differ in (("atlas", diff_atlas), ("osm", diff_osm)):
        before, after = old.get(side), new.get(side)
        if before and after:
            out.extend(differ(before, after, policy))
        elif before and not after:
            key = before.get("stop_id") if side == "atlas" else before.get("osm_key")
            out.append(
                _entry(
                    policy,
                    f"{side}.presence",
                    "presence",
                    side,
                    key,
                    None,
                    f"{'ATLAS stop' if side == 'atlas' else 'OSM object'} {key} no longer exists",
                )
            )
    old_d, new_d = old.get("distance_m"), new.get("distance_m")
    if old_d is not None and new_d is not None and abs(float(new_d) - float(old_d)) > _POSITION_EPSILON_M:
        change = abs(float(new_d) - float(old_d))
        out.append(
            _entry(
                policy,
                "distance_m",
                "distance",
                "problem",
                old_d,
                new_d,
                f"distance {float(old_d):.0f} m → {float(new_d):.0f} m",
                moved_m=change,
            )
        )
    old_p, new_p = old.get("priority"), new.get("priority")
    if old_p is not None and new_p is not None and old_p != new_p:
        out.append(
            _entry(policy, "priority", "priority", "problem", old_p, new_p, f"priority {old_p} → {new_p}")
        )
    return out
