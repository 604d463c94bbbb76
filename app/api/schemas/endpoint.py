"""spectree wiring: one decorator, `endpoint`, puts an API view under its models.

    @bp.get("/problems")
    @endpoint("listProblems", "problems", ok=ProblemPage, errors=(400,))
    def list_problems(query: ProblemListQuery): ...

spectree reads the `query` / `json` annotations, validates the request before the view runs (the
view receives the parsed model) and validates what the view returns against the response model of
its status code. A request that breaks a model answers in the API's one error shape: a query
parameter is a 400 `invalid_parameter` naming it in `details.parameter`; a body field a 422
`validation_failed` naming it in `details.field`; a body that is not a JSON object a 400
`invalid_body`. A response that breaks its model is our bug: logged, and a 500 with a request id.

What spectree cannot say by itself (roles, non-JSON bodies, headers, path parameter types, the
error responses) is kept here per operation id and merged into the document by `app.api.openapi`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import flask
from flask import request
from pydantic import BaseModel, TypeAdapter, ValidationError
from spectree import Response as SpecResponse
from spectree import SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items, get_request_model_hints

from app.errors import ApiError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Statuses any operation can answer: an out-of-range number or a CSRF failure (400), a body over
# MAX_CONTENT_LENGTH_BYTES (413), the rate limit (429) and our own bugs (500).
ALWAYS_POSSIBLE = (400, 413, 429, 500)


class ResponseSchemaError(RuntimeError):
    """A view answered with a body its response model refuses (a bug: the client gets a 500)."""


class _StreamingFlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin reads every returned `Response` whole to validate it. Streams (exports,
    Server-Sent Events) and non-JSON files must go out untouched; only JSON bodies are validated."""

    def validate_response(
        self, resp: Any, resp_model: Any, skip_validation: bool, force_resp_serialize: bool
    ) -> Any:
        payload = resp[0] if isinstance(resp, tuple) else resp
        if isinstance(payload, flask.Response) and (
            payload.is_streamed or not payload.is_json or getattr(payload, "validated_in_tests", False)
        ):
            return flask.make_response(resp), None
        if not flask.current_app.config["SETTINGS"].validate_api_responses:
            # Production: the models were checked against real answers in the tests; validating
            # each answer again (and spectree's walk of every value looking for model instances)
            # was a tenth of a stop page's CPU. Plain dicts and lists go out as JSON directly.
            if isinstance(payload, BaseModel):
                return flask.make_response(self._model_json(payload), *_status_headers(resp)), None
            if isinstance(payload, (dict, list)):
                try:
                    return flask.make_response(resp), None
                except TypeError:  # a model instance inside the body: spectree serializes it
                    pass
            skip_validation = True
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)

    @staticmethod
    def _model_json(model: BaseModel) -> flask.Response:
        return flask.current_app.response_class(model.model_dump_json(), mimetype="application/json")


def _status_headers(resp: Any) -> tuple[Any, ...]:
    """The status and headers of a view's `(body, status, headers)` tuple, if any."""
    return tuple(resp[1:]) if isinstance(resp, tuple) else ()


@dataclass
class OperationDoc:
    """What the OpenAPI document says about one operation beyond spectree's own description."""

    tag: str
    errors: tuple[int, ...]
    role: str | None = None
    # status -> a whole OpenAPI response object (non-JSON bodies, 204s, headers)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    # status -> response headers added to the JSON response spectree describes
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # status -> further media types of that response (the registry report as CSV beside JSON)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    # path parameter -> its JSON schema and description
    path: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    # extra parameters (headers) spectree has no model for
    parameters: list[dict[str, Any]] = field(default_factory=list)
    body_required: bool = True
    # the query model's component name: its fields are inlined as parameters, so it is not listed
    query_model: str | None = None


OPERATIONS: dict[str, OperationDoc] = {}


spec = SpecTree(
    backend=_StreamingFlaskPlugin,
    mode="strict",  # only views decorated here are in the document
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    # The views receive their models from `endpoint` (spectree would resolve the annotations in
    # the wrapper's module, not the view's).
    annotations=False,
    title="StopSync API",
    version="1.0.0",
)


# --- request errors in the API's error shape ---------------------------------------------------


