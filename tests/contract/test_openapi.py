"""What the OpenAPI description promises, checked on the document itself."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from zoadamm import wire
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings


@pytest.fixture(scope="module")
def spec() -> dict:
    return create_app(Settings(redis_url=None, max_dim=1234, max_directions=56)).openapi()


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_reference_resolves_and_errors_have_the_services_body(spec):
    schemas = spec["components"]["schemas"]
    assert spec["openapi"].startswith("3.1")
    for ref in set(refs(spec)):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert "HTTPValidationError" not in json.dumps(spec)
    for name in ("SessionCreate", "Schedule", "AskRequest", "TellRequest", "MetricsRequest", "Error"):
        assert name in schemas
    assert schemas["SessionCreate"]["properties"]["dim"]["maximum"] == 1234  # this service's limits
    assert schemas["SessionCreate"]["properties"]["directions"]["maximum"] == 56
    assert schemas["SessionCreate"]["properties"]["seed"]["anyOf"][0]["maximum"] == 2**53 - 1


def test_every_status_is_listed_with_the_error_body_and_its_headers(spec):
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            expected = set()
            if path.startswith("/v1/"):
                expected.add("503")
                assert {"bearer": []} in op["security"], (method, path)
                assert responses["503"]["headers"]["Retry-After"]["required"]
            if "{session_id}" in path:
                expected.add("404")
            if "requestBody" in op:
                expected |= {"400", "408", "413", "415", "422"}
                content = op["requestBody"]["content"]
                assert content["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
                assert content[wire.MEDIA_TYPE]["schema"]["format"] == "binary"
            assert expected <= set(responses), (method, path, set(responses))
            for status, answer in responses.items():
                if status >= "400":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("keyed", [False, True])
def test_401_is_listed_where_keys_are_asked_for(keyed):
    """An open service asks for no key: a 401 listed there would be one no call can get."""
    settings = {"api_keys": "alice:" + "a" * 64} if keyed else {}
    paths = create_app(Settings(redis_url=None, **settings)).openapi()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            listed = op["responses"].get("401")
            assert (listed is not None) == (keyed and path.startswith("/v1/")), (method, path)
            if listed:
                assert listed["headers"]["WWW-Authenticate"]["required"]
            if "429" in op["responses"]:  # the failed-key limit's 429 carries the 401's challenge too
                challenge = op["responses"]["429"]["headers"].get("WWW-Authenticate")
                assert (challenge is not None) == keyed and not (challenge or {}).get("required"), (method, path)


def test_pages_and_names_are_described_as_served(spec):
    assert set(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert set(spec["paths"]["/dashboard"]["get"]["responses"]["200"]["content"]) == {"text/html"}
    names = spec["components"]["schemas"]["MetricsRequest"]["properties"]["metrics"]["propertyNames"]
    assert names["minLength"] == 1 and names["maxLength"] > 1


def test_links_chain_create_ask_and_tell(spec):
    created = spec["paths"]["/v1/sessions"]["post"]["responses"]["201"]["links"]
    assert created["ask"]["parameters"] == {"session_id": "$response.body#/id"}
    assert {"get_session", "tell", "post_metrics", "delete_session"} <= set(created)
    asked = spec["paths"]["/v1/sessions/{session_id}/ask"]["post"]["responses"]["200"]["links"]
    assert asked["tell"]["operationId"] == "tell"

@pytest.mark.parametrize("settings, every_call", [
    ({}, False),  # open, no rate limit: only a create's tenant quota answers 429
    ({"rate_limit": "5/second"}, True),
    ({"api_keys": "alice:" + "a" * 64}, True),  # an address's failed keys (ZOADAMM_AUTH_FAIL_LIMIT)
    ({"api_keys": "alice:" + "a" * 64, "auth_fail_limit": None}, False),
])
def test_429_is_listed_on_every_call_that_can_answer_it(settings, every_call):
    paths = create_app(Settings(redis_url=None, **settings)).openapi()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            listed = "429" in op["responses"]
            expected = path.startswith("/v1/") and (every_call or op["operationId"] == "create_session")
            assert listed == expected, (settings, method, path)


def test_the_create_describes_its_feasible_set_and_the_vectors_beside_it(spec):
    properties = spec["components"]["schemas"]["SessionCreate"]["properties"]
    constraint = next(s for s in properties["constraint"]["anyOf"] if s.get("type") == "object")
    assert constraint["additionalProperties"] is False and set(constraint["properties"]) == {"box", "ball"}
    ball = next(s for s in constraint["properties"]["ball"]["anyOf"] if s.get("type") == "object")
    assert ball["properties"]["norm"]["enum"] == ["2", "inf"] and ball["properties"]["radius"]["exclusiveMinimum"] == 0
    for name in ("constraint.box.lower", "constraint.box.upper", "constraint.ball.center"):
        assert properties[name]["anyOf"][0] == {"type": "array", "items": {"type": "number"}}, name


@pytest.mark.parametrize("settings", [{}, {"api_keys": "alice:" + "a" * 64, "rate_limit": "10/second"}])
def test_the_description_is_valid_openapi_3_1(settings):
    """Generators and validators read the document strictly: no field OpenAPI 3.1 does not
    define (a media type has no description: the frame's schema carries it)."""
    spec = create_app(Settings(redis_url=None, **settings)).openapi()
    assert [error.message for error in OpenAPIV31SpecValidator(spec).iter_errors()] == []


def test_the_posts_that_take_an_idempotency_key_declare_it(spec):
    for path, method in (("/v1/sessions", "post"), ("/v1/sessions/{session_id}/metrics", "post")):
        headers = [p for p in spec["paths"][path][method]["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["Idempotency-Key"], (path, headers)
        assert headers[0]["schema"]["maxLength"] == 255
    tell = spec["paths"]["/v1/sessions/{session_id}/tell"]["post"]
    assert all(p["name"] != "Idempotency-Key" for p in tell.get("parameters", []))  # a step is its own key


def test_every_answer_that_comes_as_a_frame_is_described_as_one():
    """Each call asked for a frame (Accept) that answers one says so in the description, for
    the status it answered with; one answering JSON does not claim a frame."""
    from fastapi.testclient import TestClient

    app = create_app(Settings(redis_url=None))
    frame = {"Accept": wire.MEDIA_TYPE}
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        body = {"dim": 3, "x0": [0.0] * 3, "directions": 2,
                "constraint": {"box": {"lower": [-1.0, -1.0, -1.0], "upper": 1.0}}}
        created = client.post("/v1/sessions", json=body, headers=frame)
        sid = wire.decode(created.content)[0]["id"]
        calls = [("post", "/v1/sessions", created),
                 ("get", "/v1/sessions/{session_id}", client.get(f"/v1/sessions/{sid}", headers=frame)),
                 ("post", "/v1/sessions/{session_id}/ask",
                  client.post(f"/v1/sessions/{sid}/ask", json={"lease": 1, "worker": "w"}, headers=frame)),
                 ("post", "/v1/sessions/{session_id}/tell",
                  client.post(f"/v1/sessions/{sid}/tell?answer=checksum", headers=frame,
                              json={"step": 0, "f_x": 1.0, "f_plus": [2.0], "indices": [0], "lease": 1,
                                    "worker": "w"})),
                 ("post", "/v1/sessions/{session_id}/tell",
                  client.post(f"/v1/sessions/{sid}/tell", json={"step": 0, "f_x": 1.0, "f_plus": [2.0, 3.0]},
                              headers=frame)),
                 ("get", "/v1/sessions/{session_id}/x", client.get(f"/v1/sessions/{sid}/x", headers=frame)),
                 ("get", "/v1/sessions/{session_id}/trace", client.get(f"/v1/sessions/{sid}/trace", headers=frame)),
                 ("get", "/v1/sessions", client.get("/v1/sessions", headers=frame))]
    statuses = set()
    for method, path, answer in calls:
        assert answer.status_code < 300, (method, path, answer.text)
        statuses.add(answer.status_code)
        media = answer.headers["content-type"].split(";")[0]
        described = spec["paths"][path][method]["responses"][str(answer.status_code)].get("content", {})
        assert media in described, (method, path, answer.status_code, media, list(described))
    assert {200, 201, 202} <= statuses


def test_the_described_examples_of_a_tell_are_tells_the_service_takes(spec):
    """A docs page shows these as the tell's samples, where it generated one the rules refuse."""
    import jsonschema

    from zoadamm_service.api.schemas import TELL_RULES, TellRequest

    body = spec["paths"]["/v1/sessions/{session_id}/tell"]["post"]["requestBody"]["content"]["application/json"]
    assert {"zo", "fo", "leased"} <= set(body["examples"])
    for example in body["examples"].values():
        TellRequest.model_validate(example["value"])
        jsonschema.validate(example["value"], TELL_RULES)
    with pytest.raises(jsonschema.ValidationError):  # the rules do refuse what a viewer made up
        jsonschema.validate({"step": 0, "f_plus": [], "lease": 0, "worker": "string", "gradient": [0.0]}, TELL_RULES)


# Bodies refused for their shape alone, whatever the session: the description must refuse them too
# (docs/api.md, "What a schema cannot state", lists what it leaves to the session).
SHAPE_REFUSED = [
    ("ask", "zo", {"worker": "w"}), ("ask", "zo", {"wait": 30}), ("ask", "zo", {"since": 0}),
    ("ask", "zo", {"until": 1}), ("ask", "zo", {"lease": None, "worker": "w"}),
    ("tell", "fo", {"step": 0, "gradient": [1.0, 2.0, 3.0], "f_x": 1.0}),
    ("tell", "fo", {"step": 0, "gradient": [1.0, 2.0, 3.0], "indices": [0]}),
    ("tell", "fo", {"step": 0, "gradient": [1.0, 2.0, 3.0], "f_plus": [1.0]}),
    ("tell", "zo", {"step": 0, "f_plus": [1.0], "worker": "w"}),
    ("tell", "zo", {"step": 0, "f_plus": [1.0], "wait": 1}),
]
SHAPE_TAKEN = [("ask", "zo", {}), ("ask", "zo", {"lease": 1, "worker": "w", "wait": 0.1, "since": 0}),
               ("tell", "fo", {"step": 0, "gradient": [1.0, 2.0, 3.0]}),
               ("tell", "zo", {"step": 0, "f_x": 1.0, "f_plus": [2.0]})]


@pytest.mark.parametrize("route, method, body, taken", [(*case, False) for case in SHAPE_REFUSED]
                         + [(*case, True) for case in SHAPE_TAKEN])
def test_a_body_the_description_takes_is_one_the_service_takes(route, method, body, taken):
    import jsonschema
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(redis_url=None))) as client:
        spec = client.get("/openapi.json").json()
        described = spec["paths"]["/v1/sessions/{session_id}/" + route]["post"]["requestBody"]["content"]
        schema = {**described["application/json"]["schema"], "components": spec["components"]}
        created = client.post("/v1/sessions", json={"dim": 3, "x0": [0.0] * 3,
                                                    "method": "adamm" if method == "fo" else "zo-adamm"})
        answer = client.post(f"/v1/sessions/{created.json()['id']}/{route}", json=body)
    valid = jsonschema.Draft202012Validator(schema).is_valid(body)
    assert (answer.status_code < 300, valid) == (taken, taken), (answer.status_code, answer.text, valid)


@pytest.mark.parametrize("settings, checked", [
    ({}, True),  # open on loopback: a /v1 call naming a foreign Host is refused (DNS rebinding)
    ({"allow_open": True}, False),
    ({"api_keys": "alice:" + "a" * 64}, False),
])
def test_403_is_listed_where_the_open_mode_checks_the_host(settings, checked):
    paths = create_app(Settings(redis_url=None, **settings)).openapi()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            assert ("403" in op["responses"]) == (checked and path.startswith("/v1/")), (settings, method, path)


def test_the_description_speaks_to_a_user_of_the_api(spec):
    text = spec["info"]["description"]
    assert "ask" in text and "tell" in text and "Idempotency-Key" in text and "(api)" not in text
