"""A second registry for tests of two registries in one instance: Germany's zHV in its real formats.

zHV (zentrales Haltestellenverzeichnis) ids are DHIDs ("de:08311:6542:1:1", an IFOPT id that mappers
write to `ref:IFOPT`); border stations also carry the UIC number (the DB's IBNR) that ATLAS gives
the same station, in `uic_ref`. Only the declaration is registered (no files to read): matching,
problem detection and fix exports need no more.
"""

from __future__ import annotations

import dataclasses

from pipeline.declarations import (
    Identifier,
    RegistryDeclaration,
    decimal_number,
    declarations,
    register_declaration,
)
from pipeline.records import RegistryStop
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