def _message(error: Mapping[str, Any], name: str) -> str:
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return message if message.startswith(name) or message.startswith("at most") else f"{name}: {message}"


def query_error(err: ValidationError, model: type[BaseModel]) -> ApiError:
    """A 400 `invalid_parameter` for a query string its model refuses."""
    errors = err.errors()
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"])
    if unknown:
        return ApiError(
            400,
            "invalid_parameter",
            f"Unknown query parameter(s): {', '.join(unknown)}",
            {"parameter": unknown[0], "unknown": unknown, "allowed": sorted(model.model_fields)},
        )
    first = errors[0]
    name = str(first["loc"][0]) if first["loc"] else "query"
    if first["type"] == "missing":
        description = model.model_fields[name].description if name in model.model_fields else None
        return invalid_parameter(name, f"{name} is required" + (f": {description}" if description else ""))
    details: dict[str, Any] = {}
    raw = first.get("input")
    if isinstance(raw, str):
        details["value"] = raw[:200]
    return invalid_parameter(name, _message(first, name), **details)


def body_error(err: ValidationError) -> ApiError:
    """A 422 `validation_failed` for a JSON body its model refuses."""
    errors = err.errors()
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and e["loc"]]
    if missing:
        return validation_failed(missing[0], f"{', '.join(missing)} is required", missing=missing)
    extra = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"])
    if extra:
        return validation_failed(extra[0], f"Unknown field(s): {', '.join(extra)}", unknown=extra)
    first = errors[0]
    name = str(first["loc"][0]) if first["loc"] else "body"
    details: dict[str, Any] = {}
    allowed = (first.get("ctx") or {}).get("expected")
    if first["type"] == "literal_error" and allowed:
        details["allowed"] = allowed
    return validation_failed(name, _message(first, name), **details)


def invalid_parameter(name: str, message: str, **details: Any) -> ApiError:
    """A 400 `invalid_parameter` naming the query or path parameter `name`."""
    return ApiError(400, "invalid_parameter", message, {"parameter": name, **details})


def validation_failed(name: str, message: str, **details: Any) -> ApiError:
    """A 422 `validation_failed` naming the body field `name`."""
    return ApiError(422, "validation_failed", message, {"field": name, **details})


def _before(
    query_model: type[BaseModel] | None, json_model: type[BaseModel] | None, body_required: bool
) -> Callable[..., None]:
    def before(_req: Any, _resp: Any, err: Exception | None, _instance: Any, _adapter: Any) -> None:
        if json_model is not None:
            body = request.get_json(silent=True)
            empty = not request.get_data(cache=True)
            if not (empty and not body_required) and not isinstance(body, dict):
                raise ApiError(
                    400,
                    "invalid_body",
                    "The request body must be a JSON object (Content-Type: application/json).",
                )
        if err is None:
            return
        if not isinstance(err, ValidationError):  # pragma: no cover - spectree only raises these
            raise err
        if query_model is not None and err.title == query_model.__name__:
            raise query_error(err, query_model) from None
        raise body_error(err) from None

    return before


def _after(_req: Any, _resp: Any, err: Exception | None, _instance: Any, _adapter: Any) -> None:
    if err is not None:
        logger.error("response breaks its schema: %s", err)
        raise ResponseSchemaError("a response broke its schema") from err


# --- path parameters ------------------------------------------------------------------------


def _path_validators(path: Mapping[str, Any]) -> dict[str, TypeAdapter[Any]]:
    return {name: TypeAdapter(kind) for name, kind in path.items()}


def _parse_path(adapters: Mapping[str, TypeAdapter[Any]], kwargs: dict[str, Any]) -> None:
    """Parse each path parameter with its type, in place; a 400 naming the parameter otherwise."""
    for name, adapter in adapters.items():
        if name not in kwargs:
            continue
        raw = kwargs[name]
        # A blank segment (`/stops/osm/node/%20`) is refused before any type sees it: the parameter
        # types read blank as "absent" and fall back on a default, which a path segment does not have,
        # and a plain text type would hand the blank on to the view.
        if isinstance(raw, str) and not raw.strip():
            raise invalid_parameter(name, "must not be blank", value=raw[:100])
        try:
            kwargs[name] = adapter.validate_python(raw, context={"name": name})
        except ValidationError as exc:
            first = exc.errors()[0]
            message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
            raise invalid_parameter(name, message, value=str(raw)[:100]) from None


