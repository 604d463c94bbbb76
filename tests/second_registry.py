"""A second registry for tests of two registries in one instance: Germany's zHV in its real formats.

zHV (zentrales Haltestellenverzeichnis) ids are DHIDs ("de:08311:6542:1:1", an IFOPT id that mappers
write to `ref:IFOPT`); border stations also carry the UIC number (the DB's IBNR) that ATLAS gives
the same station, in `uic_ref`. Only the declaration is registered (no files to read): matching,
problem detection and fix exports need no more.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.declarations import (
    Identifier,
    RegistryDeclaration,
    decimal_number,
    declarations,
    register_declaration,
)
from pipeline.records import RegistryStop
from pipeline.sources.base import HttpRequest, ParseOptions, ParseResult, Source, SourceKind
from tests.pipeline_records import stop

ZHV = RegistryDeclaration(
    name="zhv",
    display_name="zHV",
    stop_id=Identifier("stop_id", ("ref:IFOPT",), label="DHID"),
    code=Identifier("code", ("uic_ref",), normalise=decimal_number, label="IBNR"),
    stop_url="https://zhv.wvigmbh.de/{stop_id}",
)


def register_zhv() -> None:
    """Make `zhv` a known registry (idempotent)."""
    if "zhv" not in declarations():
        register_declaration(ZHV)


def zhv_stop(dhid: str, east_m: float = 0.0, north_m: float = 0.0, **fields) -> RegistryStop:
    """A zHV stop (the ATLAS test stop's fields, source and dataset of zHV)."""
    register_zhv()
    return dataclasses.replace(stop(dhid, east_m, north_m, **fields), source="zhv", dataset="csv")


class ZhvSource(Source):
    """zHV as a plug-in, for selection tests: `zhv*.csv` in the zHV export's layout (`;`-separated,
    quoted, decimal commas: "SeqNo";"Type";"DHID";"Parent";"Name";"Latitude";"Longitude")."""

    name = "zhv"
    kind = SourceKind.REGISTRY
    file_patterns = ("zhv*.csv",)
    url_settings = ()
    required = True
    declaration = ZHV

    def __init__(self) -> None:
        self.fetched = 0  # how often a run asked for its downloads

    def http_requests(self, settings: Any) -> list[HttpRequest]:
        self.fetched += 1
        return []

    def parse(self, paths: Sequence[Path], options: ParseOptions) -> ParseResult[RegistryStop]:
        records = []
        for path in paths:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle, delimiter=";"):
                    if row["Type"] != "Q":  # quays: the stopping places
                        continue
                    lat, lon = (float(row[k].replace(",", ".")) for k in ("Latitude", "Longitude"))
                    records.append(
                        RegistryStop(
                            source="zhv",
                            stop_id=row["DHID"],
                            dataset="csv",
                            code=None,
                            platform_code=row["DHID"].rsplit(":", 1)[-1],
                            name=row["Name"],
                            operator_code=None,
                            operator_name=None,
                            modes="BUS",
                            country_code="DE",
                            region=None,
                            parent_id=row["Parent"] or None,
                            valid_from=None,
                            valid_to=None,
                            lat=lat,
                            lon=lon,
                            row_hash=row["DHID"],
                        )
                    )
        return ParseResult(records, {"kept": len(records)})


ZHV_CSV = (
    '"SeqNo";"Type";"DHID";"Parent";"Name";"Latitude";"Longitude"\n'
    '"1";"S";"de:08335:3424";"";"Konstanz Bf";"47,658";"9,178"\n'
    '"2";"Q";"de:08335:3424:1:1";"de:08335:3424";"Konstanz Bf";"47,6581";"9,1781"\n'
)


# Two registries sharing one id string (tests/integration/test_colliding_registry_ids_*.py).
SAME_ID = "ch:1:sloid:7777:0:1"  # an ATLAS sloid that the zHV registry also uses, on purpose
KONSTANZ = {"lat": 47.6581, "lon": 9.1781}


def register_zhv_source(monkeypatch: Any) -> None:
    """zHV registered as a second registry plug-in for one test (the registry restored after it)."""
    import pipeline.sources as sources

    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    sources.register_source(ZhvSource())
