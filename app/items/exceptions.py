"""The problems only items answer with."""

from typing import Any

from app.kit.errors import Conflict, NotFound


class ItemNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No item has this id.")


class ItemNameTaken(Conflict):
    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(f"The name {values.get('name')!r} is taken (names ignore case).")
