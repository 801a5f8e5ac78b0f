"""The items API's request and response bodies."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.items.models import DESCRIPTION_MAX, NAME_MAX, PRICE_DIGITS, PRICE_PLACES
from app.kit.fields import (
    TEXT_PATTERN,
    money_formatter,
    money_parser,
    money_pattern,
    name_pattern,
    readable_name,
    reject_null,
    string_schema,
)
from app.kit.pagination import Page

NAME_SCHEMA = string_schema(name_pattern(NAME_MAX), "Desk lamp")
PRICE_SCHEMA = string_schema(money_pattern(PRICE_DIGITS, PRICE_PLACES), "12.50")

Name = Annotated[
    str, StringConstraints(pattern=name_pattern(NAME_MAX)), AfterValidator(readable_name(NAME_MAX))
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX, pattern=TEXT_PATTERN)]
Price = Annotated[
    Decimal,
    BeforeValidator(money_parser(PRICE_DIGITS, PRICE_PLACES, "12.50")),
    WithJsonSchema(PRICE_SCHEMA),
]
PriceOut = Annotated[Decimal, PlainSerializer(money_formatter(PRICE_PLACES), return_type=str)]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    price: Price


class ItemUpdate(BaseModel):
    """A partial update: only the fields present change; description may be set to null."""

    # The schema says what the validator below enforces: name and price are never null, and
    # an empty object changes nothing, so it is refused.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: Annotated[Name | None, WithJsonSchema(NAME_SCHEMA)] = None
    description: Description | None = None
    price: Annotated[Price | None, WithJsonSchema(PRICE_SCHEMA)] = None

    @model_validator(mode="after")
    def sent_fields_are_not_null(self) -> "ItemUpdate":
        return reject_null(self, never_null=("name", "price"))


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    price: PriceOut
    created_at: datetime
    updated_at: datetime


class ItemPage(Page[ItemOut]):
    """A page of items, newest first."""
