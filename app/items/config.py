"""The items resource's own settings (environment, or a file in /run/secrets)."""

from pydantic import PositiveInt

from app.core.config import SettingsBase


class ItemSettings(SettingsBase):
    # How long a read item stays in Redis (CACHE_ENABLED switches every resource's cache).
    item_cache_ttl_seconds: PositiveInt = 60
