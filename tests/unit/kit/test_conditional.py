"""Conditional requests: strong ETags, If-None-Match (weak comparison) and If-Match."""

import pytest

from app.kit.conditional import (
    Conditions,
    PreconditionFailed,
    Representation,
    representation_response,
)

CURRENT = Representation(b'{"a": 1}')
OTHER = Representation(b'{"a": 2}').etag


def test_the_etag_is_strong_and_names_the_bytes() -> None:
    assert CURRENT.etag.startswith('"')
    assert CURRENT.etag == Representation(b'{"a": 1}').etag != OTHER


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (None, 200),
        (CURRENT.etag, 304),
        (f"W/{CURRENT.etag}", 304),
        (f"{OTHER}, {CURRENT.etag}", 304),
        ("*", 304),
        (OTHER, 200),
    ],
)
def test_if_none_match_answers_304_for_a_current_copy(
    if_none_match: str | None, status: int
) -> None:
    response = representation_response(CURRENT, Conditions(if_none_match=if_none_match))

    assert response.status_code == status
    assert response.headers["etag"] == CURRENT.etag
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("if_match", [None, "*", CURRENT.etag, f"{OTHER}, {CURRENT.etag}"])
def test_if_match_passes_for_the_current_tag(if_match: str | None) -> None:
    Conditions(if_match=if_match).require_match(CURRENT)


@pytest.mark.parametrize("if_match", [OTHER, f"W/{CURRENT.etag}", ""])
def test_if_match_refuses_anything_else(if_match: str) -> None:
    with pytest.raises(PreconditionFailed):
        Conditions(if_match=if_match).require_match(CURRENT)
