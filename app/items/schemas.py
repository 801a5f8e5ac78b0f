"""The items API's request and response bodies."""

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.items.models import DESCRIPTION_MAX, NAME_MAX, PRICE_DIGITS, PRICE_PLACES

# One pattern says what a valid name is, for the validator and the OpenAPI schema alike:
# surrounding whitespace (trimmed away), then 1 to 200 characters that start and end with a
# visible character; no control characters anywhere.
_SPACE = r"[^\S\x00-\x1f\x7f]"
_VISIBLE = r"[^\s\x00-\x1f\x7f]"
_ANY = r"[^\x00-\x1f\x7f]"
NAME_PATTERN = rf"^{_SPACE}*{_VISIBLE}(?:{_ANY}{{0,{NAME_MAX - 2}}}{_VISIBLE})?{_SPACE}*$"
# PostgreSQL text cannot hold NUL; everything else is the client's business.
DESCRIPTION_PATTERN = r"^[^\x00]*$"
# Money is exact: a string of up to 10 digits and 2 decimals. A JSON number is refused, since
# most clients would have made it a binary float on the way.
PRICE_PATTERN = rf"^[0-9]{{1,{PRICE_DIGITS - PRICE_PLACES}}}(\.[0-9]{{1,{PRICE_PLACES}}})?$"
_PRICE = re.compile(PRICE_PATTERN)

NAME_SCHEMA = {"type": "string", "pattern": NAME_PATTERN, "examples": ["Desk lamp"]}
PRICE_SCHEMA = {"type": "string", "pattern": PRICE_PATTERN, "examples": ["12.50"]}


def parse_price(value: object) -> Decimal:
    if not isinstance(value, str) or not _PRICE.fullmatch(value):
        raise ValueError('must be a string such as "12.50": up to 10 digits and 2 decimals')
    return Decimal(value)


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN), AfterValidator(str.strip)]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX, pattern=DESCRIPTION_PATTERN)
]
Price = Annotated[Decimal, BeforeValidator(parse_price), WithJsonSchema(PRICE_SCHEMA)]
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

    # The schema says what the validator below enforces: name and price are never null, and
    # an empty object changes nothing, so it is refused.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: Annotated[Name | None, WithJsonSchema(NAME_SCHEMA)] = None
    description: Description | None = None
    price: Annotated[Price | None, WithJsonSchema(PRICE_SCHEMA)] = None

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
