"""HTTP a resource speaks: strong ETags, If-None-Match (weak comparison), If-Match, and JSON
request bodies."""

import pytest

from app.kit.http import (
    JSON,
    PreconditionFailed,
    UnsupportedMediaType,
    caching_headers,
    etag,
    not_modified,
    representation,
    require_json,
    require_match,
)

BODY = b'{"a": 1}'
CURRENT = etag(BODY)
OTHER = etag(b'{"a": 2}')


def test_the_etag_is_strong_and_names_the_bytes() -> None:
    assert CURRENT.startswith('"')
    assert CURRENT.endswith('"')
    assert CURRENT == etag(b'{"a": 1}') != OTHER
    assert etag(b'{"a":1}') != CURRENT  # other bytes, even of the same JSON value


@pytest.mark.parametrize(
    ("if_none_match", "expected"),
    [
        (None, False),
        (CURRENT, True),
        (f"W/{CURRENT}", True),
        (f"{OTHER}, {CURRENT}", True),
        (f"{OTHER},{CURRENT}", True),
        ("*", True),
        (OTHER, False),
        ("", False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(if_none_match: str | None, expected: bool) -> None:
    assert not_modified(if_none_match, CURRENT) is expected


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (None, 200),
        (CURRENT, 304),
        (f"W/{CURRENT}", 304),
        (f"{OTHER}, {CURRENT}", 304),
        ("*", 304),
        (OTHER, 200),
    ],
)
def test_a_representation_is_304_for_a_current_copy(if_none_match: str | None, status: int) -> None:
    response = representation(BODY, if_none_match)

    assert response.status_code == status
    assert response.headers["etag"] == CURRENT
    assert response.headers["cache-control"] == "no-cache"
    assert response.body == (BODY if status == 200 else b"")
    if status == 200:
        assert response.headers["content-type"] == JSON


def test_a_representation_sends_the_exact_bytes_its_etag_names() -> None:
    response = representation(BODY)

    assert response.body == BODY
    assert response.headers["etag"] == etag(bytes(response.body))


def test_caching_headers_make_clients_revalidate() -> None:
    assert caching_headers(CURRENT) == {"ETag": CURRENT, "Cache-Control": "no-cache"}


@pytest.mark.parametrize("if_match", [None, "*", CURRENT, f"{OTHER}, {CURRENT}", f" {CURRENT} "])
def test_if_match_passes_for_the_current_tag(if_match: str | None) -> None:
    require_match(if_match, CURRENT)  # raises nothing


@pytest.mark.parametrize("if_match", [OTHER, f"W/{CURRENT}", "", f"{OTHER}, W/{CURRENT}"])
def test_if_match_refuses_anything_else(if_match: str) -> None:
    with pytest.raises(PreconditionFailed) as refused:
        require_match(if_match, CURRENT)

    assert refused.value.status == 412


@pytest.mark.parametrize(
    "content_type",
    [JSON, "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"],
)
async def test_json_bodies_are_accepted(content_type: str) -> None:
    await require_json(content_type)  # raises nothing


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/xml", "text/json", "application/jsonx", "+json"],
)
async def test_anything_else_is_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        await require_json(content_type)

    assert refused.value.status == 415
