"""The items service: the kit's versioned service, configured for items, built once per process
from the lifespan's resources and reached through ``ItemServiceDep``."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.resources import Resources, resources_in
from app.items.config import ItemSettings
from app.items.exceptions import ItemNameTaken, ItemNotFound
from app.items.models import NAME_INDEX, Item
from app.items.schemas import ItemOut, ItemPage
from app.kit.cache import VersionedCache
from app.kit.service import VersionedService

ItemService = VersionedService[Item, ItemOut]
CACHE_NAMESPACE = "items"


def build_item_service(resources: Resources) -> ItemService:
    settings = resources.settings
    cache = VersionedCache(
        resources.redis,
        resources.redis_guard,
        namespace=CACHE_NAMESPACE,
        ttl_seconds=ItemSettings.load().item_cache_ttl_seconds,
        enabled=settings.cache_enabled,
    )
    return VersionedService(
        resources,
        model=Item,
        schema=ItemOut,
        page=ItemPage,
        cache=cache,
        not_found=ItemNotFound,
        conflicts={NAME_INDEX: ItemNameTaken},
    )


async def get_item_service(request: Request) -> ItemService:
    # From the request, not from a ResourcesDep: one dependency level less on every call
    # (bench/README.md, "item service built without a dependency level").
    return resources_in(request.scope).built(build_item_service)


ItemServiceDep = Annotated[ItemService, Depends(get_item_service)]
