"""The API's value types and error mapping, without a server: what a query string or body turns into,
and which parameter or field an error names."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from app.api.schemas.base import (
    BodyModel,
    BodyText,
    QueryBool,
    QueryChoice,
    QueryInt,
    QueryIntList,
    QueryList,
    QueryModel,
    QueryText,
    ResponseModel,
    parse_bbox,
)
from app.api.schemas.document import _parameter_schema
from app.api.schemas.endpoint import body_error, query_error


class Sample(QueryModel):
    limit: Annotated[int, QueryInt(1, 500)] = 50
    cursor: Annotated[int | None, QueryInt(1, 99)] = None
    q: Annotated[str | None, QueryText(10)] = None
    flag: Annotated[bool | None, QueryBool] = None
    sort: Annotated[str, QueryChoice(("priority", "distance"))] = "priority"
    status: Annotated[list[str], QueryList(("matched", "unmatched"))] = []
    transport: Annotated[list[str], QueryList(("BUS", "TRAIN"), upper=True)] = []
    priority: Annotated[list[int], QueryIntList(1, 3)] = []


class Body(BodyModel):
    name: Annotated[str, BodyText(5, min_length=1)]
    active: bool = False


def refused(model: type[BaseModel], data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value


@pytest.mark.parametrize("raw", ["\u0661", "1_000", "1.0", "0x10", "+", "1e3"])
def test_query_integers_are_ascii_digits_only(raw):
    error = query_error(refused(Sample, {"limit": raw}), Sample)
    assert (error.status, error.code, error.details["parameter"]) == (400, "invalid_parameter", "limit")
    assert error.message == "limit must be an integer"


def test_query_integers_outside_their_range_say_the_range():
    error = query_error(refused(Sample, {"limit": "501"}), Sample)
    assert error.message == "limit must be between 1 and 500"


def test_blank_query_values_are_absent():
    parsed = Sample.model_validate(
        {"limit": " ", "cursor": "", "q": "   ", "flag": "", "sort": "", "status": [""]}
    )
    assert (parsed.limit, parsed.cursor, parsed.q, parsed.flag, parsed.sort, parsed.status) == (
        50,
        None,
        None,
        None,
        "priority",
        [],
    )


def test_repeated_and_comma_separated_values_are_one_list_without_duplicates():
    parsed = Sample.model_validate({"status": ["matched,unmatched", "matched"], "transport": ["bus, train"]})
    assert parsed.status == ["matched", "unmatched"]
    assert parsed.transport == ["BUS", "TRAIN"]


@pytest.mark.parametrize(
    ("data", "parameter"),
    [
        ({"status": ["matched,nope"]}, "status"),
        ({"priority": ["1,4"]}, "priority"),
        ({"flag": "maybe"}, "flag"),
        ({"sort": "name"}, "sort"),
        ({"q": "a\x00b"}, "q"),
        ({"q": "x" * 11}, "q"),
    ],
)
def test_a_refused_query_value_names_its_parameter(data, parameter):
    error = query_error(refused(Sample, data), Sample)
    assert error.details["parameter"] == parameter
    assert error.message.startswith(parameter)


def test_unknown_query_parameters_are_listed_with_the_allowed_ones():
    error = query_error(refused(Sample, {"limt": "5", "zzz": "1"}), Sample)
    assert error.details["unknown"] == ["limt", "zzz"]
    assert error.details["parameter"] == "limt"
    assert "limit" in error.details["allowed"]


@pytest.mark.parametrize(
    "raw", ["1,2,3", "a,b,c,d", "nan,0,1,1", "0,0,200,1", "2,0,1,1", "1,2,3,4,5", "inf,0,1,1"]
)
def test_bad_bounding_boxes_are_refused(raw):
    with pytest.raises(ValueError, match="bbox"):
        parse_bbox(raw)


def test_a_bounding_box_is_west_south_east_north():
    assert parse_bbox("9.47,47.04,9.64,47.27").as_list() == [9.47, 47.04, 9.64, 47.27]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "name", "name is required"),
        ({"name": "ok", "nope": 1}, "nope", "Unknown field(s): nope"),
        ({"name": 5}, "name", None),
        ({"name": "toolong"}, "name", None),
        ({"name": "ok", "active": "true"}, "active", None),
        ({"name": "a\x00"}, "name", "name must not contain NUL characters"),
        ({"name": "\ud800"}, "name", "name must be valid Unicode text (it holds a lone surrogate)"),
    ],
)
def test_a_refused_body_field_is_a_422_naming_it(data, field, message):
    error = body_error(refused(Body, data))
    assert (error.status, error.code, error.details["field"]) == (422, "validation_failed", field)
    if message is not None:
        assert error.message == message


def test_response_models_keep_keys_they_do_not_describe():
    class Thing(ResponseModel):
        id: int

    assert Thing.model_validate({"id": 1, "added_later": "x"}).model_dump() == {"id": 1, "added_later": "x"}


def test_optional_query_parameters_are_documented_without_null():
    schema = {
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}],
        "default": None,
        "description": "d",
    }
    assert _parameter_schema(schema) == {"type": "integer", "minimum": 1, "description": "d"}
