"""Building blocks of field types whose OpenAPI schema says exactly what their validator
accepts (schemathesis checks both ways): a trimmed name, free text without NUL, and exact money
as a string. A resource writes its own ``Annotated`` types from them, so mypy sees real types."""

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

# Invisible format characters: zero-width spaces and joiners, bidirectional controls, the
# byte-order mark, the soft hyphen. "Lamp" and "Lamp\u200b" would read as one name, and a
# right-to-left override can make a name read as another.
_FORMAT = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
# Surrounding whitespace (trimmed away), then characters that start and end with a visible
# one; no control or format characters anywhere.
_SPACE = rf"[^\S\x00-\x1f\x7f{_FORMAT}]"
_VISIBLE = rf"[^\s\x00-\x1f\x7f{_FORMAT}]"
_ANY = rf"[^\x00-\x1f\x7f{_FORMAT}]"

# PostgreSQL text cannot hold NUL; everything else is the client's business.
TEXT_PATTERN = r"^[^\x00]*$"


def name_pattern(max_length: int) -> str:
    """1 to ``max_length`` characters once trimmed (``AfterValidator(as_people_read_it)``)."""
    return rf"^{_SPACE}*{_VISIBLE}(?:{_ANY}{{0,{max_length - 2}}}{_VISIBLE})?{_SPACE}*$"


def as_people_read_it(name: str) -> str:
    """NFKC, so that names that read alike are one name (full-width "Lamp" and "Lamp", the "fi"
    ligature and "fi"), then trimmed."""
    return unicodedata.normalize("NFKC", name).strip()


def money_pattern(digits: int, places: int) -> str:
    return rf"^[0-9]{{1,{digits - places}}}(\.[0-9]{{1,{places}}})?$"


def string_schema(pattern: str, example: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, "examples": [example]}


def money_parser(digits: int, places: int, example: str) -> Callable[[object], Decimal]:
    """Exact money from a string only: a JSON number is refused, since most clients would have
    made it a binary float on the way (use as a ``BeforeValidator``)."""
    matcher = re.compile(money_pattern(digits, places))
    whole = digits - places

    def parse(value: object) -> Decimal:
        if not isinstance(value, str) or not matcher.fullmatch(value):
            raise ValueError(
                f'must be a string such as "{example}": up to {whole} digits and {places} decimals'
            )
        return Decimal(value)

    return parse


def money_formatter(places: int) -> Callable[[Decimal], str]:
    """Money answered as a string with exactly ``places`` decimals (a ``PlainSerializer``)."""
    return lambda value: f"{value:.{places}f}"


def reject_null[M: BaseModel](model: M, never_null: tuple[str, ...]) -> M:
    """For a partial update: the fields sent may not be null where the column is not, and an
    empty update changes nothing, so it is refused (use in a ``model_validator(mode="after")``)."""
    for field in never_null:
        if field in model.model_fields_set and getattr(model, field) is None:
            raise ValueError(f"{field} cannot be null")
    if not model.model_fields_set:
        raise ValueError(f"give at least one of {', '.join(type(model).model_fields)}")
    return model
