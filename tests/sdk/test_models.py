"""The SDK's answer types carry exactly the fields the service's OpenAPI description declares,
so a field added on one side cannot go missing on the other."""

from __future__ import annotations

import dataclasses

import pytest

from zoadamm.sdk import models
from zoadamm_service.main import create_app
from zoadamm_service.settings import Settings

PAIRS = [
    (models.Session, "SessionPublic"),
    (models.SessionSummary, "SessionSummary"),
    (models.StepInfo, "AskAnswer"),
    (models.ClosedStep, "StepRecordPublic"),
    (models.TellResult, "TellAnswer"),
    (models.Parameters, "Parameters"),
    (models.Trace, "TraceAnswer"),
]


@pytest.fixture(scope="module")
def schemas() -> dict:
    return create_app(Settings(redis_url=None)).openapi()["components"]["schemas"]


# Where the SDK keeps what travels beside an answer's fields rather than among them: a session's
# config vectors (frame vectors, or top-level JSON lists named "constraint.box.lower", ...).
BESIDE_THE_FIELDS = {models.Session: {"vectors"}}


@pytest.mark.parametrize(("model", "schema"), PAIRS, ids=[name for _, name in PAIRS])
def test_sdk_model_has_the_fields_of_the_schema(model, schema, schemas):
    held = {f.name for f in dataclasses.fields(model)} - BESIDE_THE_FIELDS.get(model, set())
    assert held == set(schemas[schema]["properties"])
