"""The items API's request and response bodies."""

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from app.items.models import DESCRIPTION_MAX, NAME_MAX, PRICE_DIGITS, PRICE_PLACES

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


def no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(no_control_characters),
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX), AfterValidator(no_nul)]
# Accepted as a JSON string ("12.50") or number; always answered as a string with two places.
Price = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=PRICE_DIGITS,
        decimal_places=PRICE_PLACES,
        allow_inf_nan=False,
        examples=["12.50"],
    ),
]
PriceOut = Annotated[
    Decimal,
    PlainSerializer(lambda value: f"{value:.{PRICE_PLACES}f}", return_type=str),
]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    price: Price


class ItemUpdate(BaseModel):
    """A partial update: only the fields present change; description may be set to null."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None

    @model_validator(mode="after")
    def required_fields_are_not_null(self) -> "ItemUpdate":
        for field in ("name", "price"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, price")
        return self


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    price: PriceOut
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )
