"""Decisions and manual links that notice change: evidence, field-level diffs, successors. Pure.

A person's decision on a problem (or a manual link between two stops) was made on *evidence*: the
registry row, the OSM object (version, position, the tags that matter) and the distance between
them. Every import replaces the snapshot; this module compares each decision's stored evidence with
the new snapshot and says what should happen to it, without touching a database:

* evidence unchanged                     → untouched (no write, no event);
* evidence changed in a field the policy
  says expires a decision                → ``needs_review`` with a field-level diff;
* changed only in other fields           → untouched (the diff is recomputed from the original
                                           evidence every run, so nothing is lost);
* problem gone after ``fixed_in_osm``    → ``verified_fixed`` (with the verifying run);
* problem gone otherwise                 → kept as history, untouched;
* a ``wrong_match`` pair matched again    → ``needs_review`` (its manual unlink no longer holds);
* an object of the decision vanished     → follow its successor found by stable references
  (identity migration); 0 or ≥2 successors → ``needs_review`` with the reason, never a guess.

The app layer (`app/services/evidence.py`, `app/services/manual_matches.py`) loads rows, calls these
functions and writes the outcomes. Evidence is plain JSON so it survives schema changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pipeline.geo import haversine_m
from pipeline.matching.normalize import normalise, normalise_ref
from pipeline.records import ManualLink, OsmObject, ProblemRecord, RegistryStop, problem_identity

EVIDENCE_VERSION = 1

# The OSM tags a decision depends on; other tags only show up through the version number.
OSM_EVIDENCE_TAGS: tuple[str, ...] = (
    "name",
    "uic_name",
    "official_name",
    "gtfs:name",
    "uic_ref",
    "local_ref",
    "ref",
    "ref:IFOPT",
    "ref:sloid",
    "operator",
    "network",
    "public_transport",
    "railway",
    "highway",
    "amenity",
    "aerialway",
)

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

# Movements below this are float noise of a re-export, not a move.
_POSITION_EPSILON_M = 0.1
# A successor found "by name nearby" must lie within this distance of the vanished object.
SUCCESSOR_RADIUS_M = 50.0

DECISION_FIXED_IN_OSM = "fixed_in_osm"
# "These two are different stops": recorded with a manual unlink of the pair (app/services/decisions.py).
DECISION_WRONG_MATCH = "wrong_match"
STATUS_ACTIVE = "active"
STATUS_NEEDS_REVIEW = "needs_review"
STATUS_VERIFIED_FIXED = "verified_fixed"
MANUAL_ORPHANED_TYPE = "manual_match_orphaned"


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------


class RegistryLike(Protocol):
    """A registry stop: `RegistryStop` or an `RegistryStopRow` row (same attribute names)."""

    stop_id: str
    code: str | None
    platform_code: str | None
    name: str | None
    operator_code: str | None
    modes: str | None
    lat: float
    lon: float
    row_hash: str


class OsmLike(Protocol):
    """An OSM object: `OsmObject` or an `OsmStop` row (same attribute names)."""

    osm_key: str
    osm_type: str
    version: int | None
    tags: dict[str, str]
    lat: float
    lon: float


def atlas_evidence(stop: RegistryLike) -> dict[str, Any]:
    """What a decision knows about the registry stop it was made on."""
    return {
        "stop_id": stop.stop_id,
        "row_hash": stop.row_hash,
        "code": stop.code,
        "platform_code": stop.platform_code,
        "name": stop.name,
        "operator_code": stop.operator_code,
        "modes": stop.modes,
        "lat": stop.lat,
        "lon": stop.lon,
    }


def osm_evidence(obj: OsmLike) -> dict[str, Any]:
    """What a decision knows about the OSM object it was made on: key, version, position, relevant tags."""
    tags = obj.tags or {}
    return {
        "osm_key": obj.osm_key,
        "osm_type": obj.osm_type,
        "version": obj.version,
        "lat": obj.lat,
        "lon": obj.lon,
        "tags": {k: tags[k] for k in OSM_EVIDENCE_TAGS if tags.get(k) not in (None, "")},
    }


def build_evidence(
    problem_type: str,
    identity: str,
    stop: RegistryLike | None,
    obj: OsmLike | None,
    problem: ProblemRecord | Any | None = None,
) -> dict[str, Any]:
    """The full evidence record stored with a decision (plain JSON)."""
    distance = getattr(problem, "distance_m", None) if problem is not None else None
    if distance is None and stop is not None and obj is not None:
        distance = round(haversine_m(stop.lat, stop.lon, obj.lat, obj.lon), 2)
    return {
        "version": EVIDENCE_VERSION,
        "problem_identity": identity,
        "problem_type": problem_type,
        "priority": getattr(problem, "priority", None) if problem is not None else None,
        "problem_present": problem is not None,
        "distance_m": distance,
        "atlas": atlas_evidence(stop) if stop is not None else None,
        "osm": osm_evidence(obj) if obj is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# Policy and diffs
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The new snapshot and successor search (identity migration)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Successor:
    """The result of looking for the object that replaced a vanished one."""

    status: Literal["found", "none", "ambiguous"]
    key: str | None = None
    rule: str | None = None
    candidates: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.status == "found":
            return f"successor {self.key} found by {self.rule}"
        if self.status == "ambiguous":
            return f"{len(self.candidates)} possible successors ({', '.join(self.candidates)}) by {self.rule}"
        return "no successor found by ref:IFOPT/ref:sloid, uic_ref + local_ref or same name nearby"


def _norm_name(value: str | None) -> str | None:
    if not value:
        return None
    return normalise(value) or None


def _roles_compatible(old_tags: Mapping[str, str], obj: OsmObject) -> bool:
    """A platform is not succeeded by a stop position (and vice versa); a node may become a way."""
    before = old_tags.get("public_transport")
    return before is None or obj.public_transport is None or before == obj.public_transport


class Snapshot:
    """The new snapshot as lookups, with the successor indexes built only when first needed."""

    def __init__(
        self,
        registry: Iterable[RegistryStop],
        osm: Iterable[OsmObject],
        problems: Iterable[ProblemRecord] = (),
    ) -> None:
        self.registry: dict[str, RegistryStop] = {s.stop_id: s for s in registry}
        self.osm: dict[str, OsmObject] = {o.osm_key: o for o in osm}
        self.problems: dict[str, ProblemRecord] = {p.identity: p for p in problems}
        self._osm_indexed = False
        self._registry_indexed = False

    # -- OSM ----------------------------------------------------------------------------------

    def _index_osm(self) -> None:
        if self._osm_indexed:
            return
        self._osm_by_ident: dict[str, list[str]] = defaultdict(list)
        self._osm_by_uic_ref: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self._osm_by_name: dict[str, list[str]] = defaultdict(list)
        for key, obj in self.osm.items():
            for ident in {obj.ifopt, obj.sloid_tag}:
                if ident:
                    self._osm_by_ident[ident.strip()].append(key)
            if obj.uic_ref:
                local = normalise_ref(obj.local_ref or obj.tags.get("ref"))
                self._osm_by_uic_ref[(obj.uic_ref.strip(), local)].append(key)
            for name in {_norm_name(obj.name), _norm_name(obj.uic_name)}:
                if name:
                    self._osm_by_name[name].append(key)
        self._osm_indexed = True

    def osm_successor(self, old: Mapping[str, Any], exclude: Iterable[str] = ()) -> Successor:
        """The OSM object that replaced `old` (OSM evidence), by stable references, in rule order.

        1. ``ref:IFOPT`` / ``ref:sloid`` equal; 2. ``uic_ref`` + ``local_ref`` equal; 3. same name
        within SUCCESSOR_RADIUS_M. Candidates must keep the role (platform stays platform). Several
        candidates for a rule are narrowed only by agreeing later rules, never by guessing.
        """
        self._index_osm()
        tags: Mapping[str, str] = old.get("tags") or {}
        excluded = {old.get("osm_key"), *exclude}

        def keep(keys: Iterable[str]) -> set[str]:
            return {k for k in keys if k not in excluded and _roles_compatible(tags, self.osm[k])}

        rules: list[tuple[str, set[str]]] = []
        idents = {tags.get("ref:IFOPT"), tags.get("ref:sloid")} - {None, ""}
        if idents:
            found: set[str] = set()
            for ident in idents:
                found |= keep(self._osm_by_ident.get(str(ident).strip(), ()))
            rules.append(("ref:IFOPT/ref:sloid", found))
        if tags.get("uic_ref"):
            local = normalise_ref(tags.get("local_ref") or tags.get("ref"))
            if local is not None:
                rules.append(
                    (
                        "uic_ref + local_ref",
                        keep(self._osm_by_uic_ref.get((tags["uic_ref"].strip(), local), ())),
                    )
                )
        names = {_norm_name(tags.get("name")), _norm_name(tags.get("uic_name"))} - {None}
        if names and old.get("lat") is not None:
            near: set[str] = set()
            for name in names:
                for key in keep(self._osm_by_name.get(name or "", ())):
                    obj = self.osm[key]
                    if (
                        haversine_m(float(old["lat"]), float(old["lon"]), obj.lat, obj.lon)
                        <= SUCCESSOR_RADIUS_M
                    ):
                        near.add(key)
            rules.append(("same name nearby", near))
        return _pick(rules)

    # -- registry -----------------------------------------------------------------------------

    def _index_registry(self) -> None:
        if self._registry_indexed:
            return
        self._reg_by_number: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self._reg_by_name: dict[str, list[str]] = defaultdict(list)
        for stop_id, stop in self.registry.items():
            if stop.code is not None:
                self._reg_by_number[(stop.code, normalise_ref(stop.platform_code))].append(stop_id)
            name = _norm_name(stop.name)
            if name:
                self._reg_by_name[name].append(stop_id)
        self._registry_indexed = True

    def registry_successor(
        self, old: Mapping[str, Any], partner_osm_key: str | None = None, exclude: Iterable[str] = ()
    ) -> Successor:
        """The registry stop that replaced `old` (ATLAS evidence), by stable references, in rule order.

        1. UIC number + platform_code equal; 2. the OSM partner now names a stop_id in ``ref:IFOPT`` /
        ``ref:sloid``; 3. same name and platform_code within SUCCESSOR_RADIUS_M.
        """
        self._index_registry()
        excluded = {old.get("stop_id"), *exclude}
        platform_code = normalise_ref(old.get("platform_code"))
        rules: list[tuple[str, set[str]]] = []
        if old.get("code") is not None:
            found = self._reg_by_number.get((str(old["code"]), platform_code), ())
            rules.append(("uic number + designation", {s for s in found if s not in excluded}))
        partner = self.osm.get(partner_osm_key) if partner_osm_key else None
        if partner is not None:
            named = {partner.ifopt, partner.sloid_tag} - {None, ""}
            rules.append(
                (
                    "ref:IFOPT of the OSM partner",
                    {
                        s.strip()
                        for s in named
                        if s and s.strip() in self.registry and s.strip() not in excluded
                    },
                )
            )
        name = _norm_name(old.get("name"))
        if name and old.get("lat") is not None:
            near = set()
            for stop_id in self._reg_by_name.get(name, ()):
                stop = self.registry[stop_id]
                if stop_id in excluded or normalise_ref(stop.platform_code) != platform_code:
                    continue
                if (
                    haversine_m(float(old["lat"]), float(old["lon"]), stop.lat, stop.lon)
                    <= SUCCESSOR_RADIUS_M
                ):
                    near.add(stop_id)
            rules.append(("same name nearby", near))
        return _pick(rules)


def _pick(rules: Sequence[tuple[str, set[str]]]) -> Successor:
    """The first rule with candidates decides; several candidates are narrowed by later agreeing rules."""
    for i, (rule, candidates) in enumerate(rules):
        if not candidates:
            continue
        if len(candidates) == 1:
            return Successor("found", next(iter(candidates)), rule, tuple(sorted(candidates)))
        narrowed = set(candidates)
        used = [rule]
        for later_rule, later in rules[i + 1 :]:
            both = narrowed & later
            if both:
                narrowed = both
                used.append(later_rule)
            if len(narrowed) == 1:
                return Successor("found", next(iter(narrowed)), " + ".join(used), tuple(sorted(candidates)))
        return Successor("ambiguous", None, rule, tuple(sorted(candidates)))
    return Successor("none")


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionState:
    """A decision row as plain values (what reconcile needs to know)."""

    id: int
    problem_identity: str
    problem_type: str
    stop_id: str | None
    osm_key: str | None
    decision: str
    status: str
    evidence: dict[str, Any]
    review_diff: list[Any]


@dataclass
class Outcome:
    """What to do with one decision: column updates (empty = no write) and events to append."""

    decision_id: int
    kind: str  # untouched | unchanged | changed_within_policy | flagged | verified_fixed | ...
    updates: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.updates or self.events)


def current_evidence(
    decision: DecisionState,
    snapshot: Snapshot,
    stop_id: str | None,
    osm_key: str | None,
    identity: str,
) -> dict[str, Any]:
    """The evidence the same decision would be made on in the new snapshot."""
    problem = snapshot.problems.get(identity)
    osm_key = osm_key or evidence_osm_key(problem)
    stop = snapshot.registry.get(stop_id) if stop_id else None
    obj = snapshot.osm.get(osm_key) if osm_key else None
    return build_evidence(decision.problem_type, identity, stop, obj, problem)


def evidence_osm_key(problem: ProblemRecord | Any | None) -> str | None:
    """The OSM object a problem without its own OSM side is about (a whole stop's nearest object)."""
    details = getattr(problem, "details", None) or {}
    key = details.get("osm_key") if isinstance(details, Mapping) else None
    return key if isinstance(key, str) else None


def reconcile_decision(
    decision: DecisionState,
    snapshot: Snapshot,
    policy: ExpiryPolicy,
    run_id: int | None,
    taken_identities: set[str],
) -> Outcome:
    """Decide what a re-import means for one decision. `taken_identities` holds every decision's identity
    (updated in place when a decision migrates) so two decisions never claim the same problem."""
    if decision.status == STATUS_VERIFIED_FIXED:
        if decision.problem_identity in snapshot.problems:
            diff = [
                {
                    "field": "problem",
                    "category": "reappeared",
                    "side": "problem",
                    "old": "verified fixed",
                    "new": "present",
                    "message": "the problem reappeared after it was verified fixed",
                    "expires": True,
                }
            ]
            return Outcome(
                decision.id,
                "reopened",
                {"status": STATUS_NEEDS_REVIEW, "review_diff": diff},
                [("reopened", {"diff": diff})],
            )
        return Outcome(decision.id, "untouched")

    old = decision.evidence or {}
    if not old:
        # Recorded before evidence existed: take today's as the baseline rather than flag everything.
        fresh = current_evidence(
            decision, snapshot, decision.stop_id, decision.osm_key, decision.problem_identity
        )
        return Outcome(decision.id, "baseline", {"evidence": fresh}, [])

    outcome = Outcome(decision.id, "unchanged")
    identity, stop_id, osm_key = decision.problem_identity, decision.stop_id, decision.osm_key
    identity_notes: list[dict[str, Any]] = []

    # 1. Identity migration: follow vanished objects to their successors.
    osm_gone = osm_key is not None and osm_key not in snapshot.osm
    atlas_gone = stop_id is not None and stop_id not in snapshot.registry
    problem_present = identity in snapshot.problems
    if (osm_gone or atlas_gone) and not problem_present:
        new_sloid, new_key = stop_id, osm_key
        rules: dict[str, str | None] = {}
        for side in ("osm", "atlas"):
            if side == "osm" and osm_gone:
                found = snapshot.osm_successor(old.get("osm") or {"osm_key": osm_key})
            elif side == "atlas" and atlas_gone:
                found = snapshot.registry_successor(
                    old.get("atlas") or {"stop_id": stop_id}, partner_osm_key=new_key
                )
            else:
                continue
            if found.status == "found":
                rules[side] = found.rule
                if side == "osm":
                    new_key = found.key
                else:
                    new_sloid = found.key
                continue
            gone_key = osm_key if side == "osm" else stop_id
            label = "OSM object" if side == "osm" else "ATLAS stop"
            identity_notes.append(
                {
                    "field": f"{side}.identity",
                    "category": "presence",
                    "side": side,
                    "old": gone_key,
                    "new": None,
                    "candidates": list(found.candidates),
                    "message": f"{label} {gone_key} no longer exists: {found.reason}",
                    "expires": True,
                }
            )
        if (new_sloid, new_key) != (stop_id, osm_key) and not identity_notes:
            new_identity = problem_identity(decision.problem_type, new_sloid, new_key)
            if new_identity in taken_identities:
                identity_notes.append(
                    {
                        "field": "identity",
                        "category": "presence",
                        "side": "problem",
                        "old": identity,
                        "new": new_identity,
                        "candidates": [],
                        "message": f"the successor's problem {new_identity} already has its own decision",
                        "expires": True,
                    }
                )
            else:
                taken_identities.discard(identity)
                taken_identities.add(new_identity)
                outcome.updates.update(
                    {"problem_identity": new_identity, "stop_id": new_sloid, "osm_key": new_key}
                )
                outcome.events.append(
                    (
                        "migrated",
                        {
                            "from": {"problem_identity": identity, "stop_id": stop_id, "osm_key": osm_key},
                            "to": {
                                "problem_identity": new_identity,
                                "stop_id": new_sloid,
                                "osm_key": new_key,
                            },
                            "rules": rules,
                            "run_id": run_id,
                        },
                    )
                )
                outcome.kind = "migrated"
                identity, stop_id, osm_key = new_identity, new_sloid, new_key
                problem_present = identity in snapshot.problems

    # 2. Problem gone.
    if not problem_present:
        if decision.decision == DECISION_FIXED_IN_OSM:
            outcome.updates.update({"status": STATUS_VERIFIED_FIXED, "verified_run_id": run_id})
            outcome.events.append(("verified_fixed", {"run_id": run_id, "identity": identity}))
            outcome.kind = "verified_fixed"
            return outcome
        if identity_notes:
            return _flag(outcome, decision, identity_notes, "orphaned")
        if outcome.kind != "migrated":
            outcome.kind = "problem_gone"
        return outcome

    # 3. Problem present: compare evidence.
    new = current_evidence(decision, snapshot, stop_id, osm_key, identity)
    diff = identity_notes + diff_evidence(old, new, policy)
    unlinked = osm_key or (old.get("osm") or {}).get("osm_key")
    paired = osm_key or evidence_osm_key(snapshot.problems.get(identity))
    if decision.decision == DECISION_WRONG_MATCH and stop_id and unlinked and paired == unlinked:
        # The problem is about this very pair again: its unlink was deleted or orphaned.
        diff.append(
            {
                "field": "match",
                "category": "reappeared",
                "side": "problem",
                "old": "unlinked",
                "new": "matched",
                "message": f"{stop_id} and {unlinked} are matched again"
                " although they were marked a wrong match",
                "expires": True,
            }
        )
    if any(entry["expires"] for entry in diff):
        return _flag(outcome, decision, diff, "flagged")
    if decision.status == STATUS_NEEDS_REVIEW:
        # Nothing that expires differs any more: the evidence came back to what the person saw.
        outcome.updates.update({"status": STATUS_ACTIVE, "review_diff": []})
        outcome.events.append(("evidence_restored", {"diff": diff}))
        outcome.kind = "restored"
        return outcome
    if outcome.kind != "migrated":
        outcome.kind = "changed_within_policy" if diff else "unchanged"
    return outcome


def _flag(outcome: Outcome, decision: DecisionState, diff: list[dict[str, Any]], kind: str) -> Outcome:
    """needs_review with `diff`, unless it is already flagged with exactly this diff (no rewrite each run)."""
    if decision.status == STATUS_NEEDS_REVIEW and decision.review_diff == diff and not outcome.updates:
        outcome.kind = "still_flagged"
        return outcome
    outcome.updates.update({"status": STATUS_NEEDS_REVIEW, "review_diff": diff})
    outcome.events.append(("flagged", {"reason": kind, "diff": diff}))
    outcome.kind = "flagged" if outcome.kind != "migrated" else "migrated_flagged"
    return outcome


def reconcile_decisions(
    decisions: Sequence[DecisionState], snapshot: Snapshot, policy: ExpiryPolicy, run_id: int | None
) -> list[Outcome]:
    """Outcomes for every decision, in id order (deterministic)."""
    taken = {d.problem_identity for d in decisions}
    return [
        reconcile_decision(d, snapshot, policy, run_id, taken) for d in sorted(decisions, key=lambda d: d.id)
    ]


# ---------------------------------------------------------------------------------------------
# Manual links
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManualLinkState:
    """A manual_matches row as plain values."""

    id: int
    stop_id: str
    osm_key: str
    action: str  # link | unlink
    status: str  # active | orphaned
    evidence: dict[str, Any]
    note: str = ""
    source: str = "atlas"  # the registry stop's plug-in (`manual_matches.source`)


@dataclass
class ManualLinkOutcome:
    """What a run does with one manual link: where it now points, its status, and maybe a problem."""

    id: int
    stop_id: str
    osm_key: str
    action: str
    status: str
    updates: dict[str, Any] = field(default_factory=dict)
    problem: ProblemRecord | None = None
    migration: dict[str, Any] | None = None

    @property
    def link(self) -> ManualLink | None:
        """The instruction for the matcher, or None when the link cannot apply to this snapshot."""
        if self.status != "active":
            return None
        return ManualLink(self.stop_id, self.osm_key, "link" if self.action == "link" else "unlink")


ORPHAN_PRIORITY = {"link": 2, "unlink": 3}


def resolve_manual_links(
    links: Sequence[ManualLinkState], snapshot: Snapshot, run_id: int | None = None
) -> list[ManualLinkOutcome]:
    """Check every manual link against the new snapshot before matching.

    Both objects present → active. An object vanished → follow its successor (uic_ref + local_ref,
    ref:IFOPT / stop_id, same name nearby); a unique successor moves the link, otherwise the link
    becomes ``orphaned`` and yields a ``manual_match_orphaned`` problem with a stable identity.
    """
    outcomes: list[ManualLinkOutcome] = []
    taken = {(link.stop_id, link.osm_key) for link in links}
    for link in sorted(links, key=lambda item: item.id):
        ev = link.evidence or {}
        stop_id, key = link.stop_id, link.osm_key
        notes: list[str] = []
        candidates: dict[str, list[str]] = {}
        rules: dict[str, str | None] = {}
        if key not in snapshot.osm:
            found = snapshot.osm_successor(ev.get("osm") or {"osm_key": key})
            if found.status == "found" and found.key:
                key, rules["osm"] = found.key, found.rule
            else:
                notes.append(f"OSM object {key} no longer exists: {found.reason}")
                candidates["osm"] = list(found.candidates)
        if stop_id not in snapshot.registry:
            found = snapshot.registry_successor(ev.get("atlas") or {"stop_id": stop_id}, partner_osm_key=key)
            if found.status == "found" and found.key:
                stop_id, rules["atlas"] = found.key, found.rule
            else:
                notes.append(f"ATLAS stop {stop_id} no longer exists: {found.reason}")
                candidates["atlas"] = list(found.candidates)
        if not notes and (stop_id, key) != (link.stop_id, link.osm_key) and (stop_id, key) in taken:
            notes.append(f"the successor pair {stop_id} ↔ {key} already has its own manual link")
        outcome = ManualLinkOutcome(link.id, link.stop_id, link.osm_key, link.action, "active")
        if notes:
            outcome.status = "orphaned"
            outcome.problem = _orphan_problem(link, snapshot, notes, candidates)
            history = list(ev.get("history", []))
            if link.status != "orphaned":
                outcome.updates["status"] = "orphaned"
                history.append({"event": "orphaned", "run_id": run_id, "reasons": notes})
            outcome.updates["evidence"] = {
                **ev,
                "orphaned": {"run_id": run_id, "reasons": notes},
                "history": history,
            }
            if ev.get("orphaned", {}).get("reasons") == notes and link.status == "orphaned":
                outcome.updates.pop("evidence")
            outcomes.append(outcome)
            continue
        if (stop_id, key) != (link.stop_id, link.osm_key):
            taken.discard((link.stop_id, link.osm_key))
            taken.add((stop_id, key))
            outcome.migration = {
                "event": "migrated",
                "run_id": run_id,
                "from": {"stop_id": link.stop_id, "osm_key": link.osm_key},
                "to": {"stop_id": stop_id, "osm_key": key},
                "rules": rules,
            }
            history = [*ev.get("history", []), outcome.migration]
            fresh = _link_evidence(snapshot, stop_id, key)
            outcome.updates.update(
                {"stop_id": stop_id, "osm_key": key, "evidence": {**ev, **fresh, "history": history}}
            )
            outcome.stop_id, outcome.osm_key = stop_id, key
        if link.status != "active":
            outcome.updates["status"] = "active"
            evidence = dict(outcome.updates.get("evidence") or ev)
            evidence.pop("orphaned", None)
            evidence["history"] = [*evidence.get("history", []), {"event": "reactivated", "run_id": run_id}]
            outcome.updates["evidence"] = evidence
        outcomes.append(outcome)
    return outcomes


def _link_evidence(snapshot: Snapshot, stop_id: str, key: str) -> dict[str, Any]:
    stop, obj = snapshot.registry.get(stop_id), snapshot.osm.get(key)
    return {
        "atlas": atlas_evidence(stop) if stop else None,
        "osm": osm_evidence(obj) if obj else None,
        "distance_m": round(haversine_m(stop.lat, stop.lon, obj.lat, obj.lon), 2) if stop and obj else None,
    }


def _orphan_problem(
    link: ManualLinkState, snapshot: Snapshot, notes: list[str], candidates: dict[str, list[str]]
) -> ProblemRecord:
    ev = link.evidence or {}
    stop = snapshot.registry.get(link.stop_id)
    obj = snapshot.osm.get(link.osm_key)
    # Place the problem on whatever still exists, else where the vanished object last was.
    anchor: Any = stop or obj or ev.get("atlas") or ev.get("osm")
    lat = getattr(anchor, "lat", None) if not isinstance(anchor, Mapping) else anchor.get("lat")
    lon = getattr(anchor, "lon", None) if not isinstance(anchor, Mapping) else anchor.get("lon")
    operator = stop.operator_code if stop else (ev.get("atlas") or {}).get("operator_code")
    verb = "link" if link.action == "link" else "unlink"
    return ProblemRecord(
        identity=problem_identity(MANUAL_ORPHANED_TYPE, link.stop_id, link.osm_key),
        problem_type=MANUAL_ORPHANED_TYPE,
        priority=ORPHAN_PRIORITY.get(link.action, 2),
        stop_id=link.stop_id,
        source=link.source,
        osm_key=link.osm_key,
        operator_code=operator,
        distance_m=None,
        message=f"Manual {verb} {link.stop_id} ↔ {link.osm_key} no longer applies: " + "; ".join(notes),
        details={
            "manual_match_id": link.id,
            "action": link.action,
            "reasons": notes,
            "candidates": candidates,
            "note": link.note,
        },
        lat=float(lat) if lat is not None else 0.0,
        lon=float(lon) if lon is not None else 0.0,
    )
