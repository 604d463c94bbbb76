"""One description of a registry stop for code that takes any kind of one (record, row, fix-export
stop): `pipeline.records.RegistryStopLike`, used by the app as well (the pipeline never imports the app)."""

from __future__ import annotations

from app.services import new_stop_tags
from pipeline.records import RegistryStopLike
from pipeline.review import evidence


def test_the_app_and_the_pipeline_describe_a_registry_stop_with_one_protocol():
    assert new_stop_tags.RegistryStopLike is RegistryStopLike
    # The evidence of a decision reads the same stop, plus its row hash.
    assert RegistryStopLike in evidence.RegistryLike.__mro__
    extra = set(evidence.RegistryLike.__dict__) - set(RegistryStopLike.__dict__)
    assert {name for name in extra if not name.startswith("_")} == {"row_hash"}