# --- the decorator --------------------------------------------------------------------------


def endpoint(
    operation_id: str,
    tag: str,
    *,
    ok: type[BaseModel] | None = None,
    status: int = 200,
    also: Mapping[int, type[BaseModel]] | None = None,
    errors: Sequence[int] = (),
    role: str | None = None,
    path: Mapping[str, Any] | None = None,
    path_docs: Mapping[str, str] | None = None,
    responses: Mapping[int, dict[str, Any]] | None = None,
    headers: Mapping[int, dict[str, Any]] | None = None,
    media: Mapping[int, dict[str, Any]] | None = None,
    parameters: Sequence[dict[str, Any]] = (),
    body_required: bool = True,
) -> Callable[[F], F]:
    """Put a view under its models.

    `ok` is the model of the `status` (200) body, `also` of further statuses (201 beside 200);
    `errors` the error statuses the view itself answers (400, 413, 429 and 500 are always listed);
    `role` marks a write that needs that role; `path` maps path parameters to the annotated types
    that parse them (a 400 naming the parameter otherwise); `responses` describes non-JSON answers
    by status (media type, headers); `headers` adds response headers to a JSON answer and `media`
    further media types (`{"text/csv": {...}}`) to it.
    """
    codes: dict[str, Any] = {}
    if ok is not None:
        codes[f"HTTP_{status}"] = ok
    for code, model in (also or {}).items():
        codes[f"HTTP_{code}"] = model
    adapters = _path_validators(path or {})
    path_schemas = {
        name: (adapter.json_schema(), (path_docs or {}).get(name, "")) for name, adapter in adapters.items()
    }

    def decorate(view: F) -> F:
        hints = get_request_model_hints(view)
        query_model = hints.get("query")
        json_model = hints.get("json")

        @functools.wraps(view)
        def call_view(*args: Any, **kwargs: Any) -> Any:
            _parse_path(adapters, kwargs)
            context = getattr(request, "context", None)
            if query_model is not None:
                kwargs["query"] = context.query if context is not None else None
            if json_model is not None:
                body = context.json if context is not None else None
                # No body where one is optional (`POST /pipeline/runs`): the model's defaults.
                kwargs["json"] = body if body is not None else json_model()
            return view(*args, **kwargs)

        validated = spec.validate(
            query=query_model,
            json=json_model,
            resp=SpecResponse(**codes) if codes else None,
            tags=(tag,),
            operation_id=operation_id,
            before=_before(query_model, json_model, body_required),
            after=_after,
            validation_error_status=422 if json_model is not None else 400,
        )(call_view)
        if operation_id in OPERATIONS:
            raise ValueError(f"operation id {operation_id} is used twice")
        OPERATIONS[operation_id] = OperationDoc(
            tag=tag,
            errors=tuple(sorted({*errors, *ALWAYS_POSSIBLE, *((422,) if json_model is not None else ())})),
            role=role,
            responses={str(code): value for code, value in (responses or {}).items()},
            headers={str(code): value for code, value in (headers or {}).items()},
            media={str(code): value for code, value in (media or {}).items()},
            path=path_schemas,
            parameters=list(parameters),
            body_required=body_required,
            query_model=query_model.__name__ if query_model is not None else None,
        )
        return cast(F, validated)

    return decorate


M = TypeVar("M", bound=BaseModel)


def parse_query(model: type[M]) -> M:
    """This request's query string under `model`, for views outside `endpoint` (the Atom feed): the
    same rules and the same 400 naming the parameter."""
    try:
        return model.model_validate(get_multidict_items(request.args, model))
    except ValidationError as err:
        raise query_error(err, model) from None


def validated_in_tests(response: flask.Response) -> flask.Response:
    """Mark a JSON response the view builds as one prebuilt string (the map's GeoJSON, up to 10 000
    features): it is not parsed again per request; its model checks it in the tests."""
    response.validated_in_tests = True  # type: ignore[attr-defined]
    return response
