"""Request bodies validated with exactly the rules of the wire models of ``_deliver.models``,
but into plain dicts: a TypedDict per model (its fields, required ones, extra and strictness,
nested models likewise), as ``_deliver.models.body_validator`` does for the flusher.

A batch route then skips building 500 model instances and dumping them again
(``model_dump(exclude_unset=True)``): what the client set is what the dict holds. That halves
the validation cost of an event; the error locations, hence the 400 messages, are the same.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from typing_extensions import NotRequired, Required, TypedDict

from honeytrace.local.collector._http import ApiError, describe

__all__ = ["TypedBody", "parse_typed"]


class TypedBody:
    """A dict validator for ``model`` (see the module doc)."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(_typed(model))


def _typed(model: type[BaseModel]) -> Any:
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation = _replace_models(field.annotation)
        fields[name] = Required[annotation] if field.is_required() else NotRequired[annotation]
    body = TypedDict(f"{model.__name__}Body", fields)  # type: ignore[misc]
    config = ConfigDict(
        extra=model.model_config.get("extra"), strict=bool(model.model_config.get("strict"))
    )
    setattr(body, "__pydantic_config__", config)  # noqa: B010 -- how pydantic reads it
    return body


def _replace_models(annotation: Any) -> Any:
    """``annotation`` with every pydantic model in it (``Model``, ``list[Model]``,
    ``Model | None``) replaced by its TypedDict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _typed(annotation)
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is list and arguments:
        return list[_replace_models(arguments[0])]  # type: ignore[misc]
    if origin in (Union, types.UnionType) and arguments:
        replaced = tuple(_replace_models(argument) for argument in arguments)
        return Union[replaced]  # noqa: UP007 -- built from a tuple at run time
    return annotation


def parse_typed(body: TypedBody, raw: bytes) -> dict[str, Any]:
    """``raw`` validated in JSON mode, as a dict; :class:`ApiError` 400 on malformed JSON or a
    body that does not fit (the messages of ``parse_body``)."""
    try:
        found: dict[str, Any] = body.adapter.validate_json(raw or b"")
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            detail = exc.errors()[0]["msg"]
            raise ApiError(400, f"malformed JSON body: {detail}", "INVALID_JSON") from None
        raise ApiError(400, describe(exc), "VALIDATION_ERROR") from None
    return found
