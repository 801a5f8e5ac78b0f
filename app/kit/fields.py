"""Building blocks of field types whose OpenAPI schema says exactly what their validator
accepts (schemathesis checks both ways): a trimmed name of visible characters with its
look-alike key, free text without NUL, and exact money as a string. A resource writes its own
``Annotated`` types from them, so mypy sees real types."""

import re
import sys
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from homoglyph.data import load_prototypes, load_ucd
from pydantic import BaseModel

# Characters a name may not hold, before or after NFKC: the categories Cc (controls, C1 too),
# Cf (format: zero-width, bidirectional, tag characters), Cs (surrogates), Co (private use),
# Cn (unassigned), Zl and Zp (line and paragraph separators); every Default_Ignorable_Code_Point
# (fillers, variation selectors: drawn as nothing); and the blank Braille pattern, a symbol
# drawn as nothing. "Lamp" and "Lamp" followed by any of them would read as one name.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
BLANK_SYMBOLS = ("\u2800",)


# Default_Ignorable_Code_Point, from the confusables library's Unicode data.
_IGNORABLE = frozenset(
    code_point
    for start, end in load_ucd()["defaultIgnorable"]
    for code_point in range(start, end + 1)
)


def is_refused(character: str) -> bool:
    return (
        unicodedata.category(character) in REFUSED_CATEGORIES
        or character in BLANK_SYMBOLS
        or ord(character) in _IGNORABLE
    )


def _class_bodies() -> tuple[str, str, str]:
    """The refused characters, the allowed whitespace (as str.strip reads it) and the allowed
    visible characters, each as the body of a regular-expression class: BMP characters escaped
    (\\uXXXX), the others as themselves (what both Python's and ECMAScript's unicode-aware
    expressions read)."""
    spans: tuple[list[list[int]], ...] = ([], [], [])
    for code_point in range(sys.maxunicode + 1):
        character = chr(code_point)
        kind = 0 if is_refused(character) else 1 if character.isspace() else 2
        runs = spans[kind]
        if runs and runs[-1][1] == code_point - 1:
            runs[-1][1] = code_point
        else:
            runs.append([code_point, code_point])

    def written(code_point: int) -> str:
        return f"\\u{code_point:04x}" if code_point <= 0xFFFF else chr(code_point)

    def body(runs: list[list[int]]) -> str:
        return "".join(
            written(start) if start == end else f"{written(start)}-{written(end)}"
            for start, end in runs
        )

    refused, space, visible = spans
    return body(refused), body(space), body(visible)


# A name's characters as classes of a few hundred ranges, so the OpenAPI pattern says exactly what
# the validator accepts. The classes name what is allowed, not what is refused: Hypothesis (under
# schemathesis) draws from allowed ranges far faster than from a negated class (ADR 0021). The
# whitespace is spelled out rather than written \s, which each regular-expression engine reads
# its own way.
_REFUSED, _SPACE_BODY, _VISIBLE_BODY = _class_bodies()
_REFUSED_CHARACTER = re.compile(f"[{_REFUSED}]")
_SPACE = f"[{_SPACE_BODY}]"
_VISIBLE = f"[{_VISIBLE_BODY}]"
_ANY = f"[{_VISIBLE_BODY}{_SPACE_BODY}]"

# PostgreSQL text cannot hold NUL; everything else is the client's business.
TEXT_PATTERN = r"^[^\x00]*$"


def name_pattern(max_length: int) -> str:
    """1 to ``max_length`` characters once trimmed, as sent (``readable_name`` checks the
    normalised name again)."""
    return rf"^{_SPACE}*{_VISIBLE}(?:{_ANY}{{0,{max_length - 2}}}{_VISIBLE})?{_SPACE}*$"


def readable_name(max_length: int) -> Callable[[str], str]:
    """NFKC first, so that names that read alike are one name (full-width "Lamp" and "Lamp",
    the "fi" ligature and "fi"), trimmed; then the rules again on what is stored: no refused
    character, and at most ``max_length`` characters (NFKC can expand: one U+FDFA is 18)."""

    def normalised(name: str) -> str:
        name = unicodedata.normalize("NFKC", name).strip()
        if _REFUSED_CHARACTER.search(name):
            raise ValueError("must not hold control, format, unassigned or invisible characters")
        if not name:
            raise ValueError("must hold a visible character")
        if len(name) > max_length:
            raise ValueError(f"must be at most {max_length} characters once normalised (NFKC)")
        return name

    return normalised


_PROTOTYPES = load_prototypes()


def skeleton(text: str) -> str:
    """The confusable skeleton of UTS #39: NFD, default-ignorables dropped, each character
    replaced by its prototype (Unicode's confusables.txt), NFD again. Two strings with one
    skeleton look alike: "Lamp" with a Cyrillic a, and "Lamp"."""
    mapped = (
        _PROTOTYPES.get(ord(character), character)
        for character in unicodedata.normalize("NFD", text)
        if ord(character) not in _IGNORABLE
    )
    return unicodedata.normalize("NFD", "".join(mapped))


def look_alike_key(name: str) -> str:
    """One key for names that read alike, whatever their case: the skeleton, case-folded, and
    its skeleton again ("Iamp", "lamp" and "LAMP" share one). A unique index on it makes a
    look-alike of an existing name a conflict."""
    return skeleton(skeleton(name).casefold())


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
