"""The OpenAPI 3.1 description, made to tell the truth.

FastAPI describes what it validates itself.  The routes read their bodies through ``codec`` (JSON
or the binary frame), answer errors with the service's own body, and take limits from the
settings, so the description is completed here: the request schemas, the frame media type
beside JSON, every status each route answers (with the error body and ``Retry-After``), the
limits, bearer auth, and links that chain create -> ask -> tell for stateful clients and testers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import Route

from zoadamm import wire

from ..domain.limits import RESERVED_METRICS
from ..settings import Settings
from . import idempotency
from .codec import JSON
from .schemas import ASK_RULES, TELL_RULES, AskRequest, MetricsRequest, SessionCreate, TellRequest

REF = "#/components/schemas/{model}"
BODIES: dict[str, type[BaseModel]] = {
    "create_session": SessionCreate, "ask": AskRequest, "tell": TellRequest, "post_metrics": MetricsRequest}
BODY_RULES = {"ask": ASK_RULES, "tell": TELL_RULES}  # what a schema can state beyond each field's type
# routes that answer in the binary frame when asked to (Accept), as well as in JSON
FRAME_ANSWERS = {"create_session", "ask", "tell", "get_parameters", "get_trace"}
# 409: the step moved on, or no parameters yet; a create whose Idempotency-Key made a session that
# outlived the key's record
CONFLICTS = {"ask", "tell", "post_metrics", "get_parameters", "create_session"}
IDEMPOTENT = {"create_session", "post_metrics"}  # the POSTs that take an Idempotency-Key (api/idempotency.py)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_CHARS, "pattern": idempotency.PATTERN},
    "description": "Sent again with the same key (a retry after a lost answer), the request gets the first "
                   "answer and changes nothing; the same key with another request is refused (422).  Printable "
                   "ASCII, scoped to the API key's tenant."}
FRAME_TEXT = ("The same fields as the JSON body, in the binary frame: vectors as raw little-endian float32 "
              "(docs/api.md, section Binary vectors).")

ERROR = {
    "type": "object",
    "description": "Every error: a message, and for validation errors the problems found.",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["loc", "msg", "type"],
            "properties": {"loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                           "msg": {"type": "string"}, "type": {"type": "string"}}}},
        "step": {"type": "integer", "description": "409: the session's open step."},
        "status": {"type": "string", "description": "/healthz's 503: unavailable."},
    },
}
ERRORS = {
    400: "The body is not valid JSON, or not a valid binary frame.",
    401: "Missing or unknown API key (`Authorization: Bearer <key>`), where keys are configured.",
    403: "The service runs open (no API keys) and the call names a Host other than loopback's or "
         "ZOADAMM_OPEN_HOST_NAMES': a web page's own name pointed at the service (DNS rebinding).",
    404: "No such session (or file).",
    408: "The request body did not arrive within ZOADAMM_BODY_TIMEOUT_S.",
    409: "A stale or future step (`step` is the open one), parameters not set yet, or x differs; a create "
         "whose Idempotency-Key made a session after its record expired (ZOADAMM_IDEMPOTENCY_TTL_S).",
    413: "The body is over ZOADAMM_MAX_BODY_BYTES (JSON bodies: ZOADAMM_MAX_JSON_BYTES).",
    415: "A body whose Content-Type is missing, or not JSON or the frame, or with a Content-Encoding, or JSON "
         "with a charset other than UTF-8.",
    422: "Values out of range or over a limit, a wrong dimension, non-finite numbers, a wrong type, or a query "
         "parameter the call does not take (or one given twice).",
    429: "The API key's rate limit is used up, or this address sent too many unknown keys (then with the 401's "
         "WWW-Authenticate): try again after Retry-After.  Without Retry-After: the tenant's quota of sessions or "
         "of bytes of state is used up, until it deletes sessions.",
    503: "The store (Redis) does not answer, or the service is busy (more calls than ZOADAMM_MAX_CALLS waited "
         "past ZOADAMM_QUEUE_TIMEOUT_S, or its bodies in flight would pass ZOADAMM_MAX_BODY_BYTES_IN_FLIGHT or the "
         "tenant's share of it); try again after Retry-After seconds.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"required": False, "schema": {"type": "string"}, "description": "Seconds to wait."},
          "WWW-Authenticate": {"required": False, "schema": {"type": "string"},
                               "description": "Bearer: the address sent too many unknown keys."}},
    503: {"Retry-After": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait."}},
}


def describe(app: FastAPI) -> dict:
    """The app's description, built once."""
    if app.openapi_schema is None:
        app.openapi_schema = _build(app, app.state.settings)
    return app.openapi_schema


def _build(app: FastAPI, settings: Settings) -> dict:
    spec = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                       summary=app.summary, description=app.description, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # never answered: errors have one body
        schemas.pop(name, None)
    mode: JsonSchemaMode = "validation"
    _, defs = models_json_schema([(m, mode) for m in BODIES.values()], ref_template=REF)
    schemas.update(defs["$defs"])
    schemas["Error"] = ERROR
    _limits(schemas, settings)
    spec["components"]["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer", "description": "An API key, where the service has keys configured."}}
    routes = [route for route in all_routes(app.router.routes) if isinstance(route, APIRoute)]
    names = {(route.path, method.lower()): _operation_id(route) for route in routes for method in route.methods or ()}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            # short operation ids: they name a generated client's functions
            operation["operationId"] = names.get((path, method), operation.get("operationId"))
            # 429: a key's rate limit, or with keys, an address's failed keys (ZOADAMM_AUTH_FAIL_LIMIT)
            limited = bool(settings.rate_limit or (settings.api_keys and settings.auth_fail_limit))
            hosts_checked = not (settings.api_keys or settings.allow_open)  # the open mode on loopback
            _complete(path, method, operation, keyed=bool(settings.api_keys), limited=limited,
                      hosts_checked=hosts_checked)
    return spec


