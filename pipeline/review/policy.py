"""The expiry policy: which evidence categories send a decision back to review when they change
(DECISION_EXPIRE_FIELDS), and how far a position may move without that (DECISION_MOVE_THRESHOLD_M).
"""

from __future__ import annotations

from dataclasses import dataclass

# Which category each compared field belongs to. The expiry policy is a set of categories.
ATLAS_FIELDS: tuple[tuple[str, str, str], ...] = (
    # (evidence key, category, label as the registry spells it)
    ("name", "name", "designationOfficial"),
    ("platform_code", "local_ref", "designation"),
    ("code", "uic_ref", "number"),
    ("operator_code", "operator", "operator"),
    ("modes", "transport", "meansOfTransport"),
)
OSM_TAG_CATEGORIES: dict[str, str] = {
    "name": "name",
    "uic_name": "name",
    "official_name": "name",
    "gtfs:name": "name",
    "uic_ref": "uic_ref",
    "local_ref": "local_ref",
    "ref": "local_ref",
    "ref:IFOPT": "identifier",
    "ref:sloid": "identifier",
    "operator": "operator",
    "network": "operator",
    "public_transport": "transport",
    "railway": "transport",
    "highway": "transport",
    "amenity": "transport",
    "aerialway": "transport",
}

# Categories a deployment can choose to expire decisions on (DECISION_EXPIRE_FIELDS).
POLICY_CATEGORIES: frozenset[str] = frozenset(
    {
        "position",
        "name",
        "uic_ref",
        "local_ref",
        "operator",
        "identifier",
        "transport",
        "version",
        "atlas_row",
        "distance",
        "priority",
    }
)
# A vanished object without a unique successor, or a reappeared problem, always needs a person.
ALWAYS_EXPIRE: frozenset[str] = frozenset({"presence", "reappeared"})
DEFAULT_EXPIRE_FIELDS = "position,name,uic_ref,local_ref,operator,identifier"
DEFAULT_MOVE_THRESHOLD_M = 10.0


@dataclass(frozen=True)
class ExpiryPolicy:
    """Which evidence categories expire a decision, and how far a position may move without expiring it."""

    categories: frozenset[str] = frozenset(DEFAULT_EXPIRE_FIELDS.split(","))
    move_threshold_m: float = DEFAULT_MOVE_THRESHOLD_M

    @classmethod
    def parse(cls, spec: str, move_threshold_m: float = DEFAULT_MOVE_THRESHOLD_M) -> ExpiryPolicy:
        """From a comma-separated list such as ``position,name,uic_ref``; raises ValueError on a typo."""
        categories = frozenset(part.strip() for part in spec.split(",") if part.strip())
        unknown = categories - POLICY_CATEGORIES
        if unknown:
            raise ValueError(
                f"unknown decision expiry fields {sorted(unknown)}; choose from {sorted(POLICY_CATEGORIES)}"
            )
        if move_threshold_m < 0:
            raise ValueError("the movement threshold must not be negative")
        return cls(categories=categories, move_threshold_m=move_threshold_m)

    def expires(self, category: str, moved_m: float | None = None) -> bool:
        if category in ALWAYS_EXPIRE:
            return True
        if category not in self.categories:
            return False
        if category in {"position", "distance"} and moved_m is not None:
            return moved_m > self.move_threshold_m
        return True
