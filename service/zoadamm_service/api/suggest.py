"""The field an unknown one in a request body was likely meant to be (``fx`` -> ``f_x``,
``schedule.factr`` -> ``factor``), for the 422 that refuses it: a client in any language reads
the hint in ``detail``, as the SDK's users read theirs (``zoadamm.sdk.reasons``)."""

from __future__ import annotations

import difflib
import typing

from pydantic import BaseModel


def hinted(model: type[BaseModel], errors: list[dict]) -> list[dict]:
    """``errors`` (``loc``, ``msg``, ``type``), each unknown field's message ending in the field
    of ``model`` (or of the model nested where it sits) that it is close to, if one is."""
    for error in errors:
        if error["type"] == "extra_forbidden" and (meant := _meant(model, error["loc"])):
            error["msg"] = f"{error['msg']} (did you mean {meant}?)"
    return errors


def _meant(model: type[BaseModel], loc: list) -> str | None:
    place: type[BaseModel] | None = model
    for part in loc[:-1]:
        place = _nested(place, part) if place is not None else None
    if place is None or not loc:
        return None
    names = [field.alias or name for name, field in place.model_fields.items()]
    found = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return found[0] if found else None


def _nested(model: type[BaseModel], part) -> type[BaseModel] | None:
    """The model that field ``part`` of ``model`` holds (through Optional, unions, Annotated)."""
    for name, field in model.model_fields.items():
        if part in (name, field.alias):
            return _model_in(field.annotation)
    return None


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        if (found := _model_in(argument)) is not None:
            return found
    return None