def all_routes(routes: list) -> Iterator[Route]:
    """Every route, also inside included routers (FastAPI nests them)."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        elif hasattr(route, "original_router"):
            yield from all_routes(route.original_router.routes)


def _operation_id(route: APIRoute) -> str:
    name = route.name
    return f"dashboard_{name}" if route.path.startswith("/v1/dashboard") else name


def _limits(schemas: dict, settings: Settings) -> None:
    """The limits of this service, where a schema can state them."""
    properties = schemas["SessionCreate"]["properties"]
    properties["dim"]["maximum"] = settings.max_dim
    properties["directions"]["maximum"] = settings.max_directions
    metrics = schemas["MetricsRequest"]["properties"]["metrics"]
    metrics["maxProperties"] = settings.max_metric_names
    metrics["propertyNames"] = {"minLength": 1, "maxLength": settings.max_metric_name_length,
                                "not": {"enum": sorted(RESERVED_METRICS)}}


def _complete(path: str, method: str, operation: dict[str, Any], keyed: bool, limited: bool,
              hosts_checked: bool) -> None:
    name = operation.get("operationId", "")
    responses = operation.setdefault("responses", {})
    for status in [s for s in responses if s == "422"]:
        del responses[status]  # FastAPI's HTTPValidationError; ours is added below where it can happen
    statuses: set[int] = set()
    if path.startswith("/v1/"):
        statuses |= {422, 503}  # 422: an unknown or repeated query parameter, on every route (api/query.py)
        if keyed:  # an open service asks for no key
            statuses.add(401)
        # a key is required where keys are configured; without them the service is open
        operation["security"] = [{"bearer": []}] if keyed else [{"bearer": []}, {}]
        if limited:
            statuses.add(429)
        if hosts_checked:
            statuses.add(403)
    if name == "create_session":
        statuses.add(429)  # the tenant's session quota
    if "{" in path:  # a session, or a file, that is not there
        statuses.add(404)
    if any(p["in"] == "query" for p in operation.get("parameters", [])):
        statuses.add(422)
    if name in BODIES:
        statuses |= {400, 408, 413, 415, 422}
        model = BODIES[name].__name__
        operation["requestBody"] = {
            # an empty body is read as an empty object: required where that object is refused
            "required": any(field.is_required() for field in BODIES[name].model_fields.values()),
            "description": "JSON, or the same fields in the binary frame.",
            "content": {JSON: {"schema": {"$ref": REF.format(model=model), **BODY_RULES.get(name, {})},
                               **({"examples": BODY_EXAMPLES[name]} if name in BODY_EXAMPLES else {})},
                        # OpenAPI 3.1 has no description on a media type: the schema carries it
                        wire.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary",
                                                     "contentMediaType": wire.MEDIA_TYPE,
                                                     "description": f"{FRAME_TEXT} Fields: as {model}."}}},
        }
    if name in IDEMPOTENT:
        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    if name in CONFLICTS:
        statuses.add(409)
    if path == "/healthz":
        statuses.add(503)
    for status in sorted(statuses):
        answer: dict[str, Any] = {"description": ERRORS[status],
                                  "content": {JSON: {"schema": {"$ref": REF.format(model="Error")}}}}
        if status in HEADERS:
            # the failed-key limit's 429 carries the 401's challenge: only where keys are asked for
            answer["headers"] = {name: header for name, header in HEADERS[status].items()
                                 if keyed or name != "WWW-Authenticate"}
        responses.setdefault(str(status), answer)
    if name in FRAME_ANSWERS:
        for status, answer in responses.items():
            if status.startswith("2") and "content" in answer:
                answer["content"][wire.MEDIA_TYPE] = {"schema": {
                    "type": "string", "format": "binary", "contentMediaType": wire.MEDIA_TYPE,
                    "description": "With Accept: " + wire.MEDIA_TYPE + ". " + FRAME_TEXT}}
    _link(name, responses)


LINKED = ["get_session", "ask", "tell", "post_metrics", "get_metrics", "get_parameters", "get_trace",
          "delete_session"]


# Bodies whose rules a generated sample misses (a viewer reads the $ref's fields, not the rules
# beside it, and filled "lease": 0 in): valid ones, which the docs' pages show as samples.
BODY_EXAMPLES = {"tell": {
    "zo": {"summary": "ZO: f(x) and f(x + mu u_i)", "value": {"step": 0, "f_x": 1.25, "f_plus": [1.31, 1.22]}},
    "fo": {"summary": "FO (adamm): the gradient", "value": {"step": 0, "gradient": [0.5, -0.25]}},
    "leased": {"summary": "A worker's part, leasing on", "value": {
        "step": 3, "f_x": 1.25, "f_plus": [1.31], "indices": [1], "lease": 1, "worker": "w1", "wait": 10}},
}}


def _link(name: str, responses: dict) -> None:
    """create -> every call on the session; ask -> tell (the open step's number)."""
    if name == "create_session":
        responses["201"]["headers"] = {"Location": {
            "description": "The session's path, /v1/sessions/{id}.", "schema": {"type": "string"}}}
        responses["201"]["links"] = {
            op: {"operationId": op, "parameters": {"session_id": "$response.body#/id"}} for op in LINKED}
    elif name == "ask":
        responses["200"]["links"] = {"tell": {
            "operationId": "tell", "parameters": {"session_id": "$request.path.session_id"},
            "description": "The tell of the step just opened: its body's step is this answer's step."}}
    elif name == "tell":
        responses["200"]["links"] = {"ask": {"operationId": "ask",
                                             "parameters": {"session_id": "$request.path.session_id"}}}
