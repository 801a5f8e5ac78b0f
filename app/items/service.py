"""The items use cases: validation done, they combine the database, the cache and HTTP caching."""

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database_errors import constraint_name
from app.core.errors import InvalidInput, ProblemError
from app.items import repository
from app.items.cache import TOMBSTONE, ItemCache
from app.items.models import Item
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate

NAME_INDEX = "uq_items_name_lower"
item_json = TypeAdapter(ItemOut)
page_json = TypeAdapter(ItemPage)


class ItemNotFound(ProblemError):
    status = HTTPStatus.NOT_FOUND

    def __init__(self) -> None:
        super().__init__("No item has this id.")


class NameTaken(ProblemError):
    status = HTTPStatus.CONFLICT

    def __init__(self, name: str) -> None:
        super().__init__(f"An item named {name!r} already exists (names ignore case).")


class PreconditionFailed(ProblemError):
    status = HTTPStatus.PRECONDITION_FAILED

    def __init__(self) -> None:
        super().__init__("The item has changed since that ETag; fetch it again.")


@dataclass(frozen=True, slots=True)
class Representation:
    """An item as sent: the exact bytes, and the strong ETag that names them."""

    body: bytes

    @property
    def etag(self) -> str:
        return f'"{hashlib.blake2b(self.body, digest_size=16).hexdigest()}"'


def represent(item: Item) -> Representation:
    return Representation(item_json.dump_json(ItemOut.model_validate(item)))


def parse_id(raw: str) -> uuid.UUID:
    """A malformed id names no item: 404, like an unknown one."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ItemNotFound from None


def encode_cursor(item: Item) -> str:
    position = json.dumps([item.created_at.isoformat(), item.id.hex]).encode()
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, item_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = datetime.fromisoformat(created_at), uuid.UUID(item_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise InvalidInput(
            "The cursor is not valid; use next_cursor from a previous page."
        ) from None
    if position[0].tzinfo is None:
        raise InvalidInput("The cursor is not valid; use next_cursor from a previous page.")
    return position


def raise_if_name_taken(error: IntegrityError, name: str) -> None:
    if constraint_name(error) == NAME_INDEX:
        raise NameTaken(name) from error


def matches(if_match: str | None, current: Representation) -> bool:
    """If-Match (RFC 9110 13.1.1): '*' or any listed strong tag equal to the current one."""
    if if_match is None:
        return True
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current.etag in tags


class ItemService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        cache: ItemCache,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions  # single-statement reads, no transaction
        self.cache = cache

    async def read(self, item_id: uuid.UUID) -> Representation:
        cached = await self.cache.get(item_id)
        if cached == TOMBSTONE:
            raise ItemNotFound
        if cached is not None:
            return Representation(cached)
        async with self.read_sessions() as session:
            item = await repository.get(session, item_id)
            if item is None:
                raise ItemNotFound
            representation = represent(item)
            version = item.version
        await self.cache.store(item_id, version, representation.body)
        return representation

    async def page(self, limit: int, cursor: str | None) -> bytes:
        before = decode_cursor(cursor) if cursor is not None else None
        async with self.read_sessions() as session:
            # One extra row tells whether another page follows, without a COUNT.
            rows = await repository.newest_first(session, limit + 1, before)
            items = rows[:limit]
            next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
            page = ItemPage(
                items=[ItemOut.model_validate(i) for i in items], next_cursor=next_cursor
            )
        return page_json.dump_json(page)

    async def create(self, data: ItemCreate) -> tuple[uuid.UUID, Representation]:
        async with self.sessions() as session:
            try:
                item = await repository.add(session, **data.model_dump())
                await session.commit()
            except IntegrityError as error:
                raise_if_name_taken(error, data.name)
                raise
            representation = represent(item)
        await self.cache.store(item.id, item.version, representation.body, after_write=True)
        return item.id, representation

    async def update(
        self, item_id: uuid.UUID, changes: ItemUpdate, if_match: str | None
    ) -> Representation:
        async with self.sessions() as session:
            item = await self._locked(session, item_id, if_match)
            try:
                await repository.change(session, item, changes.model_dump(exclude_unset=True))
                await session.commit()
            except IntegrityError as error:
                raise_if_name_taken(error, changes.name or "")
                raise
            representation, version = represent(item), item.version
        await self.cache.store(item_id, version, representation.body, after_write=True)
        return representation

    async def delete(self, item_id: uuid.UUID, if_match: str | None) -> None:
        async with self.sessions() as session:
            item = await self._locked(session, item_id, if_match)
            deleted_version = item.version + 1
            await repository.remove(session, item)
            await session.commit()
        await self.cache.bury(item_id, deleted_version)

    @staticmethod
    async def _locked(session: AsyncSession, item_id: uuid.UUID, if_match: str | None) -> Item:
        item = await repository.get(session, item_id, for_update=True)
        if item is None:
            raise ItemNotFound
        if not matches(if_match, represent(item)):
            raise PreconditionFailed
        return item
