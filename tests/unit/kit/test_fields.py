"""The kit's field building blocks, on their own (a resource's own tests cover them in use)."""

import re
import sys
from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)

from app.kit.fields import (
    TEXT_PATTERN,
    is_refused,
    look_alike_key,
    money_formatter,
    money_parser,
    name_pattern,
    readable_name,
    reject_null,
)
from app.kit.problems import documented_errors

Name = Annotated[
    str, StringConstraints(pattern=name_pattern(10)), AfterValidator(readable_name(10))
]
Money = Annotated[Decimal, BeforeValidator(money_parser(6, 2, "1.50"))]
Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]


class Thing(BaseModel):
    name: Name | None = None
    price: Money | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def sent_fields_are_not_null(self) -> "Thing":
        return reject_null(self, never_null=("name",))


@pytest.mark.parametrize(
    ("raw", "kept"),
    [("  Lamp ", "Lamp"), ("\uff2c\uff41\uff4d\uff50", "Lamp"), ("x" * 10, "x" * 10)],
)
def test_a_name_is_trimmed_and_read_as_people_read_it(raw: str, kept: str) -> None:
    assert Thing(name=raw).name == kept


@pytest.mark.parametrize("raw", ["", "   ", "x" * 11, "tab\there", "La\u200bmp", "\u202eLamp"])
def test_a_name_refuses_emptiness_length_controls_and_invisible_characters(raw: str) -> None:
    with pytest.raises(ValidationError):
        Thing(name=raw)


# What an attacker's review found accepted, each a name that reads as another or as nothing.
LOOK_ALIKE_INPUT = [
    "\x9b31mRed",  # a C1 control
    "Lamp\u3164",  # Hangul filler
    "\uffa0Lamp",  # half-width Hangul filler
    "La\u034fmp",  # combining grapheme joiner
    "Lamp\ufe0f",  # variation selector
    "La\u180bmp",  # Mongolian free variation selector
    "\u2800",  # blank Braille pattern
    "La\u2028mp",  # line separator
    "Lamp\u2029",  # paragraph separator
    "Lamp\U000e0041",  # tag character
    "La\ufff9mp",  # interlinear annotation anchor
    "\u0600Lamp",  # Arabic number sign (format)
    "La\ue000mp",  # private use
    "La\U0010ffffmp",  # unassigned (noncharacter)
]


@pytest.mark.parametrize("raw", LOOK_ALIKE_INPUT)
def test_a_name_refuses_every_refused_category_and_ignorable_character(raw: str) -> None:
    with pytest.raises(ValidationError):
        Thing(name=raw)


def test_the_name_pattern_admits_exactly_the_characters_the_validator_accepts() -> None:
    # Every code point but the surrogates (a JSON string cannot carry one alone): inside a name,
    # allowed unless refused; alone, allowed unless refused or whitespace (trimmed away).
    pattern = re.compile(name_pattern(10))
    for code_point in range(sys.maxunicode + 1):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        character = chr(code_point)
        allowed = not is_refused(character)
        assert bool(pattern.fullmatch(f"a{character}a")) == allowed, hex(code_point)
        assert bool(pattern.fullmatch(character)) == (allowed and not character.isspace())
    assert Thing(name="\u3000Lamp\u00a0post\u2002").name == "Lamp post"


def test_the_length_limit_applies_after_normalisation() -> None:
    # One U+FDFA is 18 characters once NFKC: within the pattern, over the limit once read.
    with pytest.raises(ValidationError, match="once normalised"):
        Thing(name="\ufdfa")
    assert Thing(name="\ufb01" * 5).name == "fi" * 5  # 5 as sent, 10 as stored: the limit


def test_names_that_look_alike_share_one_key() -> None:
    lamp = look_alike_key("Lamp")
    assert look_alike_key("L\u0430mp") == lamp  # Cyrillic a
    assert look_alike_key("LAMP") == lamp
    assert look_alike_key("Iamp") == lamp  # capital I, read as l
    assert look_alike_key("Desk lamp") != lamp


def test_money_is_exact_and_only_a_string() -> None:
    assert Thing(price="12.5").price == Decimal("12.5")
    assert money_formatter(2)(Decimal("12.5")) == "12.50"
    for wrong in (12.5, "12.555", "1234567", "-1", "1e3"):
        with pytest.raises(ValidationError, match="must be a string such as"):
            Thing(price=wrong)


def test_text_refuses_nul_only() -> None:
    assert Thing(note="tab\tand\nlines").note == "tab\tand\nlines"
    with pytest.raises(ValidationError):
        Thing(note="a\x00b")


def test_a_partial_update_refuses_null_where_the_column_is_not_and_an_empty_one() -> None:
    with pytest.raises(ValidationError, match="name cannot be null"):
        Thing(name=None)
    with pytest.raises(ValidationError, match="give at least one of name, price, note"):
        Thing()


def test_each_operation_documents_its_problems_and_reads_document_304() -> None:
    assert set(documented_errors("read")) == {304, 404, 429, 503}
    assert 412 in documented_errors("update")
    assert 409 in documented_errors("create")
