"""Problem detection: pure functions from matched/unmatched records to `ProblemRecord`s.

One module per problem type, each with its `TYPE` (code, label, description, priority rule) and its
detector; `registry.PROBLEM_TYPES` lists them, and the API vocabulary and the page labels derive
from it. `detect_problems` runs every registered detector over one snapshot.

Types and priorities (1 = most urgent):

- `distance` (a match; for a whole stop matched to several objects, its nearest one):
  P1 operator ≠ SBB and d > 80 m; P2 operator ≠ SBB and 25 < d ≤ 80 m;
  P3 SBB and d > 25 m, or any operator with 15 < d ≤ 25 m.
- `unmatched`, registry side: P1 no OSM object with its UIC number and none within 80 m; P2 nearest OSM
  object > 50 m, or OSM has another number of platforms for the UIC; P3 everything else.
- `unmatched`, OSM side: P1 its `uic_ref` is not in the registry, or is malformed (not ASCII digits);
  P2 no registry stop within 50 m, or count mismatch for its `uic_ref`; P3 everything else.
  `details.malformed` names its malformed identifier tags.
- `attributes` (a match): P1 `uic_ref` ≠ number, or `uic_name` ≠ official name (case-insensitive);
  P2 `local_ref` ≠ platform_code; P3 operator differs, or `name` differs (only when there is no
  `uic_name`, name score below NAME_MISMATCH_BELOW). A malformed `uic_ref` (P1, or P2 when the
  registry has no number) or `local_ref` (P2) is a mismatch marked `"malformed": <why>`.
- `duplicates`, registry side: P2 same number + platform_code; P3 same position (< SAME_PLACE_M).
- `duplicates`, OSM side: P3 same `uic_ref` + `local_ref`, or same `ref:IFOPT`, on two objects of the
  same kind (two platforms; a platform and its stop position are not duplicates).
- `route_contradiction` (a match, only with route evidence): P2 both sides have routes (GTFS at the
  registry stop, route relations at the OSM object) and none agree: no common line (route id or
  line ref), or common lines only in opposite directions (`pipeline.matching.route.classify_routes`).
- `registry_position_mismatch` (a registry stop, matched or not): its registry publishes two positions
  that disagree beyond the source's tolerance (NaPTAN: OSGB36 grid vs WGS84, NAPTAN_POSITION_MISMATCH_M),
  as the source marks it in `attributes["position_mismatch"]`. P2 beyond POSITION_MISMATCH_P2_FACTOR
  tolerances, else P3; for a matched stop the details say which position its OSM object is nearer to.

Thresholds follow the reference system (stop_sync_osm_atlas `problem_detection/context.py`). One
`attributes` problem per match, at the highest severity found, with every mismatch in `details`.
Identities are `problem_identity(type, stop_id, osm_key)`: stable as long as the ids are.
"""

from pipeline.problems.attributes import (
    MALFORMED_LOCAL_REF,
    MALFORMED_UIC_REF,
    attribute_mismatches,
    malformed_local_ref,
    malformed_uic_ref,
)
from pipeline.problems.base import ProblemContext, ProblemType
from pipeline.problems.detect import detect_problems
from pipeline.problems.distance import distance_priority
from pipeline.problems.registry import PROBLEM_TYPES, by_code, codes, pair_codes
from pipeline.problems.registry_position_mismatch import POSITION_MISMATCH_P2_FACTOR

__all__ = [
    "MALFORMED_LOCAL_REF",
    "MALFORMED_UIC_REF",
    "POSITION_MISMATCH_P2_FACTOR",
    "PROBLEM_TYPES",
    "ProblemContext",
    "ProblemType",
    "attribute_mismatches",
    "by_code",
    "codes",
    "detect_problems",
    "distance_priority",
    "malformed_local_ref",
    "malformed_uic_ref",
    "pair_codes",
]
